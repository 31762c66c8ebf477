//! Secret names: which header and field names carry secrets.
//!
//! Names are compared normalised: ASCII-lower-cased with `_`, `-`, `.` and spaces removed,
//! so `api_key`, `apiKey`, `API-KEY` and `api.key` are one name (`apikey`). A pattern is a
//! normalised name with an optional `*` at its start and/or end: `pin` (exactly),
//! `session*` (starts with), `*token` (ends with), `*secret*` (contains). Owns the default
//! lists; never looks at values.

use std::collections::HashMap;
use std::sync::Mutex;

/// Field-name patterns that are secret by default (bodies, forms, query strings).
///
/// `*token` only matches names that *end* in token (`access_token`, `csrfToken`): the
/// descriptive `token_type` (the demo catalogue's `Bearer`/`bearer` divergence lives there)
/// and `tokens` (a usage count) stay visible. `code` is the OAuth authorization code and
/// only matches a field named exactly `code` (not `status_code`).
pub const DEFAULT_FIELDS: &[&str] = &[
    "*password*",
    "*passwd*",
    "*passphrase*",
    "*passcode*",
    "pwd",
    "*secret*",
    "*token",
    "*apikey*",
    "*accesskey",
    "*privatekey*",
    "*signingkey*",
    "*encryptionkey*",
    "*credential*",
    "auth",
    "authorization",
    "*authcode",
    "authorizationcode",
    "code",
    "*pin",
    "pincode",
    "*otp",
    "*otpcode",
    "session*",
    "*sessionid",
    "*sessionkey",
    "cookie*",
    "setcookie",
    "*signature*",
    "*jwt",
    "csrf",
    "xsrf",
    "cvv",
    "cvc",
];

/// Header-name patterns that are secret by default. `authorization` and
/// `proxy-authorization` keep their scheme, `cookie` its cookie names, `set-cookie` its
/// name and attributes; every other secret header loses its whole value.
pub const DEFAULT_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-amz-security-token",
    "*authorization*",
    "*token*",
    "*secret*",
    "*api-key*",
    "*session*",
    "*password*",
    "*passwd*",
    "*credential*",
    "*signature*",
    "*private-key*",
    "*cookie*",
    "*csrf*",
    "*xsrf*",
];

/// Header names kept visible although a default pattern matches them: rate-limit
/// headers count tokens (`x-ratelimit-remaining-tokens: 149000`), they carry none.
pub const DEFAULT_KEEP_HEADERS: &[&str] = &["*ratelimit*"];

/// A name pattern (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    core: String,
    prefix: bool,
    suffix: bool,
}

impl Pattern {
    /// Parse `name`, `name*`, `*name` or `*name*`; names are normalised.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim();
        let any_before = t.starts_with('*');
        let any_after = t.len() > 1 && t.ends_with('*');
        let core = normalise(t.trim_matches('*'));
        if core.is_empty() {
            return Err(format!("{text:?} names nothing (letters or digits needed)"));
        }
        if core.contains('*') {
            return Err(format!(
                "{text:?}: `*` is only allowed at the start or the end of a name"
            ));
        }
        Ok(Pattern {
            core,
            // `*x` = anything before x = x is a suffix of the name.
            prefix: any_after,
            suffix: any_before,
        })
    }

    /// A fragment (the legacy `[recording] redact_fields` meaning: contained anywhere),
    /// unless it already says where with a `*`.
    pub fn fragment(text: &str) -> Result<Pattern, String> {
        if text.contains('*') {
            Pattern::parse(text)
        } else {
            Pattern::parse(&format!("*{}*", text.trim()))
        }
    }

    /// Does this pattern match an already normalised name?
    pub fn matches(&self, name: &str) -> bool {
        match (self.suffix, self.prefix) {
            (false, false) => name == self.core,
            (false, true) => name.starts_with(&self.core),
            (true, false) => name.ends_with(&self.core),
            (true, true) => name.contains(&self.core),
        }
    }
}

/// Lower-case, without `_`, `-`, `.` and spaces.
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Secret patterns minus kept ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameSet {
    secret: Vec<Pattern>,
    keep: Vec<Pattern>,
    memo: Memo,
}

/// Names longer than this are checked every time, never remembered.
const MEMO_NAME_BYTES: usize = 64;
/// Distinct names remembered per set; past it, new names are checked every time.
const MEMO_ENTRIES: usize = 4096;

/// Verdicts for names already checked. Header and field names repeat on every exchange,
/// and a check (normalise, then every pattern as a substring search) cost a third of the
/// analysis thread's time with 100 % mirroring; a lookup costs almost nothing. Bounded by
/// [`MEMO_ENTRIES`] whatever clients send. A clone starts empty; equality ignores it.
#[derive(Debug, Default)]
struct Memo(Mutex<HashMap<Box<str>, bool>>);

impl Memo {
    fn get(&self, name: &str) -> Option<bool> {
        self.0.lock().ok()?.get(name).copied()
    }

    fn put(&self, name: &str, secret: bool) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() < MEMO_ENTRIES {
                m.insert(name.into(), secret);
            }
        }
    }

    fn clear(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

impl Clone for Memo {
    fn clone(&self) -> Memo {
        Memo::default()
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl Eq for Memo {}

impl NameSet {
    pub fn from_defaults(defaults: &[&str], keep: &[&str]) -> NameSet {
        let parse = |list: &[&str]| list.iter().filter_map(|p| Pattern::parse(p).ok()).collect();
        NameSet {
            secret: parse(defaults),
            keep: parse(keep),
            memo: Memo::default(),
        }
    }

    pub fn add(&mut self, p: Pattern) {
        if !self.secret.contains(&p) {
            self.secret.push(p);
            self.memo.clear();
        }
    }

    pub fn keep(&mut self, p: Pattern) {
        if !self.keep.contains(&p) {
            self.keep.push(p);
            self.memo.clear();
        }
    }

    pub fn is_secret(&self, name: &str) -> bool {
        let memo = name.len() <= MEMO_NAME_BYTES;
        if memo {
            if let Some(secret) = self.memo.get(name) {
                return secret;
            }
        }
        let n = normalise(name);
        let secret = !n.is_empty()
            && self.secret.iter().any(|p| p.matches(&n))
            && !self.keep.iter().any(|p| p.matches(&n));
        if memo {
            self.memo.put(name, secret);
        }
        secret
    }
}

#[cfg(test)]
mod memo_tests {
    use super::*;

    #[test]
    fn remembered_verdicts_match_the_check_and_follow_changes() {
        let mut set = NameSet::from_defaults(DEFAULT_FIELDS, &[]);
        for _ in 0..2 {
            assert!(set.is_secret("api_key"));
            assert!(!set.is_secret("token_type"));
            assert!(!set.is_secret("tenant"));
        }
        // Adding or keeping a pattern forgets what was remembered.
        set.add(Pattern::parse("tenant").expect("pattern"));
        assert!(set.is_secret("tenant"));
        set.keep(Pattern::parse("apikey").expect("pattern"));
        assert!(!set.is_secret("api_key"));
        // The memo is bounded: a flood of distinct names is still answered correctly.
        for i in 0..(MEMO_ENTRIES + 100) {
            assert!(!set.is_secret(&format!("field{i}")));
        }
        assert!(set.is_secret("password"));
        assert!(set.memo.0.lock().expect("memo").len() <= MEMO_ENTRIES);
    }
}
