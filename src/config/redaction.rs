//! `[redaction]`: what is secret on top of (or taken out of) the built-in lists.
//!
//! Names are patterns (see `crate::redact::names`): `name` exactly, `name*`, `*name`,
//! `*name*`; compared case- and separator-insensitively. The legacy `[recording]
//! redact_headers` / `redact_fields` keys keep working (fields there are fragments).

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Header-name patterns redacted on top of the defaults.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Field-name patterns (JSON keys, form and query names, multipart parts) redacted on
    /// top of the defaults.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Header names never redacted, even when a default pattern matches them.
    #[serde(default)]
    pub keep_headers: Vec<String>,
    /// Field names never redacted, even when a default pattern matches them.
    #[serde(default)]
    pub keep_fields: Vec<String>,
    /// Replace path segments that look like secrets (tokens, keys, JWTs) by markers
    /// (`[REDACTED token 3f9a…]`).
    #[serde(default = "yes")]
    pub path_segments: bool,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            headers: Vec::new(),
            fields: Vec::new(),
            keep_headers: Vec::new(),
            keep_fields: Vec::new(),
            path_segments: true,
        }
    }
}

fn yes() -> bool {
    true
}
