//! The `Exchange`: one client request and what each target answered.
//!
//! This is the one type that crosses module boundaries. Sources (proxy, replay, scenario,
//! load) produce exchanges; analyzers (diff, contract) read them; sinks (recording, report,
//! metrics) consume them together with the analysis. It is plain data: no I/O, no HTTP
//! client or server types, serialisable as one JSON line per exchange.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One request and each target's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    /// Completion sequence number, unique within one run: exchanges are numbered as they
    /// complete (all outcomes in), which is the order they reach the analysis.
    pub id: u64,
    /// Arrival sequence number, unique within one run: the order the requests reached
    /// cutover (`0` in recordings made before it was recorded).
    #[serde(default)]
    pub seq: u64,
    /// Who sent the request: a non-secret label (a JWT claim such as `sub`, or a short
    /// credential fingerprint `cred:1a2b3c`; `[identity] label`). Absent for anonymous
    /// requests, when switched off, and in recordings made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// When the request reached cutover.
    pub at: DateTime<Utc>,
    /// `METHOD /path` as received; grouping into templates happens in the analysis.
    pub route: String,
    pub request: RecordedRequest,
    pub outcomes: Outcomes,
    /// How the shadow copies were translated for their targets (`[translate]`, issue 12):
    /// one entry per shadow target the copy was prepared for. Absent when nothing was
    /// translated or left untranslated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub translation: Vec<TargetTranslation>,
}

/// How one shadow copy was prepared for its target (`[translate]`). Never holds a
/// credential: `credential` is a redaction marker of the target's credential that was sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TargetTranslation {
    /// The target's name.
    pub target: String,
    /// Who the credential belongs to (the name the identity's login gave, cut short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// `[REDACTED <kind> <class>]` of the target credential sent instead of the primary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Why the copy was not sent (`unknown_credential`, `no_target_credential`,
    /// `expired`, `unwritable_credential`); the target's outcome is then `untranslated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untranslated: Option<String>,
    /// Id mappings used: in the copy sent, and met in the target's answer (≤ 32).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<IdMapping>,
}

/// `primary` id ↔ `target` id (ids are not secrets; each ≤ 64 bytes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdMapping {
    pub primary: String,
    pub target: String,
}

/// The primary's outcome (always present) and the shadows' (when mirrored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcomes {
    pub primary: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Outcome>,
}

/// The request as the client sent it (before hop-by-hop removal), body possibly truncated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Origin-form URI: path and query.
    pub uri: String,
    pub headers: Headers,
    #[serde(default)]
    pub body: Body,
    /// The body was longer than the capture cap; `body` holds only the first part.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// What one target did with the request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// Configured target name (`monolith`, `auth`, ...).
    pub target: String,
    #[serde(flatten)]
    pub result: OutcomeResult,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeResult {
    Response(RecordedResponse),
    Failure(Failure),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Headers,
    #[serde(default)]
    pub body: Body,
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// Time to the response head, in microseconds since the request was sent.
    pub ttfb_us: u64,
    /// Time to the end of the body, in microseconds.
    pub total_us: u64,
}

/// A transport-level failure: no (complete) HTTP answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub elapsed_us: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Could not connect (refused, unreachable).
    Connect,
    /// No complete answer within the target's timeout.
    Timeout,
    /// The connection was reset or closed mid-answer.
    Reset,
    /// The peer spoke something that is not valid HTTP.
    Protocol,
    /// cutover did not send the request (shadow capacity full, body over the cap, ...).
    Dropped,
    /// The client went away before the primary's answer was complete: there is nothing to
    /// compare the candidate with (only ever a primary outcome; never a mismatch).
    ClientAborted,
    /// cutover did not send the copy: it presents a credential that has no learned
    /// counterpart on this target (`[translate]`). Reported as untranslated, never as a
    /// mismatch or an error, and outside the parity denominator.
    Untranslated,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Reset => "reset",
            FailureKind::Protocol => "protocol",
            FailureKind::Dropped => "dropped",
            FailureKind::ClientAborted => "client_aborted",
            FailureKind::Untranslated => "untranslated",
        }
    }
}

