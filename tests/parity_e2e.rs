//! Parity you can trust, end to end on loopback (one real server per target, the real
//! proxy, the real pipeline, the report built from its aggregate): a candidate's 5xx are
//! never hidden by a secondary that fails too (which is named an unhealthy baseline), each
//! status pair is its own finding with 5xx first, candidate 5xx are candidate errors in the
//! report, summary.md and `/metrics`, and a route without a candidate is an A/A check of
//! the primary against the secondary.

#[path = "support/upstream.rs"]
mod support;

use std::sync::Arc;

use cutover::compare::DiffKind;
use cutover::config::Config;
use cutover::pipeline::Aggregate;
use cutover::report::model::RouteReport;
use cutover::report::{Gate, Report, ReportContext};
use support::*;

/// Start the proxy for `toml` (its `{primary}`, `{candidate}`, `{secondary}` replaced by
/// the upstreams' URLs), send `send` through it (`expect` exchanges), read `/metrics` once
/// they are analysed, and build the report.
async fn run<F, Fut>(
    toml: &str,
    urls: &[(&str, String)],
    expect: usize,
    send: F,
) -> (Report, String)
where
    F: FnOnce(reqwest::Client, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_recorded(toml, urls, expect, None, send).await
}

/// [`run`], also recording every exchange to `recording`.
async fn run_recorded<F, Fut>(
    toml: &str,
    urls: &[(&str, String)],
    expect: usize,
    recording: Option<&std::path::Path>,
    send: F,
) -> (Report, String)
where
    F: FnOnce(reqwest::Client, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut text = toml.to_string();
    for (name, url) in urls {
        text = text.replace(&format!("{{{name}}}"), url);
    }
    let config = Arc::new(Config::parse(&text, "parity.toml").expect("valid config"));
    let mut sinks: Vec<Box<dyn cutover::pipeline::Sink>> = Vec::new();
    if let Some(path) = recording {
        let sink = cutover::record::RecordingSink::open(path, &config.file.recording)
            .expect("recording")
            .with_header(cutover::record::Header::for_config("parity-e2e", &config));
        sinks.push(Box::new(sink));
    }
    let (proxy, pipeline, client) = start_proxy(Arc::clone(&config), sinks).await;
    send(client, format!("http://{}", proxy.listen)).await;
    let admin = proxy.admin.expect("admin enabled");
    let done = format!("cutover_pipeline_analysed_total {expect}\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let metrics = loop {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.contains(&done) || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let _summary = proxy.shutdown().await;
    let aggregate: Aggregate = pipeline.finish().await;
    let ctx = ReportContext {
        config: &config,
        run: cutover::run::run_info("parity-e2e".into(), "proxy"),
    };
    (Report::build(&aggregate, &ctx), metrics)
}

fn route<'r>(report: &'r Report, name: &str) -> &'r RouteReport {
    report
        .routes
        .iter()
        .find(|r| r.route == name)
        .unwrap_or_else(|| panic!("no route {name}: {:?}", report.routes))
}

const WITH_SECONDARY: &str = r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"

[targets]
monolith = { url = "{primary}", role = "primary" }
monolith2 = { url = "{secondary}", role = "secondary" }
users = { url = "{candidate}" }

