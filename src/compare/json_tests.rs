use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::compare::MAX_DIFFERENCES;
use crate::compare::spec::NormaliserKind;
use crate::compare::spec::{NormaliseRule, RuleSpec, ToleranceRule, UnorderedRule};
use crate::compare::value::drop_iteratively;

fn diff(a: &Value, b: &Value, rules: &Rules) -> Comparison {
    let mut out = Comparison::default();
    diff_values(a, b, rules, &mut out);
    out
}

fn strict(a: &Value, b: &Value) -> Vec<Difference> {
    diff(a, b, &Rules::strict()).differences
}

fn rules(spec: RuleSpec) -> Rules {
    Rules::compile(&spec).unwrap_or_else(|e| panic!("{e}"))
}

fn summary(ds: &[Difference]) -> Vec<(String, &'static str)> {
    ds.iter()
        .map(|d| (d.path.clone(), d.kind.as_str()))
        .collect()
}

fn reasons(c: &Comparison) -> Vec<(String, String)> {
    c.suppressed
        .iter()
        .map(|(d, r)| (d.path.clone(), r.to_string()))
        .collect()
}

#[test]
fn kinds_and_pointer_paths() {
    let a = json!({"user": {"id": 1, "name": "a", "tags": ["x"], "a/b": 1, "gone": true}});
    let b = json!({"user": {"id": "1", "name": "b", "tags": ["x", "y"], "a/b": 2, "new": null}});
    let got = summary(&strict(&a, &b));
    assert_eq!(
        got,
        [
            ("/user/a~1b".to_string(), "value_changed"),
            ("/user/gone".into(), "missing"),
            ("/user/id".into(), "type_changed"),
            ("/user/name".into(), "value_changed"),
            ("/user/new".into(), "extra"),
            ("/user/tags".into(), "array_length"),
            ("/user/tags/1".into(), "extra"),
        ]
    );
}

#[test]
fn key_order_and_number_representation_do_not_matter() {
    let a: Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap_or_default();
    let b: Value = serde_json::from_str("{ \"b\" : [1.0, 2],\n \"a\" : 1 }").unwrap_or_default();
    assert!(strict(&a, &b).is_empty());
}

#[test]
fn arrays_align_insertions_and_detect_reordering() {
    let a = json!([1, 2, 3, 4]);
    let got = summary(&strict(&a, &json!([0, 1, 2, 3, 4])));
    assert_eq!(
        got,
        [("".to_string(), "array_length"), ("/0".into(), "extra")]
    );
    let got = summary(&strict(&a, &json!([1, 3, 4])));
    assert_eq!(
        got,
        [("".to_string(), "array_length"), ("/1".into(), "missing")]
    );
    let got = strict(&a, &json!([4, 3, 2, 1]));
    assert_eq!(summary(&got), [("".to_string(), "order_only")]);
    assert_eq!(got[0].candidate, Some(json!([4, 3, 2, 1])));
}

#[test]
fn ignore_rules_suppress_with_reason() {
    let r = rules(RuleSpec {
        ignore: vec!["/**/created_at".into(), "/meta".into()],
        ..RuleSpec::default()
    });
    let a = json!({"items": [{"id": 1, "created_at": 5}], "meta": {"x": [1]}, "id": 1});
    let b = json!({"items": [{"id": 1, "created_at": "x"}], "meta": {"x": [2]}, "id": 2});
    let c = diff(&a, &b, &r);
    assert_eq!(
        summary(&c.differences),
        [("/id".to_string(), "value_changed")]
    );
    assert_eq!(
        reasons(&c),
        [
            (
                "/items/0/created_at".to_string(),
                "rule: ignore /**/created_at".into()
            ),
            ("/meta".into(), "rule: ignore /meta".into()),
        ]
    );
}

