//! Real-world shapes through the whole engine: FastAPI/Django/Node timestamps, rules that
//! never apply, media types, empty bodies, error pages, relations among volatile fields.

use serde_json::{Value, json};

use super::*;
use crate::compare::spec::{NormaliseRule, RuleSpec};

fn response(status: u16, content_type: Option<&str>, body: &str) -> Outcome {
    let mut headers = Vec::new();
    if let Some(ct) = content_type {
        headers.push(("content-type".to_string(), ct.to_string()));
    }
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Response(RecordedResponse {
            status,
            headers,
            body: body.into(),
            truncated: false,
            ttfb_us: 1,
            total_us: 2,
        }),
    }
}

fn json_response(body: &Value) -> Outcome {
    response(200, Some("application/json"), &body.to_string())
}

fn rules(normalise: &[(&str, NormaliserKind)]) -> Rules {
    let spec = RuleSpec {
        normalise: normalise
            .iter()
            .map(|(path, kind)| NormaliseRule {
                path: path.to_string(),
                kind: *kind,
            })
            .collect(),
        ..RuleSpec::default()
    };
    Rules::compile(&spec).unwrap_or_else(|e| panic!("{e}"))
}

fn kinds(c: &Comparison) -> Vec<String> {
    c.differences
        .iter()
        .map(|d| format!("{} {}", d.path, d.kind.as_str()))
        .collect()
}

#[test]
fn python_naive_timestamps_are_noise() {
    // FastAPI returning `datetime.isoformat()` from two processes.
    let a = json!({"id": 1, "created_at": "2026-11-22T10:49:54.811406", "seen": "2026-11-22 10:49:54.811406"});
    let b = json!({"id": 1, "created_at": "2026-11-22T10:49:55.102934", "seen": "2026-11-22 10:49:55.102934"});
    let c = compare(&json_response(&a), &json_response(&b), &Rules::default());
    assert!(c.is_match(), "{:?}", c.differences);
    assert_eq!(c.suppressed.len(), 2);
    assert!(c.warnings.is_empty());
}

#[test]
fn explicit_timestamp_and_token_rules_work_on_naive_values() {
    let a = json!({"user": {"updated_at": "2026-11-22 10:49:54"}});
    let b = json!({"user": {"updated_at": "2026-11-22 10:49:57"}});
    let (pa, pb) = (json_response(&a), json_response(&b));
    let ts = rules(&[("/**/updated_at", NormaliserKind::Timestamp)]);
    let c = compare(&pa, &pb, &ts);
    assert!(c.is_match() && c.warnings.is_empty(), "{c:?}");
    assert_eq!(
        c.suppressed[0].1.to_string(),
        "normaliser: timestamp (different instants) by rule /**/updated_at"
    );
    // A `token` rule over timestamps never applies: the values are still judged by the
    // automatic detectors (noise), and the rule is reported once with the value's shape.
    let token = rules(&[("/**/updated_at", NormaliserKind::Token)]);
    let c = compare(&pa, &pb, &token);
    assert!(c.is_match(), "{:?}", c.differences);
    assert_eq!(c.warnings.len(), 1);
    let w = &c.warnings[0];
    assert_eq!(w.rule, "normalise /**/updated_at as token");
    assert_eq!(w.path, "/user/updated_at");
    assert_eq!(w.shape, "\"dddd-dd-dd dd:dd:dd\"");
    assert!(!w.message().contains("10:49"), "{}", w.message());
}

#[test]
fn a_rule_that_never_applies_is_reported_once() {
    let a = json!({"items": [{"ts": "soon"}, {"ts": "later"}, {"ts": "never"}]});
    let b = json!({"items": [{"ts": "now"}, {"ts": "then"}, {"ts": "always"}]});
    let r = rules(&[("/items/*/ts", NormaliserKind::Timestamp)]);
    let c = compare(&json_response(&a), &json_response(&b), &r);
    assert_eq!(c.differences.len(), 3, "the values still count");
    assert_eq!(
        c.differences[0].detail.as_deref(),
        Some("neither side is a timestamp")
    );
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert_eq!(c.warnings[0].shape, "\"aaaa\"");
    assert_eq!(c.warnings[0].path, "/items/0/ts");
}

