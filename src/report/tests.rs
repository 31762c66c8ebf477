use chrono::Utc;

use super::*;
use crate::config::Config;
use crate::exchange::*;
use crate::pipeline::Aggregate;

fn response(status: u16, body: &str, us: u64) -> OutcomeResult {
    OutcomeResult::Response(RecordedResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Body::from(body),
        truncated: false,
        ttfb_us: us,
        total_us: us,
    })
}

fn exchange(
    id: u64,
    path: &str,
    primary: &str,
    candidate: &str,
    candidate_status: u16,
) -> Exchange {
    Exchange {
        translation: Vec::new(),
        id,
        seq: id,
        identity: None,
        at: Utc::now(),
        route: format!("GET {path}"),
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
                result: response(200, primary, 1_000),
            },
            secondary: None,
            candidate: Some(Outcome {
                target: "auth".into(),
                result: response(candidate_status, candidate, 2_000),
            }),
        },
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        id: "x".into(),
        generated_at: Utc::now(),
        source: "test".into(),
        divergences: Vec::new(),
        recordings: Vec::new(),
        ..Default::default()
    }
}

fn sample_report() -> Report {
    let config = reference_config();
    let analyzer = crate::pipeline::analyzer_for(&config);
    let mut agg = Aggregate::default();
    for i in 0..4 {
        let ex = exchange(i, "/auth/me", r#"{"id":1}"#, r#"{"id":1}"#, 200);
        agg.add(&ex, &analyzer.analyze(&ex));
    }
    let ex = exchange(
        9,
        "/ai/status",
        r#"{"ok":true}"#,
        r#"{"detail":"Forbidden"}"#,
        403,
    );
    agg.add(&ex, &analyzer.analyze(&ex));
    let run = RunInfo {
        id: "test-run".into(),
        generated_at: Utc::now(),
        source: "test".into(),
        divergences: vec!["forbidden-403".into()],
        recordings: Vec::new(),
        ..Default::default()
    };
    Report::build(
        &agg,
        &ReportContext {
            config: &config,
            run,
        },
    )
}

#[test]
fn gate_fails_only_the_route_that_differs() {
    let report = sample_report();
    assert_eq!(report.verdict, Gate::Fail);
    assert_eq!(report.totals.compared, 5);
    assert_eq!(report.totals.matched, 4);
    let me = report
        .routes
        .iter()
        .find(|r| r.route == "GET /auth/me")
        .expect("route");
    assert_eq!(me.gate, Gate::Pass);
    assert_eq!(me.candidate.as_deref(), Some("auth"));
    let ai = report
        .routes
        .iter()
        .find(|r| r.route == "GET /ai/status")
        .expect("route");
    assert_eq!(ai.gate, Gate::Fail);
    assert_eq!(ai.parity, 0.0);
    assert!(ai.failures[0].contains("below the route's threshold"));
    assert!(
        ai.differences
            .iter()
            .any(|d| d.path == "status" && d.count == 1)
    );
    assert_eq!(ai.status_matrix[0].candidate, "403");
}

#[test]
fn writes_all_four_formats() {
    let report = sample_report();
    let dir = tempfile::tempdir().expect("tempdir");
    let written = write_all(&report, dir.path()).expect("written");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&written.json).expect("json")).expect("parses");
    assert_eq!(json["schema"], "cutover.report/v1");
    assert_eq!(json["verdict"], "fail");
    assert!(json["routes"].as_array().is_some_and(|r| r.len() == 2));
    let back: Report = serde_json::from_value(json).expect("matches the model");
    assert_eq!(back, report);

    let junit = std::fs::read_to_string(&written.junit).expect("junit");
    let parsed = quick_junit::Report::deserialize_from_str(&junit).expect("junit parses");
    assert_eq!(parsed.tests, 2);
    assert_eq!(parsed.failures, 1);

    let md = std::fs::read_to_string(&written.markdown).expect("md");
    assert!(md.contains("FAIL"));
    assert!(md.contains("`GET /ai/status`"));

    // minijinja's HTML escaping writes `/` as `&#x2f;`.
    let html = std::fs::read_to_string(&written.html)
        .expect("html")
        .replace("&#x2f;", "/");
    assert!(html.contains("<table id=\"routes\">"));
    assert!(html.contains("GET /ai/status"));
    assert!(!html.contains("<script"), "the page is static");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
}

