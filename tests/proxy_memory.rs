//! Memory bounded by configuration, not by input (issue #7, defect 1): a flood of distinct
//! paths through a real proxy, and `cutover report` over a recording of distinct paths, keep
//! the number of routes, `/metrics` series and per-route entries within `[grouping]` bounds.

#[path = "support/upstream.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::exchange::{
    Body, Exchange, Outcome, OutcomeResult, Outcomes, RecordedRequest, RecordedResponse,
};
use cutover::pipeline::aggregate::{MAX_DIFF_KEYS, OVERFLOW_ROUTE};
use cutover::pipeline::{Aggregate, Pipeline, PipelineOptions, analyzer_for};
use cutover::proxy;
use futures_util::StreamExt as _;
use support::*;

/// A deterministic pseudo-random lower-case word (never looks like an id: no digits).
fn word(n: u64) -> String {
    let mut x = n
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    (0..12)
        .map(|_| {
            let c = b'a' + (x % 26) as u8;
            x = (x / 26) ^ (x << 7);
            c as char
        })
        .collect()
}

fn proxy_config(primary: &str, candidate: &str, grouping: &str) -> String {
    format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 5000

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/m/**"
candidate = "cand"

{grouping}
"#
    )
}

/// Values of the series of one metric family (lines starting with `name{` or `name `).
fn series<'a>(metrics: &'a str, name: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .collect()
}

/// Run `n` GETs to distinct random paths under `/m/` through a real proxy; return the final
/// aggregate and the `/metrics` text scraped at the end.
async fn flood(grouping: &str, n: u64) -> (Aggregate, String) {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let toml = proxy_config(&primary.url(), &candidate.url(), grouping);
    let config = Arc::new(Config::parse(&toml, "test.toml").expect("valid config"));
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate::for_config(&config),
        Vec::new(),
        PipelineOptions::default(),
    )
    .expect("pipeline");
    let stats = pipeline.stats();
    let running = proxy::start(config, handle, pipeline.aggregate(), pipeline.stats())
        .await
        .expect("proxy starts");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let listen = running.listen;
    let ok = futures_util::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            let path = if i % 2 == 0 {
                format!("/m/{}", word(i))
            } else {
                format!("/m/{}/{}?q={i}", word(i), word(i + n))
            };
            async move {
                client
                    .get(format!("http://{listen}{path}"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .buffer_unordered(16)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    assert_eq!(ok as u64, n, "every request answered 200");
    // Every exchange reaches the pipeline (the queue holds 8,192): wait until analysed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while stats.analysed.load(Ordering::Relaxed) + stats.dropped_queue_full.load(Ordering::Relaxed)
        < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = running.admin.expect("admin enabled");
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    running.shutdown().await;
    let aggregate = pipeline.finish().await;
    (aggregate, metrics)
}

/// Default configuration: 5,000 distinct paths collapse to `{param}` routes learned per
/// position; routes and `/metrics` series stay far below the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_path_flood_keeps_routes_and_series_bounded() {
    const N: u64 = 5_000;
    let (aggregate, metrics) = flood("", N).await;
    let cap = aggregate.max_routes;
    assert_eq!(cap, 500);
    assert_eq!(aggregate.total(), N, "every exchange counted");
    assert!(
        aggregate.routes.len() <= cap + 1,
        "{} routes",
        aggregate.routes.len()
    );
    // Learned per position: the random segments became `{param}`.
    assert!(
        aggregate.routes.contains_key("GET /m/{param}"),
        "{:?}",
        aggregate.routes.keys().take(50).collect::<Vec<_>>()
    );
    assert!(aggregate.routes.contains_key("GET /m/{param}/{param}"));
    assert!(
        aggregate.routes.len() <= 4 * 32,
        "{}",
        aggregate.routes.len()
    );
    // `/metrics`: three verdict series per route, and the whole exposition bounded.
    let comparisons = series(&metrics, "cutover_comparisons_total");
    assert_eq!(comparisons.len(), 3 * aggregate.routes.len(), "{metrics}");
    let samples = metrics.lines().filter(|l| !l.starts_with('#')).count();
    assert!(samples <= 3 * (cap + 1) + 200, "{samples} series");
    assert!(metrics.contains("cutover_routes_max 500"), "{metrics}");
    assert!(
        metrics.contains("cutover_route_overflow_exchanges_total 0"),
        "{metrics}"
    );
}

/// A small `max_routes`: the routes past it fold into one overflow route, counted and named
/// in `/metrics`; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_past_max_routes_fold_into_a_named_overflow_route() {
    const N: u64 = 2_000;
    let (aggregate, metrics) = flood("[grouping]\nmax_routes = 20\n", N).await;
    assert_eq!(aggregate.max_routes, 20);
    assert_eq!(aggregate.routes.len(), 21, "{:?}", aggregate.routes.keys());
    let overflow = aggregate.overflow_exchanges();
    assert!(overflow > N / 2, "{overflow} folded");
    assert_eq!(aggregate.total(), N, "every exchange counted");
    assert_eq!(series(&metrics, "cutover_comparisons_total").len(), 3 * 21);
    assert!(
        metrics.contains(&format!(
            "cutover_comparisons_total{{route=\"{OVERFLOW_ROUTE}\",verdict=\"match\"}}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("cutover_routes 21"), "{metrics}");
    let folded: u64 = series(&metrics, "cutover_route_overflow_exchanges_total")
        .first()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("overflow counter");
    assert!(folded > 0 && folded <= overflow, "{folded} vs {overflow}");
}

fn response(status: u16, body: String) -> Outcome {
    Outcome {
        target: String::new(),
        result: OutcomeResult::Response(RecordedResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from(body.as_str()),
            truncated: false,
            ttfb_us: 900,
            total_us: 1_000,
        }),
    }
}

/// `cutover report` (the real binary) over 20,000 recorded exchanges, each on a distinct
/// path and with bodies that differ at distinct JSON paths: bounded routes, an overflow
/// row named in every output, bounded per-route difference lists.
#[test]
fn report_over_a_hostile_recording_is_bounded_and_names_the_overflow() {
    use std::io::Write as _;
    const LINES: u64 = 20_000;
    const MAX_ROUTES: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("rec.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&rec).expect("create"));
    for i in 0..LINES {
        // Distinct methods-and-depths so grouping alone yields more than MAX_ROUTES routes.
        let method = ["GET", "PUT", "POST", "PATCH", "DELETE"][(i % 5) as usize];
        let depth = 1 + (i / 5) % 6;
        let uri: String = (0..depth)
            .map(|d| format!("/{}", word(i * 7 + d)))
            .collect();
        let mut primary = response(200, format!("{{\"a{i}\":1,\"same\":true}}"));
        let mut candidate = response(200, format!("{{\"b{i}\":1,\"same\":true}}"));
        primary.target = "mono".into();
        candidate.target = "cand".into();
        let ex = Exchange {
            translation: Vec::new(),
            id: i,
            seq: i,
            identity: None,
            at: chrono::Utc::now(),
            route: format!("{method} {uri}"),
            request: RecordedRequest {
                method: method.into(),
                uri,
                headers: Vec::new(),
                body: Body::default(),
                truncated: false,
            },
            outcomes: Outcomes {
                primary,
                secondary: None,
                candidate: Some(candidate),
            },
        };
        let line = serde_json::to_string(&ex).expect("serialise");
        writeln!(out, "{line}").expect("write");
    }
    out.flush().expect("flush");
    drop(out);
    let cfg = dir.path().join("cutover.toml");
    std::fs::write(
        &cfg,
        format!(
            "[targets]\nmono = {{ url = \"http://127.0.0.1:1\", role = \"primary\" }}\n\
             cand = {{ url = \"http://127.0.0.1:2\" }}\n\n[grouping]\nmax_routes = {MAX_ROUTES}\n"
        ),
    )
    .expect("config");
    let report_dir = dir.path().join("report");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("report")
        .arg("--from")
        .arg(&rec)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&report_dir)
        .output()
        .expect("run cutover report");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Every exchange mismatches: the gate fails (exit 1), but the run completes.
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("report.json")).expect("report.json"),
    )
    .expect("report.json parses");
    let routes = json["routes"].as_array().expect("routes");
    assert!(routes.len() <= MAX_ROUTES + 1, "{} routes", routes.len());
    assert_eq!(json["totals"]["exchanges"], LINES);
    let overflow = &json["totals"]["overflow"];
    assert_eq!(overflow["route"], OVERFLOW_ROUTE, "{overflow}");
    assert_eq!(overflow["max_routes"], MAX_ROUTES);
    let folded = overflow["exchanges"].as_u64().expect("count");
    let row = routes
        .iter()
        .find(|r| r["route"] == OVERFLOW_ROUTE)
        .expect("overflow row");
    assert_eq!(row["total"].as_u64(), Some(folded));
    assert!(folded > 0);
    for r in routes {
        let differences = r["differences"].as_array().map_or(0, Vec::len);
        assert!(differences <= MAX_DIFF_KEYS + 8, "{differences} paths");
    }
    let sentence =
        format!("{folded} exchanges on further routes were folded into `{OVERFLOW_ROUTE}`");
    assert!(stdout.contains(&sentence), "{stdout}");
    let summary = std::fs::read_to_string(report_dir.join("summary.md")).expect("summary");
    assert!(summary.contains(&sentence), "{summary}");
    let html = std::fs::read_to_string(report_dir.join("index.html")).expect("html");
    assert!(html.contains("Routes folded"), "html names the overflow");
}