#[test]
fn epoch_rules() {
    let a = json!({"ts": 1_795_344_594, "ms": 1_795_344_594_811_i64});
    let b = json!({"ts": 1_795_344_599, "ms": 1_795_344_599_811_i64});
    let r = rules(&[
        ("/ts", NormaliserKind::EpochS),
        ("/ms", NormaliserKind::EpochMs),
    ]);
    let c = compare(&json_response(&a), &json_response(&b), &r);
    assert!(c.is_match() && c.warnings.is_empty(), "{c:?}");
    // Without the rules, numbers are never timestamps.
    let c = compare(&json_response(&a), &json_response(&b), &Rules::default());
    assert_eq!(kinds(&c), ["/ms value_changed", "/ts value_changed"]);
}

#[test]
fn updated_at_that_stops_moving_is_a_relation_change() {
    // The primary bumps `updated_at` on an update; the candidate never does.
    let a = json!({"id": 7, "created_at": "2026-11-22T10:00:00.000001Z", "updated_at": "2026-11-22T10:49:54.811406Z"});
    let b = json!({"id": 7, "created_at": "2026-11-22T10:00:01.000002Z", "updated_at": "2026-11-22T10:00:01.000002Z"});
    let c = compare(&json_response(&a), &json_response(&b), &Rules::default());
    assert_eq!(kinds(&c), ["/updated_at relation_changed"]);
    let d = &c.differences[0];
    assert_eq!(d.primary, Some(json!("updated_at > created_at")));
    assert_eq!(d.candidate, Some(json!("updated_at = created_at")));
    assert_eq!(c.suppressed.len(), 2, "each value alone is still noise");
    // Both sides moving: no relation change.
    let b2 = json!({"id": 7, "created_at": "2026-11-22T10:00:01Z", "updated_at": "2026-11-22T10:49:59Z"});
    let c = compare(&json_response(&a), &json_response(&b2), &Rules::default());
    assert!(
        c.differences
            .iter()
            .all(|d| d.kind != DiffKind::RelationChanged)
    );
}

#[test]
fn ids_that_stop_matching_are_a_relation_change() {
    let a = json!({"id": "0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e", "owner_id": "0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e"});
    let b = json!({"id": "7d0f3e2a-1b4c-4d5e-8f6a-9b0c1d2e3f4a", "owner_id": "1a2b3c4d-1b4c-4d5e-8f6a-9b0c1d2e3f4a"});
    let c = compare(&json_response(&a), &json_response(&b), &Rules::default());
    assert_eq!(kinds(&c), ["/owner_id relation_changed"]);
    assert_eq!(c.differences[0].primary, Some(json!("owner_id = id")));
    assert_eq!(c.differences[0].candidate, Some(json!("owner_id ≠ id")));
}

#[test]
fn precision_drop_is_reported() {
    let a = json!({"at": "2026-11-22T10:49:54.811406"});
    let b = json!({"at": "2026-11-22T10:49:55"});
    let c = compare(&json_response(&a), &json_response(&b), &Rules::default());
    assert_eq!(kinds(&c), ["/at precision_changed"]);
    assert_eq!(
        c.differences[0].candidate,
        Some(json!("whole seconds, no zone"))
    );
    // An ignore rule covers the path: nothing about it counts.
    let spec = RuleSpec {
        ignore: vec!["/at".into()],
        ..RuleSpec::default()
    };
    let r = Rules::compile(&spec).unwrap_or_default();
    assert!(compare(&json_response(&a), &json_response(&b), &r).is_match());
}

