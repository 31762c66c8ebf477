//! Volatile-value detectors: timestamps, UUIDs, JWTs, opaque tokens.
//!
//! Owns the rule "a volatile value that keeps its kind is noise; a change of kind is a real
//! difference". Pure string inspection: no clock, no randomness, no I/O. Detectors are cheap
//! and only run on values that already differ.
//!
//! Redaction markers (`[REDACTED jwt 3f9a…]`, [`crate::redact::marker`]) are understood: a
//! marker is of the kind it names (a `uuid` marker is also a `token`, as a raw UUID is),
//! and [`json_type`] is the JSON type the secret had, so a recording re-analysed later
//! reaches the verdict the live analysis reached on the raw values.

use base64::Engine as _;
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

pub use super::spec::NormaliserKind;
use crate::redact::marker::{self, SecretKind};

/// What a normaliser concluded about two differing values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both values are of the kind: noise, with a short explanation.
    Noise(&'static str),
    /// The primary is of the kind and the other is not (or the other way round).
    KindChanged(String),
    /// Neither value is of the kind: the normaliser has nothing to say.
    NotApplicable,
}

impl NormaliserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NormaliserKind::Timestamp => "timestamp",
            NormaliserKind::Uuid => "uuid",
            NormaliserKind::Jwt => "jwt",
            NormaliserKind::Token => "token",
        }
    }

    /// Is this value of the kind?
    pub fn detects(self, v: &Value) -> bool {
        let Value::String(s) = v else { return false };
        if let Some(m) = marker::parse(s) {
            return m.kind.is_some_and(|k| marker_is(k, self));
        }
        match self {
            NormaliserKind::Timestamp => timestamp(s).is_some(),
            NormaliserKind::Uuid => is_uuid(s),
            NormaliserKind::Jwt => is_jwt(s),
            NormaliserKind::Token => is_token(s),
        }
    }

    /// Judge two differing values under this normaliser.
    pub fn judge(self, a: &Value, b: &Value) -> Verdict {
        match (self.detects(a), self.detects(b)) {
            (true, true) => Verdict::Noise(self.noise_detail(a, b)),
            (true, false) => Verdict::KindChanged(format!(
                "primary is a {}, the other side is not",
                self.as_str()
            )),
            (false, true) => Verdict::KindChanged(format!(
                "the other side is a {}, the primary is not",
                self.as_str()
            )),
            (false, false) => Verdict::NotApplicable,
        }
    }

    fn noise_detail(self, a: &Value, b: &Value) -> &'static str {
        if self != NormaliserKind::Timestamp {
            return "both sides of this kind";
        }
        let (Value::String(x), Value::String(y)) = (a, b) else {
            return "both sides of this kind";
        };
        match (timestamp(x), timestamp(y)) {
            (Some(p), Some(q)) if p == q => "same instant, different format",
            _ => "different instants",
        }
    }
}

/// Does a secret of kind `k` (its marker) count as of normaliser kind `n`?
fn marker_is(k: SecretKind, n: NormaliserKind) -> bool {
    matches!(
        (k, n),
        (SecretKind::Jwt, NormaliserKind::Jwt)
            | (
                SecretKind::Uuid,
                NormaliserKind::Uuid | NormaliserKind::Token
            )
            | (SecretKind::Timestamp, NormaliserKind::Timestamp)
            | (SecretKind::Token, NormaliserKind::Token)
    )
}

/// The JSON type name of a value, or of the secret a redaction marker stands for
/// (`[REDACTED number …]` is a `number`).
pub fn json_type(v: &Value) -> &'static str {
    if let Value::String(s) = v
        && let Some(marker::Marker { kind: Some(k), .. }) = marker::parse(s)
    {
        return k.json_type();
    }
    super::value::type_name(v)
}

/// The kinds detected automatically when no rule names a path.
pub const AUTOMATIC: [NormaliserKind; 3] = [
    NormaliserKind::Timestamp,
    NormaliserKind::Jwt,
    NormaliserKind::Uuid,
];