#[test]
fn identities_are_attributed_in_every_renderer() {
    let config = reference_config();
    let analyzer = crate::pipeline::analyzer_for(&config);
    let mut agg = Aggregate::default();
    for (i, who) in ["alice", "guest2", "guest2", "<b>x</b>"].iter().enumerate() {
        let forbidden = *who == "guest2";
        let mut ex = exchange(
            i as u64,
            "/ai/status",
            r#"{"ok":true}"#,
            if forbidden {
                r#"{"detail":"Forbidden"}"#
            } else {
                r#"{"ok":true}"#
            },
            if forbidden { 403 } else { 200 },
        );
        ex.identity = Some(who.to_string());
        agg.add(&ex, &analyzer.analyze(&ex));
    }
    let report = Report::build(
        &agg,
        &ReportContext {
            config: &config,
            run: run_info(),
        },
    );
    let route = &report.routes[0];
    let cell = route
        .status_matrix
        .iter()
        .find(|c| c.candidate == "403")
        .expect("200 → 403");
    let who = cell.identities.as_ref().expect("attributed");
    assert_eq!(who.summary, "for guest2 only");
    assert_eq!(who.labels[0].count, 2);
    assert!(
        route
            .status_matrix
            .iter()
            .all(|c| c.candidate == "403" || c.identities.is_none()),
        "unchanged statuses carry no attribution"
    );
    let status = route
        .differences
        .iter()
        .find(|d| d.path == "status")
        .expect("status");
    assert_eq!(
        status.identities.as_ref().map(|i| i.summary.as_str()),
        Some("for guest2 only")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let written = write_all(&report, dir.path()).expect("written");
    let md = std::fs::read_to_string(&written.markdown).expect("md");
    assert!(
        md.contains("- status 200 → 403 in 2 exchanges for guest2 only"),
        "{md}"
    );
    let junit = std::fs::read_to_string(&written.junit).expect("junit");
    assert!(junit.contains("for guest2 only"));
    let html = std::fs::read_to_string(&written.html).expect("html");
    assert!(html.contains("for guest2 only"));
    let json = std::fs::read_to_string(&written.json).expect("json");
    let back: Report = serde_json::from_str(&json).expect("matches the model");
    assert_eq!(back, report);
}

#[test]
fn html_escapes_values_from_traffic() {
    let config = reference_config();
    let mut agg = Aggregate::default();
    let ex = exchange(
        1,
        "/auth/me",
        r#"{"n":"<script>alert(1)</script>"}"#,
        r#"{"n":"x"}"#,
        200,
    );
    agg.add(&ex, &crate::pipeline::analyzer_for(&config).analyze(&ex));
    let run = run_info();
    let report = Report::build(
        &agg,
        &ReportContext {
            config: &config,
            run,
        },
    );
    let html = html::render(&report).expect("renders");
    assert!(!html.contains("<script>alert"));
}

#[test]
fn recordings_skip_broken_lines_and_name_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let good = serde_json::to_string(&exchange(1, "/auth/me", "{}", "{}", 200)).expect("json");
    std::fs::write(&path, format!("{good}\n{{\"id\": 2, \"at\n{good}\n")).expect("write");
    let mut seen = Vec::new();
    let stats = read_recordings(std::slice::from_ref(&path), |ex| seen.push(ex.id)).expect("reads");
    assert_eq!(seen, vec![1, 1]);
    assert_eq!(stats.bad_line_count, 1);
    assert!(
        stats.bad_lines[0].contains("rec.jsonl:2:"),
        "{:?}",
        stats.bad_lines
    );
}

