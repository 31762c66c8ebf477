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