/// Parse an RFC 3339 / ISO 8601 timestamp with an explicit offset (`Z`, `+00:00`).
pub fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 40 || !b[0].is_ascii_digit() || b.get(4) != Some(&b'-') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Hyphenated UUID (`8-4-4-4-12` hex digits).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.as_bytes().get(8) == Some(&b'-') && uuid::Uuid::try_parse(s).is_ok()
}

/// Compact JWS: three base64url parts whose first decodes to a JSON object with `alg`.
pub fn is_jwt(s: &str) -> bool {
    if !s.starts_with("eyJ") || s.len() > 16 * 1024 {
        return false;
    }
    let mut parts = s.split('.');
    let (Some(head), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if payload.is_empty() || ![head, payload, sig].iter().all(|p| is_base64url(p)) {
        return false;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|h| h.get("alg").is_some())
}

/// Opaque random token: at least 16 characters of base64url / hex with a digit and a letter.
pub fn is_token(s: &str) -> bool {
    s.len() >= 16
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'+' | b'/'))
        && s.bytes().any(|c| c.is_ascii_digit())
        && s.bytes().any(|c| c.is_ascii_alphabetic())
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    #[test]
    fn timestamps_in_different_formats() {
        let ts = NormaliserKind::Timestamp;
        assert_eq!(
            ts.judge(
                &json!("2026-01-02T03:04:05Z"),
                &json!("2026-01-02T03:04:05.000+00:00")
            ),
            Verdict::Noise("same instant, different format")
        );
        assert_eq!(
            ts.judge(
                &json!("2026-01-02T03:04:05Z"),
                &json!("2026-01-02T03:04:06.5Z")
            ),
            Verdict::Noise("different instants")
        );
        assert!(matches!(
            ts.judge(&json!("2026-01-02T03:04:05Z"), &json!(1767323045)),
            Verdict::KindChanged(_)
        ));
        assert!(matches!(
            ts.judge(&json!("2026-01-02T03:04:05Z"), &json!("yesterday")),
            Verdict::KindChanged(_)
        ));
        assert_eq!(ts.judge(&json!("a"), &json!("b")), Verdict::NotApplicable);
    }

    #[test]
    fn uuids_jwts_tokens() {
        let u1 = json!("0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e");
        let u2 = json!("7d0f3e2a-1b4c-4d5e-8f6a-9b0c1d2e3f4a");
        assert!(matches!(
            NormaliserKind::Uuid.judge(&u1, &u2),
            Verdict::Noise(_)
        ));
        assert!(is_jwt(JWT));
        assert!(!is_jwt("eyJ.not.a-jwt!"));
        assert!(!is_jwt("abc.def.ghi"));
        assert!(matches!(
            NormaliserKind::Jwt.judge(&json!(JWT), &json!("opaque")),
            Verdict::KindChanged(_)
        ));
        assert!(is_token("a8F3k2LmQ9xZ7wB1"));
        assert!(!is_token("short1"));
        assert!(!is_token("onlylettersherexxxxx"));
    }

    #[test]
    fn markers_keep_their_kind() {
        use crate::redact::marker::{text_marker, value_marker};
        let jwt = json!(text_marker(JWT));
        let other_jwt = json!(text_marker(&format!("{JWT}x")));
        let number = json!(value_marker(&json!(12345)));
        assert!(matches!(
            NormaliserKind::Jwt.judge(&jwt, &other_jwt),
            Verdict::Noise(_)
        ));
        assert!(matches!(
            NormaliserKind::Jwt.judge(&jwt, &number),
            Verdict::KindChanged(_)
        ));
        assert_eq!(json_type(&number), "number");
        assert_eq!(json_type(&jwt), "string");
        let uuid = json!(text_marker("0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e"));
        assert!(NormaliserKind::Uuid.detects(&uuid) && NormaliserKind::Token.detects(&uuid));
        assert!(!NormaliserKind::Jwt.detects(&json!("[REDACTED]")));
    }
}