#[test]
fn unordered_arrays_by_key_and_by_value() {
    let r = rules(RuleSpec {
        unordered: vec![
            UnorderedRule {
                path: "/users".into(),
                key: Some("id".into()),
            },
            UnorderedRule {
                path: "/tags".into(),
                key: None,
            },
        ],
        ..RuleSpec::default()
    });
    let a = json!({"users": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}], "tags": ["x", "y", "z"]});
    let b = json!({"users": [{"id": 2, "n": "B"}, {"id": 1, "n": "a"}, {"id": 3}], "tags": ["z", "x", "w"]});
    let c = diff(&a, &b, &r);
    assert_eq!(
        summary(&c.differences),
        [
            ("/tags/1".to_string(), "missing"),
            ("/tags/2".into(), "extra"),
            ("/users/2".into(), "extra"),
            ("/users/1/n".into(), "value_changed"),
        ]
    );
    assert!(
        reasons(&c)
            .iter()
            .all(|(_, r)| r.starts_with("rule: unordered"))
    );
}

#[test]
fn tolerance_and_named_normalisers() {
    let r = rules(RuleSpec {
        tolerance: vec![ToleranceRule {
            path: "/price".into(),
            abs: Some(5.0),
            pct: None,
        }],
        normalise: vec![NormaliseRule {
            path: "/session".into(),
            kind: NormaliserKind::Token,
        }],
        ..RuleSpec::default()
    });
    let a = json!({"price": 100, "total": 100, "session": "a8F3k2LmQ9xZ7wB1"});
    let b = json!({"price": 104.5, "total": 101, "session": "Zz9yX8wV7uT6sR5q"});
    let c = diff(&a, &b, &r);
    assert_eq!(
        summary(&c.differences),
        [("/total".to_string(), "value_changed")]
    );
    assert_eq!(
        reasons(&c),
        [
            ("/price".to_string(), "tolerance ±5".into()),
            (
                "/session".into(),
                "normaliser: token (both sides of this kind) by rule /session".into()
            ),
        ]
    );
    let c = diff(&a, &json!({"price": 100, "total": 100, "session": 7}), &r);
    assert_eq!(
        summary(&c.differences),
        [("/session".to_string(), "type_changed")]
    );
}

#[test]
fn automatic_normalisers_keep_kind_changes_real() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    let jwt2 = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.c2lnMg";
    let a = json!({"at": "2026-01-02T03:04:05Z", "id": "0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e",
                   "token": jwt, "seen": "2026-01-02T03:04:05Z"});
    let b = json!({"at": "2026-01-02T03:04:05.000+00:00", "id": "7d0f3e2a-1b4c-4d5e-8f6a-9b0c1d2e3f4a",
                   "token": jwt2, "seen": 1767323045});
    let c = diff(&a, &b, &Rules::default());
    assert_eq!(
        summary(&c.differences),
        [("/seen".to_string(), "type_changed")]
    );
    assert_eq!(
        reasons(&c),
        [
            (
                "/at".to_string(),
                "normaliser: timestamp (same instant, different format)".into()
            ),
            (
                "/id".into(),
                "normaliser: uuid (both sides of this kind)".into()
            ),
            (
                "/token".into(),
                "normaliser: jwt (both sides of this kind)".into()
            ),
        ]
    );
    let c = diff(
        &json!({"t": jwt}),
        &json!({"t": "opaque"}),
        &Rules::default(),
    );
    assert_eq!(c.differences.len(), 1);
    assert!(
        c.differences[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("jwt")
    );
}

#[test]
fn deep_values_do_not_overflow() {
    let mut a = json!(1);
    let mut b = json!(2);
    for _ in 0..10_000 {
        a = Value::Array(vec![a]);
        b = Value::Array(vec![b]);
    }
    let c = diff(&a, &b, &Rules::default());
    assert_eq!(c.differences.len(), 1);
    // The path is cut at MAX_POINTER_BYTES and says so.
    let path = &c.differences[0].path;
    assert!(path.ends_with('…') && path.len() <= crate::compare::path::MAX_POINTER_BYTES + 4);
    assert!(path.starts_with("/0/0/0/"));
    let wrapped = Value::Object([("x".to_string(), a)].into_iter().collect());
    let c = diff(&wrapped, &json!({}), &Rules::default());
    assert_eq!(c.differences[0].kind, DiffKind::Missing);
    drop_iteratively(wrapped);
    drop_iteratively(b);
}

