//! Legitimate noise: what differs between the monolith and the extracted services although
//! neither is wrong.
//!
//! Owns the ordered JSON document type ([`Doc`]) the services render their bodies with, and
//! the per-deployment [`Style`]: timestamp format (`…Z` in the monolith, `+00:00` in the
//! extracted services), key order (reversed in the extracted services), whitespace (the AI
//! service pretty-prints), plus the simulated `latency_ms` jitter. Request-id and `server`
//! headers are added by the router's middleware (see `mod.rs`). Never changes meaning.

use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose objects keep the order they were built in.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Doc>),
    Obj(Vec<(&'static str, Doc)>),
}

impl Doc {
    pub fn str(s: impl Into<String>) -> Doc {
        Doc::Str(s.into())
    }

    pub fn opt_str(s: Option<&str>) -> Doc {
        s.map_or(Doc::Null, Doc::str)
    }

    fn reversed(self) -> Doc {
        match self {
            Doc::Arr(items) => Doc::Arr(items.into_iter().map(Doc::reversed).collect()),
            Doc::Obj(fields) => Doc::Obj(
                fields
                    .into_iter()
                    .rev()
                    .map(|(k, v)| (k, v.reversed()))
                    .collect(),
            ),
            other => other,
        }
    }
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Null => s.serialize_unit(),
            Doc::Bool(b) => s.serialize_bool(*b),
            Doc::Int(i) => s.serialize_i64(*i),
            Doc::Str(v) => s.serialize_str(v),
            Doc::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Doc::Obj(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// How one deployment renders its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// `2026-11-21T10:00:00.123456Z` (false) or `2026-11-21T10:00:00.123456+00:00` (true).
    pub offset_timestamps: bool,
    pub reverse_keys: bool,
    pub pretty: bool,
}

impl Style {
    pub const MONOLITH: Style = Style {
        offset_timestamps: false,
        reverse_keys: false,
        pretty: false,
    };
    pub const AUTH: Style = Style {
        offset_timestamps: true,
        reverse_keys: true,
        pretty: false,
    };
    pub const AI: Style = Style {
        offset_timestamps: true,
        reverse_keys: true,
        pretty: true,
    };

    pub fn timestamp(self, t: DateTime<Utc>) -> Doc {
        let fmt = if self.offset_timestamps {
            "%Y-%m-%dT%H:%M:%S%.6f+00:00"
        } else {
            "%Y-%m-%dT%H:%M:%S%.6fZ"
        };
        Doc::Str(t.format(fmt).to_string())
    }

    /// Serialise a document in this style.
    pub fn render(self, doc: Doc) -> Vec<u8> {
        let doc = if self.reverse_keys {
            doc.reversed()
        } else {
            doc
        };
        let out = if self.pretty {
            serde_json::to_vec_pretty(&doc)
        } else {
            serde_json::to_vec(&doc)
        };
        // Serialising a `Doc` into memory cannot fail: keys are strings, no I/O.
        out.unwrap_or_default()
    }
}

/// The simulated model latency: real elapsed time plus 5–500 ms of jitter (a model's
/// latency spreads wide; two answers rarely report the same figure).
pub fn latency_ms(elapsed: std::time::Duration) -> i64 {
    let real = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX / 2);
    real + fastrand::i64(5..=500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_differ_only_in_form() {
        let doc = Doc::Obj(vec![("a", Doc::Int(1)), ("b", Doc::Arr(vec![Doc::Null]))]);
        let m: serde_json::Value =
            serde_json::from_slice(&Style::MONOLITH.render(doc.clone())).unwrap_or_default();
        let a: serde_json::Value =
            serde_json::from_slice(&Style::AI.render(doc.clone())).unwrap_or_default();
        assert_eq!(m, a);
        assert_eq!(
            Style::MONOLITH.render(doc.clone()),
            br#"{"a":1,"b":[null]}"#
        );
        assert_eq!(Style::AUTH.render(doc), br#"{"b":[null],"a":1}"#);
    }

    #[test]
    fn timestamps_same_instant_different_format() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T10:00:00.123456Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(
            Style::MONOLITH.timestamp(t),
            Doc::str("2026-11-21T10:00:00.123456Z")
        );
        assert_eq!(
            Style::AUTH.timestamp(t),
            Doc::str("2026-11-21T10:00:00.123456+00:00")
        );
    }
}
