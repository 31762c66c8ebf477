//! Renderer tests on built models: what leads, `null` vs absent, unified diffs, ordering,
//! array-position grouping, the summary's size bound, JUnit attributes, the JSON schema.

use chrono::Utc;

use super::model::RouteReport;
use super::*;
use crate::config::Config;
use crate::exchange::*;
use crate::pipeline::Aggregate;

fn response(status: u16, content_type: &str, body: &str) -> OutcomeResult {
    OutcomeResult::Response(RecordedResponse {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: Body::from(body),
        truncated: false,
        ttfb_us: 1_000,
        total_us: 1_000,
    })
}

/// One exchange on `GET {path}`: the primary answers 200, the candidate `status`.
fn exchange(
    id: u64,
    path: &str,
    ct: &str,
    primary: &str,
    candidate: &str,
    status: u16,
) -> Exchange {
    Exchange {
        translation: Vec::new(),
        id,
        seq: id,
        at: Utc::now(),
        route: format!("GET {path}"),
        identity: None,
        request: RecordedRequest {
            method: "GET".into(),
            uri: path.into(),
            headers: Vec::new(),
            body: Body::default(),
            truncated: false,
        },
        outcomes: Outcomes {
            primary: Outcome {
                target: "monolith".into(),
                result: response(200, ct, primary),
            },
            secondary: None,
            candidate: Some(Outcome {
                target: "auth".into(),
                result: response(status, ct, candidate),
            }),
        },
    }
}

const JSON: &str = "application/json";