#[test]
fn examples_in_reports_carry_no_secrets() {
    let config = reference_config();
    let mut ex = exchange(
        1,
        "/auth/login",
        r#"{"access_token":"eyJsecret.a.b","token_type":"bearer"}"#,
        r#"{"access_token":12,"token_type":"Bearer"}"#,
        200,
    );
    ex.request.method = "POST".into();
    ex.request.uri = "/auth/login?api_token=querysecret".into();
    ex.request.headers = vec![
        ("content-type".into(), "application/json".into()),
        ("authorization".into(), "Bearer headersecret".into()),
    ];
    ex.request.body = Body::from(r#"{"username":"a","password":"hunter2"}"#);
    let mut agg = Aggregate::default();
    agg.add(&ex, &crate::pipeline::analyzer_for(&config).analyze(&ex));
    let run = run_info();
    let report = Report::build(
        &agg,
        &ReportContext {
            config: &config,
            run,
        },
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let written = write_all(&report, dir.path()).expect("written");
    for file in [
        &written.json,
        &written.markdown,
        &written.html,
        &written.junit,
    ] {
        let text = std::fs::read_to_string(file).expect("read");
        for secret in ["hunter2", "eyJsecret", "querysecret", "headersecret"] {
            assert!(!text.contains(secret), "{} leaks {secret}", file.display());
        }
    }
    assert!(
        std::fs::read_to_string(&written.json)
            .expect("read")
            .contains("Bearer")
    );
}

/// primary, secondary and candidate bodies for one exchange on `GET /auth/me`.
fn triple(id: u64, primary: &str, secondary: &str, candidate: &str) -> Exchange {
    let mut ex = exchange(id, "/auth/me", primary, candidate, 200);
    ex.outcomes.secondary = Some(Outcome {
        target: "monolith2".into(),
        result: response(200, secondary, 1_000),
    });
    ex
}

#[test]
fn noisy_field_is_learned_but_a_change_of_kind_is_still_flagged() {
    let config = Config::parse(
        r#"
[targets]
monolith = { url = "http://127.0.0.1:1", role = "primary" }
monolith2 = { url = "http://127.0.0.1:2", role = "secondary" }
auth = { url = "http://127.0.0.1:3" }
[[routes]]
match = "/auth/**"
candidate = "auth"
"#,
        "test.toml",
    )
    .expect("valid");
    let analyzer = crate::pipeline::analyzer_for(&config);
    let mut agg = Aggregate::default();
    for i in 0..40u64 {
        // `seq` differs between any two deployments (learned noise); `ts` is a timestamp
        // everywhere except in the candidate from exchange 20 on, where it became a number.
        let p = format!(
            r#"{{"seq": {}, "ts": "2026-01-01T00:00:{:02}Z"}}"#,
            i * 3,
            i % 60
        );
        let s = format!(
            r#"{{"seq": {}, "ts": "2026-01-01T00:01:{:02}Z"}}"#,
            i * 3 + 1,
            i % 60
        );
        let c = if i < 20 {
            format!(
                r#"{{"seq": {}, "ts": "2026-01-01T00:02:{:02}+00:00"}}"#,
                i * 3 + 2,
                i % 60
            )
        } else {
            format!(r#"{{"seq": {}, "ts": {}}}"#, i * 3 + 2, 1_767_225_600 + i)
        };
        let ex = triple(i, &p, &s, &c);
        agg.add(&ex, &analyzer.analyze(&ex));
    }
    let run = run_info();
    let report = Report::build(
        &agg,
        &ReportContext {
            config: &config,
            run,
        },
    );
    let route = &report.routes[0];
    let flagged: Vec<(&str, &str)> = route
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind.as_str()))
        .collect();
    assert_eq!(flagged, [("/ts", "type_changed")]);
    assert_eq!(route.differences[0].count, 20);
    assert_eq!((route.matched, route.mismatched), (20, 20));
    let seq = route
        .suppressed
        .iter()
        .find(|s| s.path == "/seq")
        .expect("seq suppressed");
    assert!(
        seq.reasons[0].reason.starts_with("learned noise"),
        "{:?}",
        seq.reasons
    );
    let ts = route
        .suppressed
        .iter()
        .find(|s| s.path == "/ts")
        .expect("ts listed");
    assert!(
        ts.reasons[0].reason.contains("timestamp"),
        "{:?}",
        ts.reasons
    );
}

/// The reference system's routes (ports do not matter: nothing is started).
fn reference_config() -> Config {
    let text = r#"
[targets]
monolith = { url = "http://127.0.0.1:1", role = "primary" }
auth = { url = "http://127.0.0.1:2" }
ai = { url = "http://127.0.0.1:3" }

[[routes]]
match = "/auth/**"
candidate = "auth"
mirror_writes = true

[[routes]]
match = "/ai/**"
candidate = "ai"
mirror_writes = true
"#;
    Config::parse(text, "reference.toml").unwrap_or_else(|e| panic!("{e}"))
}
