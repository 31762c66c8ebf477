//! `[translate]`: learned per-target credentials and ids (issue 12).
//!
//! When the candidate (or the secondary) has its own users, tokens and ids, cutover learns
//! from mirrored login and create answers which of the target's credentials and ids stand
//! for the primary's, and rewrites later shadow copies with them. This module owns the
//! table's shape, its defaults and its range checks; it never looks at a request.
//!
//! `enabled`:
//! - `"auto"` (default): learning runs; a copy is rewritten when its credential or ids have
//!   a learned counterpart. A credential without one is sent unchanged *until* a target has
//!   been seen issuing its own credential for a login the primary answered differently;
//!   from then on such copies to that target are not sent and are counted `untranslated`
//!   (the target cannot know the primary's credential). With shared credentials (same
//!   tokens, or no login mirrored) nothing changes from a run without translation.
//! - `true`: a copy presenting a credential without a learned counterpart is never sent.
//! - `false`: nothing is learned, nothing rewritten, no state kept (costs nothing).

use serde::Deserialize;
use toml::Spanned;

use super::spans::value_span;

/// Largest `max_identities`.
pub const MAX_TRANSLATED_IDENTITIES: usize = 10_000_000;
/// Largest `max_ids` (per target).
pub const MAX_TRANSLATED_IDS: usize = 10_000_000;
/// Largest `max_pending`.
pub const MAX_PENDING: usize = 1_000_000;
/// Longest `ttl_s` (30 days).
pub const MAX_TTL_S: u64 = 30 * 24 * 3600;

/// `[translate] enabled`: `"auto"`, `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TranslateMode {
    #[default]
    Auto,
    On,
    Off,
}

impl<'de> Deserialize<'de> for TranslateMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(TranslateMode::On),
            Raw::Bool(false) => Ok(TranslateMode::Off),
            Raw::Text(t) if t == "auto" => Ok(TranslateMode::Auto),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "enabled must be true, false or \"auto\", got {t:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateConfig {
    #[serde(default)]
    pub enabled: TranslateMode,
    /// Identities whose learned credentials are held; the least recently learned is
    /// forgotten first (its later copies become `untranslated`).
    #[serde(default = "default_max_identities")]
    pub max_identities: usize,
    /// A learned target credential is used for this many seconds after it was learned.
    #[serde(default = "default_ttl")]
    pub ttl_s: u64,
    /// Learned id pairs per target; past it new pairs are refused and counted.
    #[serde(default = "default_max_ids")]
    pub max_ids: usize,
    /// Learned credentials and ids announced by the primary but not yet learned from the
    /// target, and earlier writes whose primary answer is not in yet, that later copies
    /// wait for (in their shadow task, within `[proxy] shadow_timeout_ms`).
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Where a login request names who logs in (JSON Pointer), instead of the first of
    /// `username`, `email`, `login`, `user`, `name`.
    #[serde(default)]
    pub identity_pointer: Option<Spanned<String>>,
    /// Per-route overrides, first match wins.
    #[serde(default)]
    pub routes: Vec<TranslateRoute>,
}

/// `[[translate.routes]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateRoute {
    /// Path glob, as in `[[routes]]`.
    #[serde(rename = "match")]
    pub pattern: Spanned<String>,
    /// Where a create answer carries the new id (JSON Pointer), instead of `id` / `Location`.
    #[serde(default)]
    pub id_pointer: Option<Spanned<String>>,
    /// Where this route's login request names who logs in (JSON Pointer).
    #[serde(default)]
    pub identity_pointer: Option<Spanned<String>>,
    /// `false`: never learn a credential from this route's answers (e.g. an endpoint that
    /// returns someone else's token). Default: learn wherever an answer issues one.
    #[serde(default = "yes")]
    pub login: bool,
    /// `false`: never learn ids from this route's create answers.
    #[serde(default = "yes")]
    pub create: bool,
    /// The path segment the ids this route creates appear after (`POST /auth/register`
    /// creates ids read at `/auth/users/{id}`: `collection = "users"`). Default: the
    /// segment before the id in the answer's `Location`, else the route's last segment.
    #[serde(default)]
    pub collection: Option<Spanned<String>>,
}

