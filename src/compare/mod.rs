//! Structural comparison of two outcomes: status, headers, JSON bodies, text and binary.
//!
//! Pure logic: no I/O, no HTTP client or server, no report formatting. Input is two
//! [`Outcome`]s (primary and candidate or secondary) and compiled rules; output is a list
//! of [`Difference`]s plus the differences that rules or normalisers classified as noise.

pub mod grouping;
pub mod noise;
pub mod normalise;
pub mod path;
pub mod rules;
pub mod spec;
pub mod value;
pub mod volatile;

mod body;
mod headers;
mod json;
pub mod media;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exchange::{Outcome, OutcomeResult, RecordedResponse};

pub use json::diff_values;
pub use rules::{RuleError, Rules};
pub use spec::{NormaliserKind, RuleSpec};

/// At most this many counted differences per comparison; past it the comparison stops and
/// ends with one `limit` difference.
pub const MAX_DIFFERENCES: usize = 1000;
/// At most this many suppressed differences are listed; the rest are counted.
pub const MAX_SUPPRESSED: usize = 1000;
/// At most this many rule warnings per comparison (one per rule).
pub const MAX_WARNINGS: usize = 16;

/// An explicit `normalise` rule that met values it does not recognise: the values were
/// compared without it. Carries the value's shape, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWarning {
    /// The rule as written: `normalise /**/updated_at as timestamp`.
    pub rule: String,
    /// Where it met the value (a JSON Pointer).
    pub path: String,
    /// The primary's value with digits as `d` and letters as `a` (`"dddd-dd-dd dd:dd:dd"`).
    pub shape: String,
}

impl RuleWarning {
    /// One sentence for reports.
    pub fn message(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        format!(
            "{} did not recognise the values at {path} (shape {}); they were compared without it",
            self.rule, self.shape
        )
    }
}

/// Where a difference is and what kind it is.
///
/// `path` is one of:
/// - `status`; `transport` (a failure on either side);
/// - `header:<name>` (lower-case; `set-cookie` per cookie: `header:set-cookie:<cookie>`);
/// - `body` (a non-JSON body as a whole, truncation, invalid JSON, the difference cap);
/// - `body:data` (an SSE stream's reassembled `data:` payload) and `body:events` (its split
///   into events);
/// - a JSON Pointer into a JSON body (`/user/id`; the root value is `""`, shown as `/`).
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
    /// The body capture was cut on one side (or at different lengths): not compared.
    Truncated,
    /// More differences than [`MAX_DIFFERENCES`]; the rest were not examined.
    Limit,
    /// Volatile fields of one object (timestamps, ids), noise one by one, relate
    /// differently on the two sides (`updated_at > created_at` vs `updated_at = created_at`).
    RelationChanged,
    /// Timestamps, noise one by one, written with a different precision (fractional
    /// digits, or a zone dropped).
    PrecisionChanged,
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
            DiffKind::Truncated => "truncated",
            DiffKind::Limit => "limit",
            DiffKind::RelationChanged => "relation_changed",
            DiffKind::PrecisionChanged => "precision_changed",
        }
    }
}

/// Why a difference was classified as noise. `Display` gives the one-line explanation
/// reports show (`rule: ignore /**/created_at`, `normaliser: jwt`, `tolerance ±5`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// A user rule (`ignore /**/created_at`, `unordered /items`).
    Rule(String),
    /// A header ignored by the built-in list or by `ignore_headers`.
    Header(String),
    /// A volatile value that kept its kind.
    Normaliser {
        kind: NormaliserKind,
        detail: &'static str,
        /// The `normalise` rule's path; `None` for automatic detection.
        rule: Option<String>,
    },
    /// Numbers within a `tolerance` rule (`tolerance ±5`).
    Tolerance(String),
    /// Learned from the secondary (Diffy's method).
    LearnedNoise { r: u64, n: u64, total: u64 },
    /// Learned from the primary itself, without a secondary: the path changed on its own
    /// between repeated identical requests `changed` times (out of `repeats` usable repeats
    /// on the route, `total` exchanges compared); see [`volatile`].
    Volatile {
        changed: u64,
        repeats: u64,
        total: u64,
    },
    /// More suppressed differences than [`MAX_SUPPRESSED`].
    Omitted(usize),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rule(r) => write!(f, "rule: {r}"),
            Reason::Header(h) => write!(f, "header: {h}"),
            Reason::Normaliser { kind, detail, rule } => {
                write!(f, "normaliser: {}", kind.as_str())?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                if let Some(rule) = rule {
                    write!(f, " by rule {rule}")?;
                }
                Ok(())
            }
            Reason::Tolerance(t) => write!(f, "{t}"),
            Reason::LearnedNoise { r, n, total } => write!(
                f,
                "learned noise: the candidate differed from the primary in r={r} exchanges, \
                 the secondary (a second primary) in n={n}, of T={total} compared with both \
                 — the primary disagrees with itself about as often"
            ),
            Reason::Volatile {
                changed,
                repeats,
                total,
            } => write!(
                f,
                "volatile on the primary: changed on its own between identical requests \
                 {changed} times in {repeats} repeats (rest of the answer equal), T={total}"
            ),
            Reason::Omitted(k) => write!(f, "{k} more suppressed differences not listed"),
        }
    }
}

