use super::*;
use crate::exchange::Body;

fn resp(ct: &str, body: impl Into<Body>, truncated: bool) -> RecordedResponse {
    RecordedResponse {
        status: 200,
        headers: vec![("content-type".into(), ct.into())],
        body: body.into(),
        truncated,
        ttfb_us: 1,
        total_us: 2,
    }
}

fn run(a: &RecordedResponse, b: &RecordedResponse) -> Vec<Difference> {
    compare_bodies(a, b, &Rules::default(), &mut None).differences
}

const JSON: &str = "application/json";

#[test]
fn invalid_json_under_json_content_type() {
    let d = run(
        &resp(JSON, "{\"a\":1}", false),
        &resp(JSON, "{\"a\":", false),
    );
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].path.as_str(), d[0].kind), ("body", DiffKind::Invalid));
    assert!(
        d[0].detail.as_deref().unwrap_or("").contains("EOF"),
        "{:?}",
        d[0]
    );
    // Both invalid: compared as text, no panic.
    let d = run(&resp(JSON, "{x", false), &resp(JSON, "{y", false));
    assert_eq!(d[0].kind, DiffKind::Text);
}

#[test]
fn nesting_past_the_parser_limit_is_invalid_not_a_crash() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let d = run(&resp(JSON, "[1]", false), &resp(JSON, deep.as_str(), false));
    assert_eq!(d[0].kind, DiffKind::Invalid);
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("deeper than 128")
    );
}

#[test]
fn truncated_captures() {
    let full = resp(JSON, "{\"a\":[1,2,3]}", false);
    let cut = resp(JSON, "{\"a\":[1,", true);
    let d = run(&full, &cut);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DiffKind::Truncated);
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("not compared")
    );
    assert!(run(&cut, &cut.clone()).is_empty());
    let other_cut = resp(JSON, "{\"a\":[2,", true);
    let d = run(&cut, &other_cut);
    assert_eq!(d[0].kind, DiffKind::Text);
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("both captures cut")
    );
}

#[test]
fn sse_content_and_framing_are_separate() {
    let sse = "text/event-stream";
    let a = resp(sse, "data: Hel\n\ndata: lo\n\ndata: [DONE]\n\n", false);
    let split = resp(sse, "data: H\n\ndata: ello\n\ndata: [DONE]\n\n", false);
    let d = run(&a, &split);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].detail.as_deref(),
        Some("events split differently: data lengths [3, 2] vs [1, 4]")
    );
    assert_eq!(
        (d[0].path.as_str(), d[0].kind),
        ("body:events", DiffKind::ValueChanged)
    );
    let other = resp(sse, "data: Hel\r\n\r\ndata: p\r\n\r\n", false);
    let d = run(&a, &other);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].path.as_str(), d[0].kind),
        ("body:data", DiffKind::Text)
    );
    assert!(d[0].detail.as_deref().unwrap_or("").contains("-Hello"));
    assert_eq!(
        sse_events("event: x\ndata: a\ndata: b\n\n: comment\n\n"),
        ["a\nb"]
    );
}

#[test]
fn text_binary_and_non_utf8() {
    let d = run(
        &resp("text/plain", "a\nb\n", false),
        &resp("text/plain", "a\nc", false),
    );
    assert_eq!(d[0].kind, DiffKind::Text);
    let detail = d[0].detail.clone().unwrap_or_default();
    assert!(
        detail.contains("-b\n+c\n") && !detail.contains("No newline"),
        "{detail}"
    );
    let bad = resp("text/plain", vec![0xff, 0xfe, b'a'], false);
    let d = run(&resp("text/plain", "a", false), &bad);
    assert_eq!(d[0].kind, DiffKind::Binary);
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("not valid UTF-8")
    );
    let png = "image/png";
    let d = run(
        &resp(png, "PNG1", false),
        &resp(png, vec![0x89u8, 3, 4], false),
    );
    assert_eq!(d[0].kind, DiffKind::Binary);
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("3 bytes sha256:")
    );
}

#[test]
fn json_is_sniffed_without_a_content_type_and_identical_bytes_skip_parsing() {
    let d = run(
        &resp("", "{\"a\":1}", false),
        &resp("", "{ \"a\": 2 }", false),
    );
    assert_eq!(
        (d[0].path.as_str(), d[0].kind),
        ("/a", DiffKind::ValueChanged)
    );
    let same = "{not json at all";
    assert!(run(&resp(JSON, same, false), &resp(JSON, same, false)).is_empty());
}

#[test]
fn invalid_utf8_and_lone_surrogates_inside_json_strings_are_invalid() {
    let mut bad = b"{\"name\":\"ann".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"\"}");
    let d = run(
        &resp(JSON, "{\"name\":\"ann\"}", false),
        &resp(JSON, bad, false),
    );
    assert_eq!((d.len(), d[0].kind), (1, DiffKind::Invalid), "{d:?}");
    let d = run(
        &resp(JSON, "{\"name\":\"ann\"}", false),
        &resp(JSON, r#"{"name":"\ud800"}"#, false),
    );
    assert_eq!((d.len(), d[0].kind), (1, DiffKind::Invalid), "{d:?}");
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("invalid JSON"),
        "{d:?}"
    );
}

#[test]
fn binary_that_looks_like_text_is_compared_as_bytes() {
    // Valid UTF-8, but NUL and control bytes: a binary file served as text/plain.
    let a = "PK\u{3}\u{4}\u{14}\u{0}\u{8}\u{0}archive";
    let b = "PK\u{3}\u{4}\u{14}\u{0}\u{8}\u{1}archive";
    let d = run(&resp("text/plain", a, false), &resp("text/plain", b, false));
    assert_eq!(d[0].kind, DiffKind::Binary, "{d:?}");
    assert!(
        d[0].detail
            .as_deref()
            .unwrap_or("")
            .contains("control bytes")
    );
    // Ordinary text with tabs and ANSI colours stays text.
    let d = run(
        &resp("text/plain", "a\tb\r\n\u{1b}[31mred\u{1b}[0m\n", false),
        &resp("text/plain", "a\tc\r\n", false),
    );
    assert_eq!(d[0].kind, DiffKind::Text);
}

#[test]
fn very_long_keys_give_bounded_paths() {
    let key = "k".repeat(100_000);
    let a = format!("{{\"{key}\":1}}");
    let b = format!("{{\"{key}\":2}}");
    let d = run(
        &resp(JSON, a.as_str(), false),
        &resp(JSON, b.as_str(), false),
    );
    assert_eq!(d.len(), 1);
    assert!(d[0].path.len() <= crate::compare::path::MAX_POINTER_BYTES + 4);
    assert!(d[0].path.ends_with('…'));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any bytes under any of the usual content types: never a panic, and differing bytes
    /// always give at least one difference (or a suppressed one).
    #[test]
    fn arbitrary_bodies_never_panic(
        a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ct in proptest::sample::select(vec![
            JSON, "text/plain", "text/event-stream", "application/octet-stream", "", "text/html; charset=utf-8",
        ]),
    ) {
        let c = compare_bodies(&resp(ct, a.clone(), false), &resp(ct, b.clone(), false), &Rules::default(), &mut None);
        let parsed = |x: &[u8]| serde_json::from_slice::<serde_json::Value>(x).ok();
        let same_json = parsed(&a).is_some() && parsed(&a) == parsed(&b);
        if a != b && !same_json {
            proptest::prop_assert!(!c.differences.is_empty() || !c.suppressed.is_empty() || ct == "text/event-stream");
        } else {
            proptest::prop_assert!(c.differences.is_empty());
        }
    }
}