impl Default for TranslateConfig {
    fn default() -> Self {
        TranslateConfig {
            enabled: TranslateMode::Auto,
            max_identities: default_max_identities(),
            ttl_s: default_ttl(),
            max_ids: default_max_ids(),
            max_pending: default_max_pending(),
            identity_pointer: None,
            routes: Vec::new(),
        }
    }
}

/// What applies to one request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTranslation<'a> {
    pub id_pointer: Option<&'a str>,
    pub identity_pointer: Option<&'a str>,
    pub login: bool,
    pub create: bool,
    pub collection: Option<&'a str>,
}

impl TranslateConfig {
    pub fn enabled(&self) -> bool {
        self.enabled != TranslateMode::Off
    }

    /// The overrides for `path` (the first matching `[[translate.routes]]`).
    pub fn for_path(&self, path: &str) -> RouteTranslation<'_> {
        let global = self.identity_pointer.as_ref().map(|p| p.get_ref().as_str());
        let found = self.routes.iter().find(|r| {
            globset::GlobBuilder::new(r.pattern.get_ref())
                .literal_separator(true)
                .build()
                .is_ok_and(|g| g.compile_matcher().is_match(path))
        });
        match found {
            Some(r) => RouteTranslation {
                id_pointer: r.id_pointer.as_ref().map(|p| p.get_ref().as_str()),
                identity_pointer: r
                    .identity_pointer
                    .as_ref()
                    .map(|p| p.get_ref().as_str())
                    .or(global),
                login: r.login,
                create: r.create,
                collection: r.collection.as_ref().map(|c| c.get_ref().as_str()),
            },
            None => RouteTranslation {
                id_pointer: None,
                identity_pointer: global,
                login: true,
                create: true,
                collection: None,
            },
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_identities() -> usize {
    100_000
}
fn default_ttl() -> u64 {
    3600
}
fn default_max_ids() -> usize {
    100_000
}
fn default_max_pending() -> usize {
    10_000
}

type Problem = (std::ops::Range<usize>, String, String);

/// Range and shape checks of `[translate]`.
pub(super) fn check(c: &TranslateConfig, text: &str) -> Result<(), Problem> {
    let problem = |key: &str, message: String| -> Problem {
        (
            value_span(text, key).unwrap_or(0..0),
            key.to_string(),
            message,
        )
    };
    for (key, v, max) in [
        (
            "translate.max_identities",
            c.max_identities,
            MAX_TRANSLATED_IDENTITIES,
        ),
        ("translate.max_ids", c.max_ids, MAX_TRANSLATED_IDS),
        ("translate.max_pending", c.max_pending, MAX_PENDING),
    ] {
        if !(1..=max).contains(&v) {
            let name = key.rsplit('.').next().unwrap_or(key);
            return Err(problem(
                key,
                format!("{name} must be from 1 to {max}, got {v}"),
            ));
        }
    }
    if !(1..=MAX_TTL_S).contains(&c.ttl_s) {
        return Err(problem(
            "translate.ttl_s",
            format!(
                "ttl_s must be from 1 to {MAX_TTL_S} seconds, got {}",
                c.ttl_s
            ),
        ));
    }
    let pointer = |p: &Spanned<String>, key: String| -> Result<(), Problem> {
        let v = p.get_ref();
        if !v.starts_with('/') || v.len() > 256 {
            return Err((
                p.span(),
                key,
                format!("a JSON Pointer starts with `/` and is at most 256 bytes, got {v:?}"),
            ));
        }
        Ok(())
    };
    if let Some(p) = &c.identity_pointer {
        pointer(p, "translate.identity_pointer".into())?;
    }
    for (i, r) in c.routes.iter().enumerate() {
        let pat = r.pattern.get_ref();
        if !pat.starts_with('/') {
            return Err((
                r.pattern.span(),
                format!("translate.routes[{i}].match"),
                format!("a route pattern starts with `/`, got {pat:?}"),
            ));
        }
        if let Err(e) = globset::GlobBuilder::new(pat)
            .literal_separator(true)
            .build()
        {
            return Err((
                r.pattern.span(),
                format!("translate.routes[{i}].match"),
                format!("invalid glob {pat:?}: {e}"),
            ));
        }
        if let Some(p) = &r.id_pointer {
            pointer(p, format!("translate.routes[{i}].id_pointer"))?;
        }
        if let Some(p) = &r.identity_pointer {
            pointer(p, format!("translate.routes[{i}].identity_pointer"))?;
        }
        if let Some(c) = &r.collection {
            let v = c.get_ref();
            if v.is_empty() || v.len() > 128 || v.contains(['/', '?', '#']) {
                return Err((
                    c.span(),
                    format!("translate.routes[{i}].collection"),
                    format!("a collection is one path segment (no `/`, ≤ 128 bytes), got {v:?}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, TranslateMode};

    const BASE: &str = "[targets.mono]\nurl = \"http://127.0.0.1:1\"\nrole = \"primary\"\n\
                        [targets.new]\nurl = \"http://127.0.0.1:2\"\nrole = \"candidate\"\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{BASE}{extra}"), "t.toml")
    }

    fn error(extra: &str) -> String {
        match parse(extra) {
            Ok(_) => panic!("accepted: {extra}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_and_values() {
        let c = parse("").expect("default");
        assert_eq!(c.file.translate.enabled, TranslateMode::Auto);
        assert!(c.file.translate.enabled());
        let c = parse(
            "[translate]\nenabled = false\nmax_ids = 5\nttl_s = 60\n\
             identity_pointer = \"/user/email\"\n\
             [[translate.routes]]\nmatch = \"/api/users\"\nid_pointer = \"/data/id\"\n\
             collection = \"people\"\n",
        )
        .expect("valid");
        let t = &c.file.translate;
        assert!(!t.enabled());
        assert_eq!((t.max_ids, t.ttl_s), (5, 60));
        let r = t.for_path("/api/users");
        assert_eq!(r.id_pointer, Some("/data/id"));
        assert_eq!(r.identity_pointer, Some("/user/email"));
        assert_eq!(r.collection, Some("people"));
        assert_eq!(t.for_path("/other").id_pointer, None);
        assert_eq!(
            parse("[translate]\nenabled = true\n")
                .expect("on")
                .file
                .translate
                .enabled,
            TranslateMode::On
        );
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let e = error("[translate]\nmax_ids = 0\n");
        assert!(e.starts_with("t.toml:8:"), "{e}");
        assert!(e.contains("translate.max_ids"), "{e}");
        let e = error("[translate]\nenabled = \"sometimes\"\n");
        assert!(e.contains("t.toml:8:") && e.contains("auto"), "{e}");
        let e = error("[translate]\nidentity_pointer = \"user\"\n");
        assert!(e.contains("translate.identity_pointer"), "{e}");
        let e = error("[[translate.routes]]\nmatch = \"/a\"\nid_pointer = \"x\"\n");
        assert!(e.contains("t.toml:9:") && e.contains("id_pointer"), "{e}");
        let e = error("[[translate.routes]]\nmatch = \"a\"\n");
        assert!(e.contains("translate.routes[0].match"), "{e}");
        let e = error("[[translate.routes]]\nmatch = \"/a\"\ncollection = \"a/b\"\n");
        assert!(e.contains("t.toml:9:") && e.contains("collection"), "{e}");
        let e = error("[translate]\nttl_s = 0\n");
        assert!(e.contains("translate.ttl_s"), "{e}");
        let e = error("[translate]\nwhat = 1\n");
        assert!(e.contains("what"), "{e}");
    }
}