#[test]
fn huge_arrays_are_bounded() {
    let a = Value::Array((0..1_000_000).map(Value::from).collect());
    let b = Value::Array((0..1_000_000).map(|i| Value::from(i + 1)).collect());
    let c = diff(&a, &b, &Rules::strict());
    assert!(c.cut);
    assert_eq!(c.differences.len(), MAX_DIFFERENCES + 1);
    assert_eq!(c.differences.last().map(|d| d.kind), Some(DiffKind::Limit));
    let r = rules(RuleSpec {
        unordered: vec![UnorderedRule {
            path: "/".into(),
            key: None,
        }],
        ..RuleSpec::default()
    });
    let a = Value::Array((0..100_000).map(Value::from).collect());
    let rev = Value::Array((0..100_000).rev().map(Value::from).collect());
    let c = diff(&a, &rev, &r);
    assert!(c.differences.is_empty());
}

// ---- properties ----------------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-20i64..20).prop_map(Value::from),
        (-10.0f64..10.0).prop_map(|f| json!(f)),
        "[a-c/~]{0,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-d/~]{0,2}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Apply reported differences to `a` (what a reader of the report would do).
fn apply(a: &Value, diffs: &[Difference]) -> Value {
    let mut v = a.clone();
    let mut removals = Vec::new();
    let mut inserts = Vec::new();
    for d in diffs {
        match d.kind {
            DiffKind::ValueChanged | DiffKind::TypeChanged | DiffKind::OrderOnly => {
                if let (Some(slot), Some(new)) = (v.pointer_mut(&d.path), &d.candidate) {
                    *slot = new.clone();
                }
            }
            DiffKind::Missing => removals.push(d.path.clone()),
            DiffKind::Extra => inserts.push(d),
            _ => {}
        }
    }
    let split = |p: &str| {
        let (parent, last) = p.rsplit_once('/').unwrap_or(("", p));
        (
            parent.to_string(),
            last.replace("~1", "/").replace("~0", "~"),
        )
    };
    let index = |s: &str| s.parse::<usize>().unwrap_or(usize::MAX);
    removals.sort_by_key(|p| std::cmp::Reverse(index(&split(p).1)));
    for p in removals {
        let (parent, last) = split(&p);
        match v.pointer_mut(&parent) {
            Some(Value::Object(m)) => {
                m.remove(&last);
            }
            Some(Value::Array(xs)) if index(&last) < xs.len() => {
                xs.remove(index(&last));
            }
            _ => {}
        }
    }
    inserts.sort_by_key(|d| index(&split(&d.path).1));
    for d in inserts {
        let (parent, last) = split(&d.path);
        let new = d.candidate.clone().unwrap_or_default();
        match v.pointer_mut(&parent) {
            Some(Value::Object(m)) => {
                m.insert(last, new);
            }
            Some(Value::Array(xs)) if index(&last) <= xs.len() => xs.insert(index(&last), new),
            _ => {}
        }
    }
    v
}