#[test]
fn json_charset_and_media_types() {
    let body = r#"{"ok":true}"#;
    let plain = response(200, Some("application/json"), body);
    let utf8 = response(200, Some("application/json; charset=utf-8"), body);
    let latin = response(200, Some("application/json; charset=latin-1"), body);
    let c = compare(&plain, &utf8, &Rules::default());
    assert!(c.is_match(), "{:?}", c.differences);
    assert_eq!(c.suppressed.len(), 1);
    let c = compare(&plain, &latin, &Rules::default());
    assert_eq!(kinds(&c), ["header:content-type header"]);
}

#[test]
fn headers_of_empty_bodies_are_not_compared() {
    let a = response(204, Some("text/html; charset=utf-8"), "");
    let b = response(204, Some("text/plain"), "");
    let c = compare(&a, &b, &Rules::default());
    assert!(c.is_match(), "{:?}", c.differences);
    assert_eq!(
        c.suppressed[0].1.to_string(),
        "header: content-type ignored: both bodies are empty"
    );
    // With a body, the media type counts.
    let a = response(200, Some("text/html"), "x");
    let b = response(200, Some("text/plain"), "x");
    assert_eq!(
        kinds(&compare(&a, &b, &Rules::default())),
        ["header:content-type header"]
    );
}

#[test]
fn a_text_error_page_is_a_content_type_change_not_invalid_json() {
    let a = response(200, Some("application/json"), r#"{"id":1}"#);
    let b = response(
        500,
        Some("text/plain; charset=utf-8"),
        "Internal Server Error",
    );
    let c = compare(&a, &b, &Rules::default());
    assert_eq!(
        kinds(&c),
        ["status status", "header:content-type header", "body text"]
    );
    let body = &c.differences[2];
    assert!(
        body.detail.as_deref().is_some_and(
            |d| d.contains("content types differ") && d.contains("Internal Server Error")
        ),
        "{body:?}"
    );
    // The same the other way round, and with an HTML error page.
    let html = response(502, Some("text/html"), "<html>Bad Gateway</html>");
    let c = compare(&html, &a, &Rules::default());
    assert!(c.differences.iter().all(|d| d.kind != DiffKind::Invalid));
    // A side that says JSON and is not is still `invalid`.
    let broken = response(200, Some("application/json"), "{\"id\":");
    let c = compare(&a, &broken, &Rules::default());
    assert_eq!(kinds(&c), ["body invalid"]);
}

#[test]
fn relations_are_compared_at_the_coarser_precision() {
    // The candidate writes `aware` in milliseconds: `seen` (microseconds, same moment) is
    // after it there, before it on the primary — an artefact of the precision, not a change.
    let a =
        json!({"seen": "2026-11-22 14:44:52.355382", "aware": "2026-11-22T14:44:52.355999+00:00"});
    let b = json!({"seen": "2026-11-22 14:44:53.100382", "aware": "2026-11-22T14:44:53.100Z"});
    let c = compare(&json_response(&a), &json_response(&b), &Rules::default());
    assert!(c.is_match(), "{:?}", c.differences);
}

#[test]
fn many_ids_do_not_crowd_out_timestamps() {
    // Keys sort before `updated_at`: eight tokens and UUIDs must not use up its place.
    let mut a = serde_json::Map::new();
    let mut b = serde_json::Map::new();
    for i in 0..9 {
        a.insert(
            format!("a{i}_id"),
            json!(format!("0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8{i}")),
        );
        b.insert(
            format!("a{i}_id"),
            json!(format!("7d0f3e2a-1b4c-4d5e-8f6a-9b0c1d2e3f4{i}")),
        );
    }
    a.insert("created_at".into(), json!("2026-11-22T10:00:00.000001"));
    a.insert("updated_at".into(), json!("2026-11-22T10:49:54.811406"));
    b.insert("created_at".into(), json!("2026-11-22T10:00:01.000002"));
    b.insert("updated_at".into(), json!("2026-11-22T10:00:01.000002"));
    let c = compare(
        &json_response(&Value::Object(a)),
        &json_response(&Value::Object(b)),
        &Rules::default(),
    );
    assert_eq!(kinds(&c), ["/updated_at relation_changed"]);
}
