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

/// The first of `claims` present in the token's payload as a string or number.
pub fn claim(token: &str, claims: &[String]) -> Option<String> {
    if !looks_like_jwt(token) {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let Value::Object(map) = serde_json::from_slice::<Value>(&bytes).ok()? else {
        return None;
    };
    claims.iter().find_map(|c| match map.get(c) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}