fn swapped(d: &Difference) -> (String, DiffKind, Option<Value>, Option<Value>) {
    let kind = match d.kind {
        DiffKind::Missing => DiffKind::Extra,
        DiffKind::Extra => DiffKind::Missing,
        k => k,
    };
    (d.path.clone(), kind, d.candidate.clone(), d.primary.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn diff_of_a_value_with_itself_is_empty(a in arb_json()) {
        let c = diff(&a, &a, &Rules::default());
        prop_assert!(c.differences.is_empty());
        prop_assert!(c.suppressed.is_empty());
    }

    #[test]
    fn diff_is_symmetric_up_to_direction(a in arb_json(), b in arb_json()) {
        let mut ab: Vec<_> = strict(&a, &b).iter().map(swapped).collect();
        let mut ba: Vec<_> = strict(&b, &a)
            .iter()
            .map(|d| (d.path.clone(), d.kind, d.primary.clone(), d.candidate.clone()))
            .collect();
        let key = |x: &(String, DiffKind, Option<Value>, Option<Value>)| (x.0.clone(), x.1);
        ab.sort_by_key(key);
        ba.sort_by_key(key);
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn applying_the_differences_yields_the_other_side(a in arb_json(), b in arb_json()) {
        let diffs = strict(&a, &b);
        let patched = apply(&a, &diffs);
        prop_assert!(equal(&patched, &b), "a={} b={} patched={} diffs={:?}", a, b, patched, diffs);
    }
}

#[test]
fn reordering_hidden_behind_noise_is_order_only() {
    // Same users, other order; each element's timestamp differs only in format/instant.
    let a = serde_json::json!([
        {"id": 1, "name": "carol", "created_at": "2026-01-02T03:04:05.000001Z"},
        {"id": 2, "name": "alice", "created_at": "2026-01-02T03:04:06.000001Z"}
    ]);
    let b = serde_json::json!([
        {"id": 2, "name": "alice", "created_at": "2026-01-02T03:04:06.5+00:00"},
        {"id": 1, "name": "carol", "created_at": "2026-01-02T03:04:05.5+00:00"}
    ]);
    let mut out = Comparison::default();
    diff_values(&a, &b, &Rules::default(), &mut out);
    let kinds: Vec<_> = out
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind))
        .collect();
    assert_eq!(kinds, [("", DiffKind::OrderOnly)]);
    assert!(
        out.suppressed
            .iter()
            .any(|(d, _)| d.path.ends_with("/created_at"))
    );

    // A real change inside one element is not an order problem.
    let c = serde_json::json!([
        {"id": 1, "name": "carol", "created_at": "2026-01-02T03:04:05.5+00:00"},
        {"id": 2, "name": "ALICE", "created_at": "2026-01-02T03:04:06.5+00:00"}
    ]);
    let mut out = Comparison::default();
    diff_values(&a, &c, &Rules::default(), &mut out);
    let kinds: Vec<_> = out
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind))
        .collect();
    assert_eq!(kinds, [("/1/name", DiffKind::ValueChanged)]);
}

/// Redacted values (markers) reach the verdict the raw values reach: the same differing
/// paths with the same kinds, and the same number of suppressed ones.
#[test]
fn markers_reach_the_verdict_of_the_raw_values() {
    use crate::redact::marker::value_marker;
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    let jwt2 = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.c2lnMg";
    let token_rule = rules(RuleSpec {
        normalise: vec![NormaliseRule {
            path: "/t".into(),
            kind: NormaliserKind::Token,
        }],
        ..RuleSpec::default()
    });
    let cases = [
        (json!(jwt), json!(12345)),
        (json!(jwt), json!(jwt2)),
        (json!(jwt), json!(jwt)),
        (json!(jwt), json!("opaque")),
        (
            json!("0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e"),
            json!("7d0f3e2a-1b4c-4d5e-8f6a-9b0c1d2e3f4a"),
        ),
        (json!("a8F3k2LmQ9xZ7wB1"), json!("Zx9a8F3k2LmQ7wB1")),
        (json!("hunter2"), json!("hunter3")),
        (json!("123"), json!(123)),
        (json!(7), json!(7.0)),
        (json!(true), json!("true")),
        (json!({"a": 1}), json!([1])),
    ];
    for r in [Rules::default(), token_rule] {
        for (a, b) in &cases {
            let raw = diff(&json!({"t": a}), &json!({"t": b}), &r);
            let (ma, mb) = (json!(value_marker(a)), json!(value_marker(b)));
            let marked = diff(&json!({"t": ma}), &json!({"t": mb}), &r);
            assert_eq!(
                summary(&raw.differences),
                summary(&marked.differences),
                "{a} vs {b}: {:?} / {:?}",
                raw.differences,
                marked.differences
            );
            assert_eq!(raw.suppressed.len(), marked.suppressed.len(), "{a} vs {b}");
        }
    }
}
