//! Examples of a difference as the aggregate keeps them: the exchange id, the redacted
//! request line and body, both values cut to a fixed size. Everything here is redacted
//! before it is stored; nothing here counts or decides.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compare::Difference;
use crate::exchange::Exchange;
use crate::redact::{self, Redaction};

/// Example values longer than this (as JSON text) are cut.
const EXAMPLE_VALUE_BYTES: usize = 2048;

/// One exchange showing a difference, enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub exchange: u64,
    /// `METHOD /uri` as received.
    pub request: String,
    /// Redacted request body (cut), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The primary's value; `None` when absent (a JSON `null` is `Some(Value::Null)`, also
    /// when read back from `report.json`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub primary: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub candidate: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A key that is present holds a value, `null` included (plain `Option<Value>` would read
/// `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub(super) fn example(exchange: &Exchange, d: &Difference, redaction: &Redaction) -> Example {
    let request = &exchange.request;
    let mut body = request.body.clone();
    redact::redact_body_in(&mut body, &request.headers, redaction);
    let mut d = d.clone();
    redact::redact_difference(&mut d, redaction);
    Example {
        exchange: exchange.id,
        request: redact::display_request(&request.method, &request.uri, redaction),
        request_body: (!body.is_empty()).then(|| {
            cut(
                &String::from_utf8_lossy(body.as_bytes()),
                EXAMPLE_VALUE_BYTES,
            )
        }),
        primary: d.primary.as_ref().map(cut_value),
        candidate: d.candidate.as_ref().map(cut_value),
        detail: d.detail.as_ref().map(|s| cut(s, EXAMPLE_VALUE_BYTES * 4)),
    }
}

fn cut_value(v: &Value) -> Value {
    match v {
        Value::Array(_) | Value::Object(_) | Value::String(_) => {
            let text = v.to_string();
            if text.len() > EXAMPLE_VALUE_BYTES {
                Value::String(format!(
                    "{} … ({} bytes)",
                    cut(&text, EXAMPLE_VALUE_BYTES),
                    text.len()
                ))
            } else {
                v.clone()
            }
        }
        _ => v.clone(),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
