//! `[identity]`: who a request comes from, as far as cutover needs to know.
//!
//! Two uses: shadow copies of one identity's requests are sent to each target in arrival
//! order (`ordered`, bounded by `max_queued_per_identity` and `max_identities`), and each
//! exchange carries a non-secret label (`label`: a JWT claim, a short credential
//! fingerprint, or nothing) that reports attribute differences to. Owns the table's shape,
//! its defaults and its range checks; never looks at a request.

use serde::Deserialize;

use super::spans::value_span;
use crate::redact::names::Pattern;

/// Largest `max_queued_per_identity`.
pub const MAX_QUEUED_PER_IDENTITY: usize = 100_000;
/// Largest `max_identities`.
pub const MAX_IDENTITIES: usize = 10_000_000;
/// Longest claim list.
pub const MAX_CLAIMS: usize = 16;

/// What an exchange's identity label is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelMode {
    /// The first of `claims` found in a JWT (decoded without verification), else a short
    /// credential fingerprint (`cred:1a2b3c`).
    #[default]
    Claim,
    /// Always the short credential fingerprint.
    Fingerprint,
    /// No label.
    Off,
}

/// What one ordered queue is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderBy {
    /// The credential (the connection when there is none): a client's requests stay in
    /// order whichever connection they use.
    #[default]
    Credential,
    /// The client connection only: for one credential shared by many concurrent clients
    /// (a service account, a load test), whose copies would otherwise go one at a time.
    Connection,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Send shadow copies of one identity's requests to each target in arrival order.
    #[serde(default = "yes")]
    pub ordered: bool,
    #[serde(default)]
    pub order_by: OrderBy,
    /// Shadow copies of one identity waiting or in flight at once; past it a copy is not
    /// made, and counted (`not_mirrored{reason="identity_queue_full"}`).
    #[serde(default = "default_max_queued")]
    pub max_queued_per_identity: usize,
    /// Identities with shadow copies waiting or in flight at once; past it a new identity's
    /// copy is not made, and counted (`not_mirrored{reason="identities_full"}`).
    #[serde(default = "default_max_identities")]
    pub max_identities: usize,
    #[serde(default)]
    pub label: LabelMode,
    /// JWT claims tried in order for the label.
    #[serde(default = "default_claims")]
    pub claims: Vec<String>,
    /// Cookie-name patterns that carry a credential, on top of the built-in list
    /// ([`DEFAULT_CREDENTIAL_COOKIES`]).
    #[serde(default)]
    pub credential_cookies: Vec<String>,
}

/// Cookie names that carry a session or credential by default (patterns, see
/// `crate::redact::names`).
pub const DEFAULT_CREDENTIAL_COOKIES: &[&str] = &[
    "session*",
    "*sessionid",
    "*session",
    "sid",
    "connectsid",
    "*token",
    "*jwt",
    "auth",
    "authorization",
];

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            ordered: true,
            order_by: OrderBy::default(),
            max_queued_per_identity: default_max_queued(),
            max_identities: default_max_identities(),
            label: LabelMode::default(),
            claims: default_claims(),
            credential_cookies: Vec::new(),
        }
    }
}

impl IdentityConfig {
    /// Every credential-cookie pattern: the built-in ones and the configured ones
    /// (configured patterns that do not parse were refused when the file was read).
    pub fn cookie_patterns(&self) -> Vec<Pattern> {
        DEFAULT_CREDENTIAL_COOKIES
            .iter()
            .copied()
            .chain(self.credential_cookies.iter().map(String::as_str))
            .filter_map(|p| Pattern::parse(p).ok())
            .collect()
    }
}

fn yes() -> bool {
    true
}

fn default_max_queued() -> usize {
    64
}

fn default_max_identities() -> usize {
    100_000
}

fn default_claims() -> Vec<String> {
    ["sub", "preferred_username", "username", "email"]
        .into_iter()
        .map(String::from)
        .collect()
}

type Problem = (std::ops::Range<usize>, String, String);

/// Range and shape checks of `[identity]`.
pub(super) fn check(c: &IdentityConfig, text: &str) -> Result<(), Problem> {
    let problem = |key: &str, message: String| -> Problem {
        let span = value_span(text, key).unwrap_or(0..0);
        (span, key.to_string(), message)
    };
    for (key, v, max) in [
        (
            "identity.max_queued_per_identity",
            c.max_queued_per_identity,
            MAX_QUEUED_PER_IDENTITY,
        ),
        ("identity.max_identities", c.max_identities, MAX_IDENTITIES),
    ] {
        if !(1..=max).contains(&v) {
            let name = key.rsplit('.').next().unwrap_or(key);
            return Err(problem(
                key,
                format!("{name} must be from 1 to {max}, got {v}"),
            ));
        }
    }
    if c.claims.len() > MAX_CLAIMS {
        return Err(problem(
            "identity.claims",
            format!("at most {MAX_CLAIMS} claims, got {}", c.claims.len()),
        ));
    }
    for (i, claim) in c.claims.iter().enumerate() {
        if claim.trim().is_empty() || claim.len() > 128 {
            let span = value_span(text, &format!("identity.claims.{i}"))
                .or_else(|| value_span(text, "identity.claims"))
                .unwrap_or(0..0);
            return Err((
                span,
                "identity.claims".into(),
                format!("claim {i} must be a non-empty name of at most 128 bytes, got {claim:?}"),
            ));
        }
    }
    for (i, name) in c.credential_cookies.iter().enumerate() {
        if let Err(m) = Pattern::parse(name) {
            let span = value_span(text, &format!("identity.credential_cookies.{i}"))
                .or_else(|| value_span(text, "identity.credential_cookies"))
                .unwrap_or(0..0);
            return Err((span, "identity.credential_cookies".into(), m));
        }
    }
    Ok(())
}
