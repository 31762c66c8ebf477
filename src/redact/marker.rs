//! Markers: what a secret value becomes, `[REDACTED <kind> <class>]`.
//!
//! A marker keeps the two things the analysis needs and nothing else:
//! - the value's **kind** — `jwt`, `uuid`, `timestamp`, `token` (the compare engine's
//!   detectors), `string`, and for JSON values `number`, `boolean`, `object`, `array` — so a
//!   token that becomes a number is still a changed kind, and two different JWTs are still
//!   "same kind";
//! - its **equality class**: the first 8 bytes (16 hex digits) of HMAC-SHA256 over the kind
//!   and the value, under a random key drawn once per process and never written anywhere.
//!   Equal secrets in one run get equal markers; a secret cannot be recovered from its
//!   marker (not even a 4-digit PIN by trying them all: the key is unknown), and another
//!   run's markers for the same secret differ.
//!
//! Equality follows the compare engine's: JSON strings by content (escapes decoded),
//! numbers by value (`1.0` = `1`), containers by their parsed value. The legacy mask
//! `[REDACTED]` (recordings made before markers) is still recognised, without kind or class.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::MASK;
use crate::compare::normalise;

/// What every marker starts with.
pub const MARKER_PREFIX: &str = "[REDACTED ";

/// Hex digits of the equality class.
const CLASS_HEX: usize = 16;

/// The kind a marker keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    Jwt,
    Uuid,
    Timestamp,
    /// An opaque random token (long base64/hex with letters and digits).
    Token,
    String,
    Number,
    Boolean,
    Object,
    Array,
}

impl SecretKind {
    pub const ALL: [SecretKind; 9] = [
        SecretKind::Jwt,
        SecretKind::Uuid,
        SecretKind::Timestamp,
        SecretKind::Token,
        SecretKind::String,
        SecretKind::Number,
        SecretKind::Boolean,
        SecretKind::Object,
        SecretKind::Array,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Jwt => "jwt",
            SecretKind::Uuid => "uuid",
            SecretKind::Timestamp => "timestamp",
            SecretKind::Token => "token",
            SecretKind::String => "string",
            SecretKind::Number => "number",
            SecretKind::Boolean => "boolean",
            SecretKind::Object => "object",
            SecretKind::Array => "array",
        }
    }

    pub fn parse(s: &str) -> Option<SecretKind> {
        SecretKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The JSON type the secret had (`string` for every text kind).
    pub fn json_type(self) -> &'static str {
        match self {
            SecretKind::Number => "number",
            SecretKind::Boolean => "boolean",
            SecretKind::Object => "object",
            SecretKind::Array => "array",
            _ => "string",
        }
    }

    /// The kind of a text value, by the compare engine's detectors.
    pub fn of_text(s: &str) -> SecretKind {
        if normalise::is_jwt(s) {
            SecretKind::Jwt
        } else if normalise::is_uuid(s) {
            SecretKind::Uuid
        } else if normalise::timestamp(s).is_some() {
            SecretKind::Timestamp
        } else if normalise::is_token(s) {
            SecretKind::Token
        } else {
            SecretKind::String
        }
    }
}

/// A parsed marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker<'a> {
    /// `None` for the legacy `[REDACTED]`.
    pub kind: Option<SecretKind>,
    /// The equality class (hex); `None` for the legacy mask.
    pub class: Option<&'a str>,
}

/// Parse a marker (or the legacy mask); `None` for anything else.
pub fn parse(s: &str) -> Option<Marker<'_>> {
    if s == MASK {
        return Some(Marker {
            kind: None,
            class: None,
        });
    }
    let inner = s.strip_prefix(MARKER_PREFIX)?.strip_suffix(']')?;
    let (kind, class) = inner.split_once(' ')?;
    let kind = SecretKind::parse(kind)?;
    (class.len() >= 4 && class.len() <= 64 && class.bytes().all(|c| c.is_ascii_hexdigit()))
        .then_some(Marker {
            kind: Some(kind),
            class: Some(class),
        })
}

