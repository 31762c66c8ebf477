//! Volatile-value detectors: timestamps, UUIDs, JWTs, opaque tokens, epoch numbers.
//!
//! Owns the rule "a volatile value that keeps its kind is noise; a change of kind is a real
//! difference", and what each kind accepts ([`time`] for timestamps as frameworks write
//! them, [`token`] for opaque random tokens). Automatic detection (no rule names the path)
//! is stricter than an explicit `normalise` rule: it never takes bare dates or numbers. A
//! value that keeps its kind but changes JSON type (an ISO string becoming epoch seconds)
//! is a difference. Pure string inspection: no clock, no randomness, no I/O. Detectors are
//! cheap and only run on values that already differ.
//!
//! Redaction markers (`[REDACTED jwt 3f9a…]`, [`crate::redact::marker`]) are understood: a
//! marker is of the kind it names (a `uuid` marker is also a `token`, as a raw UUID is),
//! and [`json_type`] is the JSON type the secret had, so a recording re-analysed later
//! reaches the verdict the live analysis reached on the raw values.

mod time;
mod token;

use base64::Engine as _;
use serde_json::Value;

pub use super::spec::NormaliserKind;
use crate::redact::marker::{self, SecretKind};
pub use time::{Accept, Stamp};

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
            NormaliserKind::EpochS => "epoch_s",
            NormaliserKind::EpochMs => "epoch_ms",
        }
    }

    /// Is this value of the kind, as an explicit rule sees it?
    pub fn detects(self, v: &Value) -> bool {
        self.detects_as(v, true)
    }

    /// Is this value of the kind, as automatic detection sees it?
    pub fn detects_automatically(self, v: &Value) -> bool {
        self.detects_as(v, false)
    }

    fn detects_as(self, v: &Value, explicit: bool) -> bool {
        if let Value::String(s) = v
            && let Some(m) = marker::parse(s)
        {
            return m.kind.is_some_and(|k| marker_is(k, self));
        }
        if let Some(accept) = self.accept(explicit) {
            return time::stamp(v, accept).is_some();
        }
        let Value::String(s) = v else { return false };
        match self {
            NormaliserKind::Uuid => is_uuid(s),
            NormaliserKind::Jwt => is_jwt(s),
            NormaliserKind::Token => is_token(s),
            _ => false,
        }
    }

    /// The timestamp parser for this kind, `None` for the kinds that are not times.
    fn accept(self, explicit: bool) -> Option<Accept> {
        match self {
            NormaliserKind::Timestamp if explicit => Some(Accept::Timestamp),
            NormaliserKind::Timestamp => Some(Accept::Automatic),
            NormaliserKind::EpochS => Some(Accept::EpochS),
            NormaliserKind::EpochMs => Some(Accept::EpochMs),
            _ => None,
        }
    }

    /// The stamp a value stands for under this kind (times only; markers have none).
    pub fn stamp(self, v: &Value, explicit: bool) -> Option<Stamp> {
        time::stamp(v, self.accept(explicit)?)
    }

    /// Judge two differing values under this normaliser, as an explicit rule.
    pub fn judge(self, a: &Value, b: &Value) -> Verdict {
        self.judge_as(a, b, true)
    }

    /// Judge two differing values under this normaliser, as automatic detection.
    pub fn judge_automatically(self, a: &Value, b: &Value) -> Verdict {
        self.judge_as(a, b, false)
    }

    fn judge_as(self, a: &Value, b: &Value, explicit: bool) -> Verdict {
        match (self.detects_as(a, explicit), self.detects_as(b, explicit)) {
            (true, true) if json_type(a) != json_type(b) => Verdict::KindChanged(format!(
                "both sides are a {}, written as a {} and as a {}",
                self.as_str(),
                json_type(a),
                json_type(b)
            )),
            (true, true) => Verdict::Noise(self.noise_detail(a, b, explicit)),
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

    fn noise_detail(self, a: &Value, b: &Value, explicit: bool) -> &'static str {
        match (self.stamp(a, explicit), self.stamp(b, explicit)) {
            (Some(p), Some(q)) if p.cmp_written(&q).is_eq() => "same instant, different format",
            (Some(_), Some(_)) => "different instants",
            _ => "both sides of this kind",
        }
    }

    /// Two values judged noise under this (time) kind whose instants differ and whose
    /// precision as written differs — whole seconds against fractional ones, a zone against
    /// none, a date against a date-time: each side's precision, for a `precision_changed`
    /// difference. The number of fractional digits alone is not compared: Go and others
    /// drop trailing zeros, so it varies value by value. `None` for every other case.
    pub fn precision_change(self, a: &Value, b: &Value, explicit: bool) -> Option<[String; 2]> {
        let (p, q) = (self.stamp(a, explicit)?, self.stamp(b, explicit)?);
        if p.cmp_written(&q).is_eq() {
            return None;
        }
        (p.precision_class() != q.precision_class()).then(|| [p.precision(), q.precision()])
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

/// The kinds detected automatically when no rule names a path, in the order they are tried.
pub const AUTOMATIC: [NormaliserKind; 4] = [
    NormaliserKind::Timestamp,
    NormaliserKind::Jwt,
    NormaliserKind::Uuid,
    NormaliserKind::Token,
];

/// A date-time string as automatic detection recognises it (ISO 8601 with or without a
/// zone, `T` or space, any fractional digits; RFC 2822 / HTTP dates).
pub fn timestamp(s: &str) -> Option<Stamp> {
    time::text(s)
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

/// Opaque random token: at least 16 characters of base64 / base64url / hex with enough
/// entropy that do not read like words ([`token`]). The same automatically, under a rule
/// and for a redaction marker's kind.
pub fn is_token(s: &str) -> bool {
    token::looks_random(s)
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// The shape of a value for messages that must not show it: digits become `d`, letters
/// `a`, everything else stays (`"dddd-dd-dd dd:dd:dd"`); other JSON types by name. Cut at
/// 48 characters.
pub fn shape(v: &Value) -> String {
    match v {
        Value::String(s) if marker::parse(s).is_some() => "a redacted secret".into(),
        Value::String(s) => format!("\"{}\"", mask(s)),
        Value::Number(n) => format!("number {}", mask(&n.to_string())),
        other => super::value::type_name(other).to_string(),
    }
}

fn mask(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(48)
        .map(|c| match c {
            '0'..='9' => 'd',
            c if c.is_alphabetic() => 'a',
            c if c.is_control() => '?',
            c => c,
        })
        .collect();
    if text.chars().nth(48).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[path = "normalise_tests.rs"]
mod tests;