/// The outcome of comparing two outcomes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Differences that count.
    pub differences: Vec<Difference>,
    /// Differences classified as noise, each with its reason.
    pub suppressed: Vec<(Difference, Reason)>,
    /// The comparison stopped at [`MAX_DIFFERENCES`] (the last difference is a `limit`).
    pub cut: bool,
    /// Explicit rules that did not apply to the values they met (one per rule).
    pub warnings: Vec<RuleWarning>,
    omitted: usize,
}

impl Comparison {
    /// Nothing counts.
    pub fn is_match(&self) -> bool {
        self.differences.is_empty()
    }

    pub(crate) fn real(&mut self, d: Difference) {
        if self.cut {
            return;
        }
        if self.differences.len() >= MAX_DIFFERENCES {
            self.cut = true;
            self.differences.push(Difference {
                path: "body".into(),
                kind: DiffKind::Limit,
                primary: None,
                candidate: None,
                detail: Some(format!(
                    "more than {MAX_DIFFERENCES} differences; the comparison stopped here"
                )),
            });
            return;
        }
        self.differences.push(d);
    }

    /// Keep a rule warning, once per rule, at most [`MAX_WARNINGS`].
    pub(crate) fn warn(&mut self, w: RuleWarning) {
        if self.warnings.len() < MAX_WARNINGS && !self.warnings.iter().any(|k| k.rule == w.rule) {
            self.warnings.push(w);
        }
    }

    pub(crate) fn noise(&mut self, d: Difference, reason: Reason) {
        if self.suppressed.len() >= MAX_SUPPRESSED {
            self.omitted += 1;
        } else {
            self.suppressed.push((d, reason));
        }
    }

    fn finish(mut self) -> Comparison {
        if self.omitted > 0 {
            let d = Difference {
                path: "body".into(),
                kind: DiffKind::Limit,
                primary: None,
                candidate: None,
                detail: None,
            };
            self.suppressed.push((d, Reason::Omitted(self.omitted)));
            self.omitted = 0;
        }
        self
    }
}

/// Compare the primary's outcome with another target's under `rules`: transport failures,
/// status, headers and body. Pure and total: never panics on any input.
pub fn compare(primary: &Outcome, other: &Outcome, rules: &Rules) -> Comparison {
    compare_cached(primary, other, rules, &mut None)
}

/// Compare the primary with the candidate and, when present, the secondary, parsing the
/// primary's body once for both.
pub fn compare_with_secondary(
    primary: &Outcome,
    candidate: &Outcome,
    secondary: Option<&Outcome>,
    rules: &Rules,
) -> (Comparison, Option<Comparison>) {
    let mut parsed = None;
    let c = compare_cached(primary, candidate, rules, &mut parsed);
    let s = secondary.map(|s| compare_cached(primary, s, rules, &mut parsed));
    (c, s)
}

fn compare_cached(
    primary: &Outcome,
    other: &Outcome,
    rules: &Rules,
    parsed: &mut body::PrimaryJson,
) -> Comparison {
    match (&primary.result, &other.result) {
        (OutcomeResult::Response(p), OutcomeResult::Response(o)) => responses(p, o, rules, parsed),
        _ => Comparison {
            differences: transport(primary, other),
            ..Comparison::default()
        },
    }
}

/// [`compare`] for two responses.
pub fn compare_responses(p: &RecordedResponse, o: &RecordedResponse, rules: &Rules) -> Comparison {
    responses(p, o, rules, &mut None)
}

fn responses(
    p: &RecordedResponse,
    o: &RecordedResponse,
    rules: &Rules,
    parsed: &mut body::PrimaryJson,
) -> Comparison {
    let body = body::compare_bodies(p, o, rules, parsed);
    let mut out = Comparison::default();
    if p.status != o.status {
        out.real(Difference {
            path: "status".into(),
            kind: DiffKind::Status,
            primary: Some(Value::from(p.status)),
            candidate: Some(Value::from(o.status)),
            detail: None,
        });
    }
    // Content-Length only restates the body; when both bodies were captured whole, the body
    // comparison already says everything it could.
    let whole = !p.truncated && !o.truncated;
    let bodies = headers::Bodies {
        whole,
        empty: whole && p.body.as_bytes().is_empty() && o.body.as_bytes().is_empty(),
    };
    headers::compare_headers(&p.headers, &o.headers, bodies, rules, &mut out);
    out.differences.extend(body.differences);
    out.suppressed.extend(body.suppressed);
    out.cut = body.cut;
    out.omitted = body.omitted;
    out.warnings = body.warnings;
    out.finish()
}

fn transport(primary: &Outcome, other: &Outcome) -> Vec<Difference> {
    let describe = |o: &Outcome| match &o.result {
        OutcomeResult::Response(r) => format!("response {}", r.status),
        OutcomeResult::Failure(f) => f.kind.as_str().to_string(),
    };
    if let (Some(a), Some(b)) = (primary.failure(), other.failure())
        && a.kind == b.kind
    {
        return Vec::new();
    }
    let message = [primary.failure(), other.failure()]
        .into_iter()
        .flatten()
        .map(|f| format!("{}: {}", f.kind.as_str(), f.message))
        .collect::<Vec<_>>()
        .join("; ");
    vec![Difference {
        path: "transport".into(),
        kind: DiffKind::Transport,
        primary: Some(Value::from(describe(primary))),
        candidate: Some(Value::from(describe(other))),
        detail: Some(message),
    }]
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "realworld_tests.rs"]
mod realworld_tests;