fn config() -> Config {
    let text = r#"
[targets]
monolith = { url = "http://127.0.0.1:1", role = "primary" }
auth = { url = "http://127.0.0.1:2" }
ai = { url = "http://127.0.0.1:3" }

[[routes]]
match = "/auth/**"
candidate = "auth"

[[routes]]
match = "/ai/**"
candidate = "ai"
"#;
    Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn build(exchanges: &[Exchange]) -> Report {
    let config = config();
    let analyzer = crate::pipeline::analyzer_for(&config);
    let mut agg = Aggregate::default();
    for ex in exchanges {
        agg.add(ex, &analyzer.analyze(ex));
    }
    let run = RunInfo {
        id: "render".into(),
        generated_at: Utc::now(),
        source: "test".into(),
        duration_ms: Some(1_500),
        ..RunInfo::default()
    };
    Report::build(
        &agg,
        &ReportContext {
            config: &config,
            run,
        },
    )
}

/// Every output as text: terminal hint per route, summary.md, index.html (with `/`
/// unescaped), junit.xml.
struct Outputs {
    terminal: String,
    markdown: String,
    html: String,
    junit: String,
}

fn outputs(report: &Report) -> Outputs {
    Outputs {
        terminal: report
            .routes
            .iter()
            .map(|r| format!("{}{}\n", r.route, terminal::failure_hint(r)))
            .collect(),
        markdown: markdown::render(report),
        html: html::render(report)
            .expect("renders")
            .replace("&#x2f;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&gt;", ">")
            .replace("&lt;", "<"),
        junit: junit::render(report).expect("renders"),
    }
}

pub(super) fn route<'a>(report: &'a Report, name: &str) -> &'a RouteReport {
    report
        .routes
        .iter()
        .find(|r| r.route == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// `/ai/status` answers 500 with a different body on two of four exchanges (status change
/// and the body fields it caused); `/ai/models` differs in a body field only.
pub(super) fn status_report() -> Report {
    let ok = r#"{"ok":true,"model":"m1","count":3}"#;
    let boom = r#"{"detail":"boom"}"#;
    let mut exchanges = Vec::new();
    for i in 0..4 {
        let (candidate, status) = if i % 2 == 0 { (boom, 500) } else { (ok, 200) };
        exchanges.push(exchange(i, "/ai/status", JSON, ok, candidate, status));
    }
    for i in 10..14 {
        exchanges.push(exchange(
            i,
            "/ai/models",
            JSON,
            r#"{"n":1}"#,
            r#"{"n":2}"#,
            200,
        ));
    }
    build(&exchanges)
}

#[test]
fn a_status_change_leads_its_route_in_every_output() {
    let report = status_report();
    let status = route(&report, "GET /ai/status");
    assert_eq!(status.differences[0].path, "status");
    let folded: Vec<_> = status.differences[1..]
        .iter()
        .map(|d| (d.path.as_str(), d.headline.as_deref()))
        .collect();
    assert!(folded.len() >= 3, "{folded:?}");
    assert!(
        folded.iter().all(|(_, h)| *h == Some("status")),
        "body differences folded under the status change: {folded:?}"
    );
    // The 5xx route is the worst one and comes first everywhere.
    assert_eq!(report.routes[0].route, "GET /ai/status");

    let out = outputs(&report);
    let line = out.terminal.lines().next().expect("a line");
    assert!(
        line.contains("— status 200 → 500 (2×) (+"),
        "terminal leads with the status change: {line}"
    );
    let md = &out.markdown;
    let head = md
        .find("- **status 200 → 500 (2×)** in 2 of 4 exchanges")
        .expect("status headline in summary.md");
    let body = md.find("  - `/detail` extra").expect("folded body path");
    assert!(head < body, "{md}");
    assert!(md.find("**`GET /ai/status`**") < md.find("**`GET /ai/models`**"));
    let html = &out.html;
    let lead = html
        .find("<strong>status 200 → 500 (2×)</strong>")
        .expect("lead in html");
    let folded_at = html[lead..].find("class=\"folded\"").expect("folded block") + lead;
    assert!(html[folded_at..].find("/detail") < html[folded_at..].find("GET /ai/models"));
    assert!(html.contains("class=\"lead server-error\""), "5xx marked");
    assert!(
        out.junit.contains("type=\"status\""),
        "failure type of a status change: {}",
        out.junit
    );
    assert!(
        out.junit
            .contains("message=\"status 200 → 500 (2×) in 2 of 4 exchanges"),
        "{}",
        out.junit
    );
    assert!(
        out.junit.contains("type=\"value_changed\""),
        "{}",
        out.junit
    );
}

#[test]
fn a_difference_also_seen_without_a_status_change_is_not_folded() {
    let mut exchanges = Vec::new();
    for i in 0..4 {
        let status = if i == 0 { 500 } else { 200 };
        exchanges.push(exchange(
            i,
            "/ai/status",
            JSON,
            r#"{"v":1}"#,
            r#"{"v":2}"#,
            status,
        ));
    }
    let report = build(&exchanges);
    let r = &report.routes[0];
    let v = r.differences.iter().find(|d| d.path == "/v").expect("/v");
    assert_eq!(v.count, 4);
    assert_eq!(v.headline, None);
    let view = view::route_view(r);
    assert_eq!(view.leads.len(), 1);
    assert!(view.leads[0].folded.is_empty());
    assert_eq!(view.rest[0].shape, "/v");
}

#[test]
fn null_is_never_shown_as_absent() {
    let exchanges = [exchange(
        1,
        "/auth/me",
        JSON,
        r#"{"a":null,"b":1}"#,
        r#"{"b":null}"#,
        200,
    )];
    let report = build(&exchanges);
    let r = &report.routes[0];
    let a = r.differences.iter().find(|d| d.path == "/a").expect("/a");
    assert_eq!(a.examples[0].primary, Some(serde_json::Value::Null));
    assert_eq!(a.examples[0].candidate, None);
    // report.json keeps `null` distinct from absent when read back.
    let back: Report =
        serde_json::from_str(&serde_json::to_string(&report).expect("json")).expect("parses");
    assert_eq!(back, report);

    let out = outputs(&report);
    assert!(
        out.markdown
            .contains("`/a` missing in 1 of 1 exchanges — e.g. `GET /auth/me`: primary `null`, candidate `(absent)`"),
        "{}",
        out.markdown
    );
    assert!(
        out.markdown
            .contains("`/b` type_changed in 1 of 1 exchanges — e.g. `GET /auth/me`: primary `1`, candidate `null`"),
        "{}",
        out.markdown
    );
    assert!(
        out.html
            .contains("<td class=\"primary-val\"><pre>null</pre>"),
        "{}",
        out.html
    );
    assert!(out.html.contains("<pre class=\"absent\">(absent)</pre>"));
    assert!(
        out.html
            .contains("<td class=\"candidate-val\"><pre>null</pre>")
    );
    assert!(out.junit.contains("primary null / candidate (absent)"));
    assert!(out.junit.contains("primary 1 / candidate null"));
}

#[test]
fn text_and_sse_bodies_render_as_unified_diffs() {
    let exchanges = [
        exchange(
            1,
            "/auth/text",
            "text/plain",
            "alpha\nbeta\ngamma",
            "alpha\nBETA\ngamma",
            200,
        ),
        exchange(
            2,
            "/ai/stream",
            "text/event-stream",
            "data: hello\n\ndata: world\n\n",
            "data: hello\n\ndata: there\n\n",
            200,
        ),
    ];
    let report = build(&exchanges);
    let out = outputs(&report);
    let md = &out.markdown;
    assert!(md.contains("```diff\n"), "{md}");
    assert!(md.contains("\n  -beta\n  +BETA\n"), "{md}");
    assert!(
        md.contains("+helloworld") || md.contains("+hellothere"),
        "{md}"
    );
    assert!(!md.contains("(absent)"), "{md}");
    let html = &out.html;
    assert!(html.contains("<span class=\"del\">-beta</span>"), "{html}");
    assert!(html.contains("<span class=\"add\">+BETA</span>"), "{html}");
    assert!(html.contains("<span class=\"hunk\">@@"), "{html}");
    assert!(
        html.contains("<span class=\"add\">+hellothere</span>"),
        "{html}"
    );
    assert!(!html.contains("(absent)"), "{html}");
    assert!(out.junit.contains("  -beta\n"), "{}", out.junit);
    assert!(out.junit.contains("  +BETA\n"), "{}", out.junit);
}

#[test]
fn array_positions_are_grouped_the_same_way_everywhere() {
    let exchanges = [exchange(
        1,
        "/auth/list",
        JSON,
        r#"{"items":[{"x":1,"t":"2026-01-01T00:00:01Z"},{"x":2,"t":"2026-01-01T00:00:02Z"},{"x":3,"t":"2026-01-01T00:00:03Z"}]}"#,
        r#"{"items":[{"x":"1","t":"2026-01-01T00:01:01Z"},{"x":"2","t":"2026-01-01T00:01:02Z"},{"x":"3","t":"2026-01-01T00:01:03Z"}]}"#,
        200,
    )];
    let report = build(&exchanges);
    assert_eq!(
        report.routes[0].differences.len(),
        3,
        "json keeps every path"
    );
    let out = outputs(&report);
    assert!(
        out.terminal
            .contains("/items/*/x type_changed (at 3 array positions)"),
        "{}",
        out.terminal
    );
    assert!(
        out.markdown
            .contains("`/items/*/x` type_changed in 1 of 1 exchanges (at 3 array positions)"),
        "{}",
        out.markdown
    );
    assert_eq!(
        out.markdown.matches("/items/").count(),
        2,
        "one line each: {}",
        out.markdown
    );
    assert!(
        out.markdown.contains(
            "`GET /auth/list` `/items/*/t` (at 3 array positions): normaliser: timestamp"
        ),
        "{}",
        out.markdown
    );
    assert!(
        out.html.contains(
            "<code>/items/*/t</code> <span class=\"muted\">(at 3 array positions)</span>"
        ),
        "{}",
        out.html
    );
    assert!(out.html.contains(
        "<code>/items/*/x</code> — type_changed in 1 of 1 exchanges (at 3 array positions)"
    ));
    assert!(
        out.junit
            .contains("/items/*/x type_changed in 1 of 1 exchanges (at 3 array positions)"),
        "{}",
        out.junit
    );
}

#[test]
fn routes_are_ordered_worst_first_in_the_model_and_every_output() {
    let mut exchanges = Vec::new();
    let mut id = 0;
    let mut add = |path: &str, candidate: &str, status: u16, n: usize| {
        for i in 0..n {
            id += 1;
            let c = if i == 0 { candidate } else { r#"{"v":1}"# };
            exchanges.push(exchange(id, path, JSON, r#"{"v":1}"#, c, status));
        }
    };
    add("/auth/a-pass", r#"{"v":1}"#, 200, 4);
    add("/auth/b-half", r#"{"v":2}"#, 200, 2); // parity 50 %
    add("/auth/c-quarter", r#"{"v":2}"#, 200, 4); // parity 75 %
    add("/ai/d-5xx", r#"{"v":1}"#, 503, 4); // 75 %, but the candidate failed
    let report = build(&exchanges);
    let order: Vec<&str> = report.routes.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(
        order,
        [
            "GET /ai/d-5xx",
            "GET /auth/b-half",
            "GET /auth/c-quarter",
            "GET /auth/a-pass"
        ]
    );
    let out = outputs(&report);
    let at = |text: &str, name: &str| text.find(name).unwrap_or(usize::MAX);
    for text in [&out.terminal, &out.markdown, &out.html, &out.junit] {
        let positions: Vec<usize> = order.iter().map(|n| at(text, n)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["routes"][0]["route"], "GET /ai/d-5xx");
}

#[test]
fn junit_carries_time_timestamp_and_a_type_per_finding_kind() {
    let report = status_report();
    let xml = junit::render(&report).expect("renders");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("junit parses");
    assert_eq!(parsed.time, Some(std::time::Duration::from_millis(1_500)));
    assert!(parsed.timestamp.is_some(), "{xml}");
    let suite = &parsed.test_suites[0];
    assert_eq!(suite.time, Some(std::time::Duration::from_millis(1_500)));
    assert!(suite.timestamp.is_some());
    let types: Vec<Option<String>> = suite
        .test_cases
        .iter()
        .map(|c| match &c.status {
            quick_junit::TestCaseStatus::NonSuccess { ty, .. } => {
                ty.as_ref().map(|t| t.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        types,
        [
            Some("status".to_string()),
            Some("value_changed".to_string())
        ]
    );
}

#[test]
fn report_json_carries_version_duration_and_config_digest_and_matches_the_schema() {
    let report = status_report();
    assert_eq!(
        report.run.tool_version.as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        report.run.config_digest,
        Some(crate::record::config_digest(&config()))
    );
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["run"]["duration_ms"], 1_500);
    assert!(
        json["run"]["config_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_path).expect("schema")).expect("parses");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn learned_noise_reasons_say_what_r_n_and_t_mean() {
    let reason = crate::compare::Reason::LearnedNoise {
        r: 3,
        n: 4,
        total: 10,
    }
    .to_string();
    assert!(reason.contains("candidate differed from the primary in r=3 exchanges"));
    assert!(reason.contains("secondary (a second primary) in n=4"));
    assert!(reason.contains("of T=10 compared with both"));
}