/// Is this text a marker (or the legacy mask)?
pub fn is_marker(s: &str) -> bool {
    s.starts_with("[REDACTED") && parse(s).is_some()
}

/// Is this byte string a marker?
pub fn is_marker_bytes(b: &[u8]) -> bool {
    b.starts_with(b"[REDACTED") && std::str::from_utf8(b).is_ok_and(is_marker)
}

/// The marker for a value of this kind whose canonical bytes are `canonical`.
pub fn marker(kind: SecretKind, canonical: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key()) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => unreachable!("HMAC accepts a 32-byte key"),
    };
    mac.update(kind.as_str().as_bytes());
    mac.update(&[0]);
    mac.update(canonical);
    let digest = mac.finalize().into_bytes();
    let mut class = String::with_capacity(CLASS_HEX);
    for b in &digest[..CLASS_HEX / 2] {
        class.push_str(&format!("{b:02x}"));
    }
    format!("{MARKER_PREFIX}{} {class}]", kind.as_str())
}

/// HMAC-SHA256 of `data` under the per-process key, in its own `domain` (so a digest made
/// for one use never equals a marker class or another use's digest). For fingerprints that
/// must identify a secret within one run without revealing it (client identities).
pub fn keyed_digest(domain: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts a 32-byte key"),
    };
    mac.update(b"cutover-digest\0");
    mac.update(domain);
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The marker of a text value (a header value, a form or query value, an XML text, a
/// path segment). An existing marker is returned unchanged.
pub fn text_marker(s: &str) -> String {
    if is_marker(s) {
        return s.to_string();
    }
    marker(SecretKind::of_text(s), s.as_bytes())
}

/// The marker of raw bytes (a form value, a multipart part): text when UTF-8.
pub fn bytes_marker(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => text_marker(s),
        Err(_) => marker(SecretKind::String, b),
    }
}

/// The marker of a JSON value. A string that already is a marker is kept.
pub fn value_marker(v: &Value) -> String {
    match v {
        Value::String(s) => text_marker(s),
        Value::Number(n) => {
            let canonical = match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (_, Some(u), _) => u.to_string(),
                // Integral floats equal integers (`1.0` = `1`), as in the compare engine.
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
                (_, _, Some(f)) => f.to_bits().to_string(),
                _ => n.to_string(),
            };
            marker(SecretKind::Number, canonical.as_bytes())
        }
        Value::Bool(b) => marker(SecretKind::Boolean, if *b { b"true" } else { b"false" }),
        Value::Null => marker(SecretKind::String, b"null"),
        Value::Array(_) => marker(SecretKind::Array, v.to_string().as_bytes()),
        Value::Object(_) => marker(SecretKind::Object, v.to_string().as_bytes()),
    }
}

/// The marker, as a JSON string literal, for the raw bytes of a JSON value found in a body
/// (which may be cut short or invalid: then the kind is guessed from its first byte and the
/// raw bytes are the class).
pub fn json_marker(raw: &[u8]) -> Vec<u8> {
    let m = match serde_json::from_slice::<Value>(raw) {
        Ok(v) => value_marker(&v),
        Err(_) => {
            let kind = match raw.first() {
                Some(b'{') => SecretKind::Object,
                Some(b'[') => SecretKind::Array,
                Some(b'-' | b'0'..=b'9') => SecretKind::Number,
                Some(b't' | b'f') => SecretKind::Boolean,
                _ => SecretKind::String,
            };
            marker(kind, raw)
        }
    };
    // A marker has no character that needs escaping.
    format!("\"{m}\"").into_bytes()
}

