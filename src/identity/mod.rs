//! Client identities: who sent a request, as far as cutover needs to know.
//!
//! Owns two things derived from a request's credential (the `Authorization` header, an API
//! key header, or a cookie configured or known as a session/credential cookie):
//! - a **fingerprint** ([`ClientIdentity::key`]): HMAC-SHA256 of the credential under the
//!   per-process key of [`crate::redact::marker`], never the credential itself; requests
//!   without a credential get the fingerprint of their client connection instead;
//! - a non-secret **label** ([`ClientIdentity::label`]) for reports: a JWT claim (`sub`,
//!   `preferred_username`, ... decoded *without* verification, see [`jwt`]), else a short
//!   fingerprint `cred:1a2b3c`, none for anonymous requests (`[identity] label`).
//!
//! Pure: no I/O, no clock, nothing stored. The proxy uses the key to keep one identity's
//! shadow copies in order and puts the label on the exchange.
//!
//! Per-target identities (issue 12), pure; the proxy drives them (`crate::proxy::learn`,
//! `crate::proxy::translate`): [`credentials`] (learned primary ↔ target credentials per
//! identity, bounded and expiring), [`ids`] (learned primary ↔ target ids per id table,
//! bounded), [`extract`] (who logs in, which credential or id an answer issued),
//! [`rewrite`] (a request's credential and ids rewritten for a target) and [`translate`]
//! (all of it behind one `Translator`: learn from login and create answers, prepare a copy
//! for a target).
//! [`configured`] holds the `[[identities]]` credentials established at start-up (static
//! from the environment, or from a login scenario run by a [`configured::LoginRunner`] the
//! caller passes), the translator's fallback for identities whose login is never mirrored.

pub mod configured;
pub mod credentials;
pub mod extract;
pub mod ids;
pub mod jwt;
pub mod rewrite;
pub mod translate;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

use crate::config::{IdentityConfig, LabelMode, OrderBy};
use crate::redact::marker::keyed_digest;
use crate::redact::names::{Pattern, normalise};

/// Longest label kept (longer claim values are cut on a character boundary).
pub const MAX_LABEL_CHARS: usize = 64;
/// Hex digits of a fingerprint label (`cred:` + 6).
const LABEL_HEX: usize = 6;
/// Headers that carry a credential, tried in order before cookies.
const CREDENTIAL_HEADERS: &[&str] = &["x-api-key", "x-auth-token"];
/// Cookies looked at per request (a hostile `Cookie` header cannot make this unbounded).
const MAX_COOKIES: usize = 64;

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Fingerprint of the credential (or of the connection when there is none).
    pub key: u128,
    /// The request carried a credential (else `key` names its connection).
    pub credentialed: bool,
    /// Non-secret label for reports; `None` when anonymous or switched off.
    pub label: Option<String>,
}

/// How identities are read from requests (`[identity]`).
#[derive(Debug, Clone)]
pub struct IdentityRules {
    label: LabelMode,
    order_by: OrderBy,
    claims: Vec<String>,
    cookies: Vec<Pattern>,
}

impl Default for IdentityRules {
    fn default() -> Self {
        IdentityRules::for_config(&IdentityConfig::default())
    }
}

impl IdentityRules {
    pub fn for_config(c: &IdentityConfig) -> IdentityRules {
        IdentityRules {
            label: c.label,
            order_by: c.order_by,
            claims: c.claims.clone(),
            cookies: c.cookie_patterns(),
        }
    }

    /// The identity of a request with these headers arriving on connection `conn` (any
    /// text unique to the connection while it is open, e.g. the peer address).
    pub fn identify(&self, headers: &HeaderMap, conn: &str) -> ClientIdentity {
        let Some(credential) = self.credential(headers) else {
            return ClientIdentity {
                key: digest_key(b"connection", conn.as_bytes()),
                credentialed: false,
                label: None,
            };
        };
        let digest = keyed_digest(b"identity", credential.material.as_bytes());
        let key = u128::from_be_bytes(first16(&digest));
        let label = match self.label {
            LabelMode::Off => None,
            LabelMode::Fingerprint => Some(short_label(&digest)),
            LabelMode::Claim => Some(
                credential
                    .jwt
                    .and_then(|t| jwt::claim(t, &self.claims))
                    .map(|c| clean_label(&c))
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| short_label(&digest)),
            ),
        };
        ClientIdentity {
            key,
            credentialed: true,
            label,
        }
    }

    /// The key of the ordered queue a request of `who`, on connection `conn`, joins
    /// (`[identity] order_by`).
    pub fn order_key(&self, who: &ClientIdentity, conn: &str) -> u128 {
        match self.order_by {
            OrderBy::Credential => who.key,
            OrderBy::Connection if !who.credentialed => who.key,
            OrderBy::Connection => digest_key(b"connection", conn.as_bytes()),
        }
    }

    /// The request's credential: the `Authorization` header, else an API-key header, else
    /// every credential cookie (sorted by name, so cookie order does not matter).
    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<Credential<'a>> {
        if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let v = v.trim();
            if !v.is_empty() {
                let token = v.split_once(' ').map_or(v, |(_, t)| t.trim());
                return Some(Credential {
                    material: format!("authorization\0{v}"),
                    jwt: jwt::looks_like_jwt(token).then_some(token),
                });
            }
        }
        for name in CREDENTIAL_HEADERS {
            if let Some(v) = headers.get(*name).and_then(|v| v.to_str().ok())
                && !v.trim().is_empty()
            {
                let v = v.trim();
                return Some(Credential {
                    material: format!("{name}\0{v}"),
                    jwt: jwt::looks_like_jwt(v).then_some(v),
                });
            }
        }
        let mut found: Vec<(&str, &str)> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .take(MAX_COOKIES)
            .filter_map(|pair| pair.split_once('='))
            .map(|(n, v)| (n.trim(), v.trim().trim_matches('"')))
            .filter(|(n, v)| {
                let n = normalise(n);
                !v.is_empty() && self.cookies.iter().any(|p| p.matches(&n))
            })
            .collect();
        if found.is_empty() {
            return None;
        }
        found.sort_unstable();
        let mut material = String::from("cookie");
        for (n, v) in &found {
            material.push('\0');
            material.push_str(n);
            material.push('=');
            material.push_str(v);
        }
        Some(Credential {
            material,
            jwt: found
                .iter()
                .map(|(_, v)| *v)
                .find(|v| jwt::looks_like_jwt(v)),
        })
    }
}

/// A credential as found: the bytes it is fingerprinted by, and a JWT inside it, if any.
struct Credential<'a> {
    material: String,
    jwt: Option<&'a str>,
}

fn first16(d: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

fn digest_key(domain: &[u8], data: &[u8]) -> u128 {
    u128::from_be_bytes(first16(&keyed_digest(domain, data)))
}

/// `cred:` and the first hex digits of a credential's digest.
fn short_label(d: &[u8; 32]) -> String {
    let mut s = String::from("cred:");
    for b in &d[..LABEL_HEX / 2] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A claim value fit for a report: no control characters, at most [`MAX_LABEL_CHARS`].
fn clean_label(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests;
