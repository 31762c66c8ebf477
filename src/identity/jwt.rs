//! Reading a claim out of a JWT *without* verifying it: the label is a hint for people
//! reading a report, never an authorisation decision. Bounded: tokens over
//! [`MAX_JWT_BYTES`] are not decoded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Longest token decoded.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// Three base64url parts separated by dots, the first starting like a JSON object
/// (`eyJ` = `{"`).
pub fn looks_like_jwt(s: &str) -> bool {
    s.len() <= MAX_JWT_BYTES
        && s.starts_with("eyJ")
        && s.split('.').count() == 3
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

/// Claims that differ between two tokens issued for the same identity by the same issuer.
const VOLATILE_CLAIMS: &[&str] = &["iat", "exp", "nbf", "jti", "auth_time"];

/// Two tokens that could be interchangeable: equal, or two JWTs whose payloads are equal
/// apart from issue times and ids ([`VOLATILE_CLAIMS`]) — the same issuer's tokens for the
/// same identity (a shared signing secret). Not a verification: a hint that a target may
/// accept the primary's tokens.
pub fn same_claims(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (payload(a), payload(b)) {
        (Some(mut x), Some(mut y)) => {
            for c in VOLATILE_CLAIMS {
                x.remove(*c);
                y.remove(*c);
            }
            x == y
        }
        _ => false,
    }
}

fn payload(token: &str) -> Option<serde_json::Map<String, Value>> {
    if !looks_like_jwt(token) {
        return None;
    }
    let part = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The first of `claims` present in the token's payload as a string or number.
pub fn claim(token: &str, claims: &[String]) -> Option<String> {
    let map = payload(token)?;
    claims.iter().find_map(|c| match map.get(c) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}