/// Is this raw JSON value (as found in a body) already a marker string?
pub fn is_json_marker(raw: &[u8]) -> bool {
    raw.len() >= 2
        && raw[0] == b'"'
        && raw[raw.len() - 1] == b'"'
        && is_marker_bytes(&raw[1..raw.len() - 1])
}

/// `text` with every marker shown as the legacy `[REDACTED]` (for display where the kind
/// and class do not matter, and for tests that compare redacted text).
pub fn unmark(text: &str) -> String {
    String::from_utf8_lossy(&unmark_bytes(text.as_bytes())).into_owned()
}

/// [`unmark`] on bytes (which need not be UTF-8).
pub fn unmark_bytes(b: &[u8]) -> Vec<u8> {
    let prefix = MARKER_PREFIX.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], prefix) {
        let start = i + p;
        let end = b[start..]
            .iter()
            .position(|&c| c == b']')
            .map(|q| start + q + 1);
        match end.filter(|&e| is_marker_bytes(&b[start..e])) {
            Some(e) => {
                out.extend_from_slice(&b[i..start]);
                out.extend_from_slice(MASK.as_bytes());
                i = e;
            }
            None => {
                out.extend_from_slice(&b[i..start + prefix.len()]);
                i = start + prefix.len();
            }
        }
    }
    out.extend_from_slice(&b[i..]);
    out
}

/// The per-process key: 32 random bytes from the operating system, drawn on first use,
/// held only in memory.
fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // No OS randomness: fall back to std's randomly seeded hasher keys.
            use std::hash::{BuildHasher, Hasher};
            for chunk in key.chunks_mut(8) {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    #[test]
    fn kinds_and_classes() {
        let a = value_marker(&json!(JWT));
        assert!(a.starts_with("[REDACTED jwt "), "{a}");
        assert_eq!(a, value_marker(&json!(JWT)), "equal secrets, equal markers");
        assert_eq!(a, text_marker(JWT), "a JSON string and its text agree");
        assert_ne!(a, value_marker(&json!(format!("{JWT}x"))));
        assert!(value_marker(&json!(12345)).starts_with("[REDACTED number "));
        assert_eq!(value_marker(&json!(1.0)), value_marker(&json!(1)));
        assert_ne!(value_marker(&json!("123")), value_marker(&json!(123)));
        assert!(value_marker(&json!(true)).starts_with("[REDACTED boolean "));
        assert!(value_marker(&json!({"a": 1})).starts_with("[REDACTED object "));
        assert!(text_marker("0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e").contains(" uuid "));
        assert!(text_marker("2026-01-02T03:04:05Z").contains(" timestamp "));
        assert!(text_marker("a8F3k2LmQ9xZ7wB1").contains(" token "));
        assert!(text_marker("hunter2").contains(" string "));
        assert_eq!(
            json_marker(format!("\"{JWT}\"").as_bytes()),
            format!("\"{a}\"").into_bytes()
        );
        assert!(String::from_utf8_lossy(&json_marker(b"\"cut sho")).contains(" string "));
    }

    #[test]
    fn markers_parse_and_are_idempotent() {
        let m = text_marker("hunter2");
        let parsed = parse(&m).expect("a marker");
        assert_eq!(parsed.kind, Some(SecretKind::String));
        assert_eq!(parsed.class.map(str::len), Some(CLASS_HEX));
        assert_eq!(text_marker(&m), m);
        assert_eq!(value_marker(&json!(m.clone())), m);
        assert!(is_marker(MASK) && parse(MASK).is_some_and(|p| p.kind.is_none()));
        assert!(!is_marker("[REDACTED nonsense 12]"));
        assert!(!is_marker("[REDACTED string xyz!]"));
        assert!(is_json_marker(format!("\"{m}\"").as_bytes()));
        assert!(!m.contains("hunter2"));
        assert_eq!(
            unmark(&format!("a={m}&b=[REDACTED x]&c={m}")),
            "a=[REDACTED]&b=[REDACTED x]&c=[REDACTED]"
        );
    }
}
