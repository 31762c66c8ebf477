//! Structural comparison of two outcomes: status, headers, JSON bodies, text and binary.
//!
//! Pure logic: no I/O, no HTTP client or server, no report formatting. Input is two
//! [`Outcome`]s (primary and candidate or secondary) and compiled rules; output is a list
//! of [`Difference`]s plus the differences that rules or normalisers classified as noise.

pub mod spec;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exchange::{Outcome, OutcomeResult};

/// Where a difference is and what kind it is.
///
/// `path` is `status`, `header:<name>` (lower-case), `body` (a non-JSON body as a whole), or
/// a JSON Pointer into a JSON body (`/user/id`; the root value is `""`, shown as `/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub path: String,
    pub kind: DiffKind,
    /// The primary's value (absent for `extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<Value>,
    /// The other side's value (absent for `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
    /// Extra detail: a unified text diff, a hash, an error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// HTTP status differs.
    Status,
    /// A header differs, is missing or is extra.
    Header,
    /// Same JSON type, different value.
    ValueChanged,
    /// Different JSON type (string → number, object → null, ...).
    TypeChanged,
    /// Present in the primary, absent in the other.
    Missing,
    /// Absent in the primary, present in the other.
    Extra,
    /// Arrays of different length.
    ArrayLength,
    /// Same elements, different order.
    OrderOnly,
    /// Non-JSON text bodies differ (detail holds a unified diff).
    Text,
    /// Binary bodies differ (length and hash in detail).
    Binary,
    /// One side's body is not what its content type says (invalid JSON).
    Invalid,
    /// One side failed at the transport level (connect, timeout, reset, ...).
    Transport,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Status => "status",
            DiffKind::Header => "header",
            DiffKind::ValueChanged => "value_changed",
            DiffKind::TypeChanged => "type_changed",
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::ArrayLength => "array_length",
            DiffKind::OrderOnly => "order_only",
            DiffKind::Text => "text",
            DiffKind::Binary => "binary",
            DiffKind::Invalid => "invalid",
            DiffKind::Transport => "transport",
        }
    }
}

/// Minimal comparison: status code, transport failures and exact JSON-value equality of the
/// body (raw bytes when a body is not JSON). Used until the full engine is configured.
pub fn exact(primary: &Outcome, other: &Outcome) -> Vec<Difference> {
    let (p, o) = match (&primary.result, &other.result) {
        (OutcomeResult::Response(p), OutcomeResult::Response(o)) => (p, o),
        (OutcomeResult::Response(_), OutcomeResult::Failure(f))
        | (OutcomeResult::Failure(f), OutcomeResult::Response(_)) => {
            return vec![Difference {
                path: "transport".into(),
                kind: DiffKind::Transport,
                primary: None,
                candidate: None,
                detail: Some(format!("{}: {}", f.kind.as_str(), f.message)),
            }];
        }
        (OutcomeResult::Failure(a), OutcomeResult::Failure(b)) if a.kind == b.kind => {
            return Vec::new();
        }
        (OutcomeResult::Failure(a), OutcomeResult::Failure(b)) => {
            return vec![Difference {
                path: "transport".into(),
                kind: DiffKind::Transport,
                primary: Some(Value::from(a.kind.as_str())),
                candidate: Some(Value::from(b.kind.as_str())),
                detail: None,
            }];
        }
    };
    let mut out = Vec::new();
    if p.status != o.status {
        out.push(Difference {
            path: "status".into(),
            kind: DiffKind::Status,
            primary: Some(Value::from(p.status)),
            candidate: Some(Value::from(o.status)),
            detail: None,
        });
    }
    let pj = serde_json::from_slice::<Value>(p.body.as_bytes());
    let oj = serde_json::from_slice::<Value>(o.body.as_bytes());
    match (pj, oj) {
        (Ok(a), Ok(b)) if a != b => out.push(Difference {
            path: String::new(),
            kind: DiffKind::ValueChanged,
            primary: Some(a),
            candidate: Some(b),
            detail: None,
        }),
        (Ok(_), Ok(_)) => {}
        _ if p.body != o.body => out.push(Difference {
            path: "body".into(),
            kind: DiffKind::Text,
            primary: None,
            candidate: None,
            detail: Some(format!("{} vs {} bytes", p.body.len(), o.body.len())),
        }),
        _ => {}
    }
    out
}