[[routes]]
match = "/users/**"
candidate = "users"
mirror_writes = true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_5xx_are_reported_when_the_secondary_fails_too() {
    let primary = upstream(|_| async { json(serde_json::json!({"id": 1, "name": "ann"})) }).await;
    let failing = || {
        upstream(|_| async {
            full(
                500,
                "application/json",
                r#"{"detail":"Internal Server Error"}"#,
            )
        })
    };
    let (candidate, secondary) = (failing().await, failing().await);
    let urls = [
        ("primary", primary.url()),
        ("candidate", candidate.url()),
        ("secondary", secondary.url()),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let recording = dir.path().join("recording.jsonl");
    let (report, metrics) = run_recorded(
        WITH_SECONDARY,
        &urls,
        40,
        Some(&recording),
        |client, base| async move {
            for _ in 0..40 {
                let r = client
                    .get(format!("{base}/users/me"))
                    .send()
                    .await
                    .expect("answer");
                assert_eq!(
                    r.status(),
                    200,
                    "the client always gets the primary's answer"
                );
            }
        },
    )
    .await;
    assert_eq!(candidate.count(), 40);
    assert_eq!(secondary.count(), 40);
    let r = route(&report, "GET /users/me");
    assert_eq!(r.gate, Gate::Fail);
    assert_eq!((r.compared, r.mismatched), (40, 40));
    // The 500s lead the differences, with their count, and nothing was learned as noise.
    let first = &r.differences[0];
    assert_eq!(first.kind, DiffKind::Status);
    let pair = first.status.expect("a status pair");
    assert_eq!((pair.primary, pair.candidate, first.count), (200, 500, 40));
    assert!(
        r.suppressed
            .iter()
            .flat_map(|s| &s.reasons)
            .all(|reason| !reason.reason.contains("learned")),
        "{:?}",
        r.suppressed
    );
    // Candidate 5xx are candidate errors, everywhere.
    assert_eq!((r.candidate_errors, r.candidate_5xx), (40, 40));
    let baseline = r.baseline.as_ref().expect("baseline section");
    assert_eq!(baseline.unhealthy, 40);
    assert_eq!(
        baseline.unhealthy_pairs[0].reason,
        "primary 200 → secondary 500"
    );
    let md = cutover::report::markdown::render(&report);
    assert!(
        md.contains("**status 200 → 500 (40×)** in 40 of 40 exchanges"),
        "{md}"
    );
    assert!(md.contains("candidate errors: 40 (40 answered 5xx"), "{md}");
    assert!(md.contains("Unhealthy baseline"), "{md}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["routes"][0]["candidate_errors"], 40);
    assert_eq!(json["routes"][0]["baseline"]["unhealthy"], 40);
    assert!(
        metrics.contains("cutover_candidate_errors_total{route=\"GET /users/me\",kind=\"5xx\"} 40"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cutover_baseline_unhealthy_total{route=\"GET /users/me\"} 40"),
        "{metrics}"
    );
    // The terminal line of `cutover report` over the recording leads with the 500s and
    // counts them as candidate errors.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["report", "--from"])
        .arg(&recording)
        .arg("--out")
        .arg(dir.path().join("again"))
        .output()
        .expect("cutover runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("GET /users/me"))
        .unwrap_or_default();
    assert!(line.contains("status 200 → 500 (40×)"), "{stdout}");
    assert!(line.contains("candidate errors 40 (40 × 5xx)"), "{stdout}");
    assert!(
        line.contains("unhealthy baseline on 40 exchanges"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_status_pair_is_its_own_finding_5xx_first() {
    // The body says which case it is; the primary and the candidate answer their statuses.
    let status_of = |body: &[u8], candidate: bool| -> u16 {
        match (body, candidate) {
            (b"created", false) => 201,
            (b"created", true) => 200,
            (b"taken", false) => 409,
            (b"taken", true) => 422,
            (b"invalid", false) => 422,
            (b"invalid", true) => 400,
            (b"crash", false) => 200,
            (b"crash", true) => 503,
            _ => 200,
        }
    };
    let answer = move |candidate: bool| {
        move |s: Seen| async move { full(status_of(&s.body, candidate), "application/json", "{}") }
    };
    let primary = upstream(answer(false)).await;
    let candidate = upstream(answer(true)).await;
    let secondary = upstream(answer(false)).await;
    let urls = [
        ("primary", primary.url()),
        ("candidate", candidate.url()),
        ("secondary", secondary.url()),
    ];
    let (report, _) = run(WITH_SECONDARY, &urls, 13, |client, base| async move {
        for (body, times) in [("created", 6), ("taken", 4), ("invalid", 2), ("crash", 1)] {
            for _ in 0..times {
                client
                    .post(format!("{base}/users/new"))
                    .body(body)
                    .send()
                    .await
                    .expect("answer");
            }
        }
    })
    .await;
    let r = route(&report, "POST /users/new");
    let pairs: Vec<(u16, u16, u64, usize)> = r
        .differences
        .iter()
        .filter_map(|d| {
            let s = d.status?;
            Some((s.primary, s.candidate, d.count, d.examples.len()))
        })
        .collect();
    assert_eq!(
        pairs,
        [
            (200, 503, 1, 1),
            (201, 200, 6, 5),
            (409, 422, 4, 4),
            (422, 400, 2, 2)
        ],
        "{:?}",
        r.differences
    );
    assert_eq!(r.candidate_5xx, 1);
    assert_eq!(r.candidate_errors, 1);
    let md = cutover::report::markdown::render(&report);
    for line in [
        "**status 200 → 503 (1×)** in 1 of 13",
        "**status 201 → 200 (6×)** in 6 of 13",
        "**status 409 → 422 (4×)** in 4 of 13",
        "**status 422 → 400 (2×)** in 2 of 13",
    ] {
        assert!(md.contains(line), "{line} missing:\n{md}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_candidate_is_an_a_a_check() {
    let primary = upstream(|_| async { json(serde_json::json!({"v": 1, "tz": "UTC"})) }).await;
    let secondary =
        upstream(|_| async { json(serde_json::json!({"v": 1, "tz": "Europe/Paris"})) }).await;
    let toml = r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"

[targets]
monolith = { url = "{primary}", role = "primary" }
monolith2 = { url = "{secondary}", role = "secondary" }

[[routes]]
match = "/settings/**"
"#;
    let urls = [("primary", primary.url()), ("secondary", secondary.url())];
    let (report, _) = run(toml, &urls, 12, |client, base| async move {
        for _ in 0..12 {
            client
                .get(format!("{base}/settings/zone"))
                .send()
                .await
                .expect("answer");
        }
    })
    .await;
    assert_eq!(secondary.count(), 12, "mirrored to the secondary alone");
    let r = route(&report, "GET /settings/zone");
    assert_eq!(r.pair, "primary_secondary");
    assert_eq!(r.candidate, None);
    assert_eq!((r.compared, r.mismatched), (12, 12));
    assert_eq!(r.differences[0].path, "/tz");
    assert_eq!(r.gate, Gate::Fail);
    let md = cutover::report::markdown::render(&report);
    assert!(md.contains("A/A routes"), "{md}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["routes"][0]["pair"], "primary_secondary");
}
