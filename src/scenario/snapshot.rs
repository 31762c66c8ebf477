//! The normalised answer a snapshot keeps: status, the headers that carry meaning, and the
//! body with every volatile value replaced by what it is — by the parity engine's own rules
//! and detectors (`compare::Rules`: ignored paths, tolerances and named normalisers;
//! `compare::normalise::AUTOMATIC`: timestamps, JWTs, UUIDs), so a snapshot changes exactly
//! when a parity comparison would count a difference.
//!
//! Pure: no I/O, no clock.

use serde_json::{Map, Value, json};

use crate::compare::Rules;
use crate::compare::normalise::{AUTOMATIC, NormaliserKind};
use crate::compare::path::Seg;
use crate::exchange::RecordedResponse;

/// Headers kept in snapshots (the rest are transport detail or noise).
const KEPT_HEADERS: &[&str] = &["content-type", "location", "www-authenticate", "set-cookie"];

/// A response as a snapshot keeps it.
pub fn normalised(resp: &RecordedResponse, rules: &Rules) -> Value {
    let mut headers = Map::new();
    for name in KEPT_HEADERS {
        let values: Vec<Value> = resp
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Value::String(header_value(name, v)))
            .collect();
        match values.len() {
            0 => {}
            1 => {
                headers.insert(
                    name.to_string(),
                    values.into_iter().next().unwrap_or_default(),
                );
            }
            _ => {
                headers.insert(name.to_string(), Value::Array(values));
            }
        }
    }
    let bytes = resp.body.as_bytes();
    let body = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) if !bytes.is_empty() => {
            let mut path = Vec::new();
            walk(&mut v, &mut path, rules);
            v
        }
        _ => match std::str::from_utf8(bytes) {
            Ok("") => Value::Null,
            Ok(text) => Value::String(text.to_string()),
            Err(_) => Value::String(format!("[binary, {} bytes]", bytes.len())),
        },
    };
    json!({"status": resp.status, "headers": headers, "body": body})
}

/// A cookie keeps its name and attributes; a volatile value becomes its kind.
fn header_value(name: &str, v: &str) -> String {
    if name != "set-cookie" {
        return v.to_string();
    }
    let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
    let (cookie, value) = pair.split_once('=').unwrap_or((pair, ""));
    let value = volatile(&Value::String(value.to_string()))
        .map_or_else(|| value.to_string(), |k| format!("[{}]", k.as_str()));
    if attrs.is_empty() {
        format!("{cookie}={value}")
    } else {
        format!("{cookie}={value};{attrs}")
    }
}

fn volatile(v: &Value) -> Option<NormaliserKind> {
    AUTOMATIC.into_iter().find(|k| k.detects(v))
}

/// Replace volatile values in place. Recursion depth is the body's nesting, which the
/// capture cap bounds; scenario answers are small.
fn walk(v: &mut Value, path: &mut Vec<String>, rules: &Rules) {
    let replacement = {
        let segs: Vec<Seg<'_>> = path
            .iter()
            .map(|s| match s.strip_prefix('#').and_then(|i| i.parse().ok()) {
                Some(i) => Seg::Index(i),
                None => Seg::Key(s.as_str()),
            })
            .collect();
        if rules.ignored(&segs).is_some() {
            Some("[ignored]".to_string())
        } else if v.is_number() && rules.tolerance_at(&segs).is_some() {
            Some("[number within tolerance]".to_string())
        } else if let Some((_, kind)) = rules.normaliser_at(&segs).filter(|(_, k)| k.detects(v)) {
            Some(format!("[{}]", kind.as_str()))
        } else {
            volatile(v).map(|k| format!("[{}]", k.as_str()))
        }
    };
    if let Some(r) = replacement {
        *v = Value::String(r);
        return;
    }
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("#{i}"));
                walk(item, path, rules);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(k.clone());
                walk(item, path, rules);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::RuleSpec;
    use crate::exchange::Body;

    #[test]
    fn volatile_values_become_their_kind_and_rules_apply() {
        let rules = Rules::compile(&RuleSpec {
            tolerance: vec![crate::compare::spec::ToleranceRule {
                path: "/latency_ms".into(),
                abs: Some(1000.0),
                pct: None,
            }],
            ..RuleSpec::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
        let resp = RecordedResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-request-id".into(), "1".into()),
                ("set-cookie".into(), format!("access_token={jwt}; HttpOnly")),
            ],
            body: Body::from(
                format!(
                    r#"{{"id": 1, "t": "{jwt}", "at": "2026-01-01T00:00:00Z", "latency_ms": 17}}"#
                )
                .as_str(),
            ),
            truncated: false,
            ttfb_us: 0,
            total_us: 0,
        };
        let v = normalised(&resp, &rules);
        assert_eq!(
            v,
            json!({"status": 200,
                "headers": {"content-type": "application/json",
                    "set-cookie": "access_token=[jwt]; HttpOnly"},
                "body": {"id": 1, "t": "[jwt]", "at": "[timestamp]",
                    "latency_ms": "[number within tolerance]"}})
        );
    }
}