impl Exchange {
    /// The candidate's copy was not sent for want of a learned credential (`[translate]`).
    pub fn untranslated(&self) -> bool {
        self.outcomes
            .candidate
            .as_ref()
            .and_then(Outcome::failure)
            .is_some_and(|f| f.kind == FailureKind::Untranslated)
    }

    /// The client went away before the primary's answer was complete: nothing to compare.
    pub fn client_aborted(&self) -> bool {
        self.outcomes
            .primary
            .failure()
            .is_some_and(|f| f.kind == FailureKind::ClientAborted)
    }
}

/// Ordered header list; names lower-case, values lossily decoded as UTF-8.
pub type Headers = Vec<(String, String)>;

/// Look up the first header with this (lower-case) name.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl RecordedResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

impl Outcome {
    pub fn response(&self) -> Option<&RecordedResponse> {
        match &self.result {
            OutcomeResult::Response(r) => Some(r),
            OutcomeResult::Failure(_) => None,
        }
    }
    pub fn failure(&self) -> Option<&Failure> {
        match &self.result {
            OutcomeResult::Failure(f) => Some(f),
            OutcomeResult::Response(_) => None,
        }
    }
    /// Total time the target took, whatever the result.
    pub fn elapsed_us(&self) -> u64 {
        match &self.result {
            OutcomeResult::Response(r) => r.total_us,
            OutcomeResult::Failure(f) => f.elapsed_us,
        }
    }
}

/// A captured body. Serialised as a JSON string when it is UTF-8, otherwise as
/// `{"base64": "..."}`, so recordings stay readable and lossless.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body(pub Bytes);

impl Body {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body(Bytes::from(b))
    }
}
impl From<&str> for Body {
    fn from(s: &str) -> Self {
        Body(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use base64::Engine as _;
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(
                    "base64",
                    &base64::engine::general_purpose::STANDARD.encode(&self.0),
                )?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Binary { base64: String },
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(Body(Bytes::from(t))),
            Repr::Binary { base64 } => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(base64.as_bytes())
                    .map(|v| Body(Bytes::from(v)))
                    .map_err(serde::de::Error::custom)
            }
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Exchange {
        Exchange {
            translation: Vec::new(),
            id: 7,
            seq: 7,
            identity: None,
            at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            route: "GET /auth/me".into(),
            request: RecordedRequest {
                method: "GET".into(),
                uri: "/auth/me".into(),
                headers: vec![("accept".into(), "*/*".into())],
                body: Body::default(),
                truncated: false,
            },
            outcomes: Outcomes {
                primary: Outcome {
                    target: "monolith".into(),
                    result: OutcomeResult::Response(RecordedResponse {
                        status: 200,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: Body::from("{\"id\":1}"),
                        truncated: false,
                        ttfb_us: 10,
                        total_us: 12,
                    }),
                },
                secondary: None,
                candidate: Some(Outcome {
                    target: "auth".into(),
                    result: OutcomeResult::Failure(Failure {
                        kind: FailureKind::Timeout,
                        elapsed_us: 5_000_000,
                        message: String::new(),
                    }),
                }),
            },
        }
    }

    #[test]
    fn exchange_round_trips_through_one_json_line() {
        let ex = sample();
        let line = serde_json::to_string(&ex).expect("serialise");
        assert!(!line.contains('\n'));
        let back: Exchange = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, ex);
        // No identity: no field (older readers and files stay as they were).
        assert!(!line.contains("identity"));
        let labelled = Exchange {
            identity: Some("guest2".into()),
            ..sample()
        };
        let line = serde_json::to_string(&labelled).expect("serialise");
        assert!(line.contains(r#""identity":"guest2""#));
        let back: Exchange = serde_json::from_str(&line).expect("parse");
        assert_eq!(back.identity.as_deref(), Some("guest2"));
    }

    #[test]
    fn binary_body_is_base64_and_lossless() {
        let body = Body::from(vec![0xff, 0x00, 0x80]);
        let json = serde_json::to_value(&body).expect("serialise");
        assert_eq!(json, serde_json::json!({"base64": "/wCA"}));
        let back: Body = serde_json::from_value(json).expect("parse");
        assert_eq!(back, body);
    }
}
