//! `cutover load` end to end against the embedded reference system on 127.0.0.1 (no other
//! traffic leaves the machine): the verdicts, the merge of worker parts, and bad input.
//! Runs are a few seconds each; assertions are on verdicts and counts, never on timing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cutover::load::collect::{LoadResult, Side};
use cutover::load::{self, LoadOptions, LoadReport};
use cutover::pipeline::load_gates::{Decision, LoadTrigger, Verdict};
use cutover::reference::parse_divergences;

#[path = "support/tls_upstream.rs"]
mod tls;

fn options(out: &Path, secs: u64, users: usize) -> LoadOptions {
    LoadOptions {
        out: Some(out.to_path_buf()),
        duration: Duration::from_secs(secs),
        users,
        ..LoadOptions::default()
    }
}

async fn run(o: LoadOptions) -> (LoadReport, Vec<PathBuf>) {
    match load::run(o).await {
        Ok(outcome) => (outcome.report.expect("a verdict"), outcome.files),
        Err(e) => panic!("load run failed: {e:#}"),
    }
}

fn explain(r: &LoadReport) -> String {
    let mut s = format!("verdict {:?}\n", r.verdict);
    for route in &r.routes {
        s.push_str(&format!(
            "{} {:?}: {} vs {} requests\n",
            route.route, route.verdict, route.candidate.requests, route.baseline.requests
        ));
    }
    s + &r.reasons.join("\n")
}

fn fired(r: &LoadReport) -> Vec<(String, LoadTrigger)> {
    r.routes
        .iter()
        .flat_map(|route| {
            route
                .triggers
                .iter()
                .filter(|t| t.decision == Decision::Fail)
                .map(move |t| (route.route.clone(), t.trigger))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_divergence_proceeds_and_writes_every_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let (report, files) = run(options(&out, 8, 8)).await;
    assert_eq!(report.verdict, Verdict::Proceed, "{}", explain(&report));
    assert_eq!(report.exit_code, 0);
    assert_eq!(report.routes.len(), 5, "{}", explain(&report));
    for name in [
        "load.json",
        "load.md",
        "load.html",
        "junit.xml",
        "load-result.json",
        "goose.html",
    ] {
        assert!(out.join(name).is_file(), "{name} missing; wrote {files:?}");
    }
    // Nothing half-written stays behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let json: LoadReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("load.json")).expect("read"))
            .expect("load.json parses");
    assert_eq!(json, report);
    // Both sides measured under distinct names, per route.
    for route in &report.routes {
        assert_eq!(route.baseline.target, "monolith");
        assert!(["auth", "ai"].contains(&route.candidate.target.as_str()));
        assert!(route.baseline.requests > 0 && route.candidate.requests > 0);
    }
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    assert_eq!(junit.matches("<testcase").count(), 5 * 3, "{junit}");
    let html = std::fs::read_to_string(out.join("load.html")).expect("html");
    assert!(html.contains("PROCEED") && html.contains("<svg") && !html.contains("<script"));
    let goose = std::fs::read_to_string(out.join("goose.html")).expect("goose report");
    assert!(goose.contains("monolith GET /auth/me") && goose.contains("auth GET /auth/me"));
}

/// Without Goose's report, requests go over cutover's own keep-alive client: the form
/// login, the JSON body and each side's bearer token must arrive as through Goose's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_goose_report_every_request_is_answered_as_through_goose() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let o = LoadOptions {
        goose_report: false,
        ..options(&out, 3, 4)
    };
    let (report, files) = run(o).await;
    assert_eq!(report.verdict, Verdict::Proceed, "{}", explain(&report));
    assert_eq!(report.routes.len(), 5, "{}", explain(&report));
    for route in &report.routes {
        for side in [&route.baseline, &route.candidate] {
            assert!(side.requests > 0, "{}: {side:?}", route.route);
            assert_eq!(
                (side.errors, side.status_4xx),
                (0, 0),
                "{} on {}: {side:?}",
                route.route,
                side.target
            );
        }
    }
    assert!(!out.join("goose.html").exists(), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_ai_service_rolls_back_on_the_ai_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = LoadOptions {
        divergences: parse_divergences(&["ai-latency-200ms".into()]).expect("known"),
        ..options(dir.path(), 4, 48)
    };
    let (report, _) = run(o).await;
    assert_eq!(report.verdict, Verdict::Rollback, "{}", explain(&report));
    assert_eq!(report.exit_code, 1);
    let fired = fired(&report);
    for route in ["POST /ai/query", "GET /ai/status"] {
        assert!(
            fired.contains(&(route.to_string(), LoadTrigger::LatencyIncrease)),
            "{route} not flagged: {fired:?}"
        );
    }
    assert!(
        fired.iter().all(|(route, _)| route.contains("/ai/")),
        "only AI routes may fire: {fired:?}"
    );
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("latency_increase"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erroring_auth_service_rolls_back_on_the_error_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = LoadOptions {
        divergences: parse_divergences(&["error-500-10pct".into()]).expect("known"),
        routes: vec!["/auth/**".into()],
        // Over cutover's own client (no Goose report): errors are seen there too.
        goose_report: false,
        ..options(dir.path(), 4, 8)
    };
    let (report, _) = run(o).await;
    assert_eq!(report.verdict, Verdict::Rollback, "{}", explain(&report));
    let fired = fired(&report);
    assert!(
        fired.iter().any(|(_, t)| *t == LoadTrigger::ErrorRate),
        "{fired:?}"
    );
    assert!(fired.iter().all(|(r, _)| r.contains("/auth/")), "{fired:?}");
    assert!(report.reasons.iter().any(|r| r.contains("error_rate")));
}

/// The migration plan's acceptance case: 5 % errors on the AI service against a 1 % limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_ai_errors_roll_back_naming_the_error_rate_trigger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = LoadOptions {
        divergences: parse_divergences(&["ai-errors-5pct".into()]).expect("known"),
        routes: vec!["/ai/**".into()],
        ..options(dir.path(), 5, 8)
    };
    let (report, _) = run(o).await;
    assert_eq!(report.verdict, Verdict::Rollback, "{}", explain(&report));
    let fired = fired(&report);
    assert!(
        fired.iter().any(|(_, t)| *t == LoadTrigger::ErrorRate),
        "{fired:?}\n{}",
        explain(&report)
    );
    assert!(fired.iter().all(|(r, _)| r.contains("/ai/")), "{fired:?}");
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("error_rate") && r.contains("/ai/")),
        "{:?}",
        report.reasons
    );
    // About one AI answer in twenty is a 500 on the candidate, none on the monolith.
    for r in &report.routes {
        assert_eq!(r.baseline.errors, 0, "{}", explain(&report));
        assert!(
            r.candidate.error_pct > 2.0 && r.candidate.error_pct < 10.0,
            "{}",
            explain(&report)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_too_short_to_decide_is_inconclusive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = LoadOptions {
        rate: Some(20),
        ..options(dir.path(), 1, 1)
    };
    let (report, _) = run(o).await;
    assert_eq!(
        report.verdict,
        Verdict::Inconclusive,
        "{}",
        explain(&report)
    );
    assert_eq!(report.exit_code, 3);
    assert!(fired(&report).is_empty());
    assert!(report.reasons.iter().any(|r| r.contains("too few")));
}

/// Split every count of a result in two parts (first half, rest).
fn split(result: &LoadResult) -> (LoadResult, LoadResult) {
    let half = |pairs: &[(u64, u64)], first: bool| -> Vec<(u64, u64)> {
        pairs
            .iter()
            .map(|&(v, c)| (v, if first { c / 2 } else { c - c / 2 }))
            .filter(|&(_, c)| c > 0)
            .collect()
    };
    let part = |first: bool, i: u32| {
        let mut p = result.clone();
        p.meta.worker = Some((i, 2));
        for s in &mut p.series {
            let c = &mut s.counts;
            let n = |x: u64| if first { x / 2 } else { x - x / 2 };
            c.latency_us = half(&c.latency_us, first);
            let answered: u64 = c.latency_us.iter().map(|x| x.1).sum();
            c.transport = n(c.transport);
            c.status_5xx = n(c.status_5xx);
            c.status_4xx = n(c.status_4xx);
            c.requests = answered + c.transport;
        }
        for t in &mut p.timeline {
            for w in &mut t.windows {
                w.latency_us = half(&w.latency_us, first);
                w.requests = w.latency_us.iter().map(|x| x.1).sum();
            }
        }
        p
    };
    (part(true, 1), part(false, 2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_parts_merge_to_the_verdict_of_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole_dir = dir.path().join("whole");
    let (whole, _) = run(options(&whole_dir, 3, 4)).await;
    let result: LoadResult = serde_json::from_str(
        &std::fs::read_to_string(whole_dir.join("load-result.json")).expect("result"),
    )
    .expect("parses");
    let (a, b) = split(&result);
    let (pa, pb) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&pa, serde_json::to_string(&a).expect("json")).expect("write");
    std::fs::write(&pb, serde_json::to_string(&b).expect("json")).expect("write");
    let merged = load::merge_files(&[pa, pb], Some(dir.path().join("merged")))
        .expect("merge")
        .report
        .expect("verdict");
    assert_eq!(merged.parts, 2);
    assert_eq!(merged.verdict, whole.verdict, "{}", explain(&merged));
    for (m, w) in merged.routes.iter().zip(&whole.routes) {
        assert_eq!(m.route, w.route);
        assert_eq!(m.candidate.requests, w.candidate.requests);
        assert_eq!(m.baseline.p95_ms, w.baseline.p95_ms);
        assert_eq!(m.candidate.p95_ms, w.candidate.p95_ms);
        let decisions = |r: &cutover::load::model::RouteReport| {
            r.triggers.iter().map(|t| t.decision).collect::<Vec<_>>()
        };
        assert_eq!(decisions(m), decisions(w), "{}", m.route);
    }

    // Real workers: two parts of one configuration merge; each part is marked.
    let parts_dir = dir.path().join("parts");
    for i in 1..=2 {
        let o = LoadOptions {
            worker: Some((i, 2)),
            ..options(&parts_dir, 1, 4)
        };
        let outcome = load::run(o).await.expect("worker run");
        assert!(outcome.report.is_none());
    }
    let files: Vec<PathBuf> = (1..=2)
        .map(|i| parts_dir.join(format!("load-part-{i}-of-2.json")))
        .collect();
    let merged = load::merge_files(&files, Some(dir.path().join("m2")))
        .expect("merge of real parts")
        .report
        .expect("verdict");
    assert_eq!((merged.parts, merged.users), (2, 4));
    // The same part twice is refused.
    let twice = load::merge_files(&[files[0].clone(), files[0].clone()], None);
    assert!(twice.is_err());
}

fn cutover(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run cutover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_is_a_usage_error_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // A closed port: bind, note, drop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let cfg = |extra: &str| {
        format!(
            "[targets]\nmonolith = {{ url = \"http://127.0.0.1:{port}\", role = \"primary\" }}\nauth = {{ url = \"http://127.0.0.1:{port}\" }}\n[[routes]]\nmatch = \"/auth/**\"\ncandidate = \"auth\"\n{extra}"
        )
    };
    std::fs::write(d.join("down.toml"), cfg("")).expect("write");
    std::fs::write(
        d.join("neg.toml"),
        cfg("[triggers]\np95_increase_pct = -5\n"),
    )
    .expect("w");
    std::fs::write(
        d.join("big.toml"),
        cfg("[triggers]\nerror_rate_pct = 150\n"),
    )
    .expect("w");
    let cases: [(&[&str], &str); 6] = [
        (
            &["load", "--config", "down.toml", "--duration", "1s"],
            "unreachable",
        ),
        (&["load", "--duration", "0"], "--duration"),
        (&["load", "--config", "neg.toml"], "p95_increase_pct"),
        (&["load", "--config", "big.toml"], "error_rate_pct"),
        (&["load", "--worker", "3/2"], "i/N"),
        (&["load", "--users", "0"], "--users"),
    ];
    for (args, says) in cases {
        let (code, stderr) = cutover(args, d);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?} should say {says}: {stderr}"
        );
    }
    assert!(!d.join("reports").exists(), "a failed run wrote reports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_of_different_configurations_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("p");
    let o = LoadOptions {
        worker: Some((1, 2)),
        ..options(&out, 1, 2)
    };
    load::run(o).await.expect("worker run");
    let part = out.join("load-part-1-of-2.json");
    let mut other: LoadResult =
        serde_json::from_str(&std::fs::read_to_string(&part).expect("read")).expect("parse");
    other.meta.worker = Some((2, 2));
    other.meta.config_digest = "0".repeat(64);
    assert!(other.series.iter().any(|s| s.key.side == Side::Candidate));
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, serde_json::to_string(&other).expect("json")).expect("write");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"format\": 3").expect("write");
    let d = dir.path();
    let (code, stderr) = cutover(
        &[
            "load",
            "--merge",
            part.to_str().expect("utf8"),
            "other.json",
            "--out",
            "m",
        ],
        d,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("different configuration"), "{stderr}");
    let (code, stderr) = cutover(&["load", "--merge", "broken.json", "--out", "m"], d);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("broken.json:1:"), "{stderr}");
    assert!(!d.join("m").exists());
}

/// https targets with their own CA: pre-flight and the attack go over cutover's own client
/// (Goose's is built without TLS here), each side's CA file and server name honoured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_are_loaded_with_their_ca_file() {
    let pki = tls::pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = pki.write_ca(dir.path());
    let mono = tls::tls_server(&pki, &[b"http/1.1"]).await;
    let cand = tls::tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    let text = format!(
        "[targets]\nmonolith = {{ url = \"{}\", role = \"primary\", tls_ca_file = {ca:?} }}\n\
         auth = {{ url = \"{}\", tls_ca_file = {ca:?} }}\n\
         [[routes]]\nmatch = \"/auth/**\"\ncandidate = \"auth\"\n",
        mono.https("127.0.0.1"),
        cand.https("localhost"),
    );
    let config = cutover::config::Config::parse(&text, "https.toml").expect("config");
    let out = dir.path().join("out");
    let o = LoadOptions {
        config: Some(config),
        workload: Some(load::workload::get_paths(&["/auth/x".into()])),
        // Asked for, but left out for https targets rather than failing the run.
        goose_report: true,
        ..options(&out, 2, 2)
    };
    let (report, files) = run(o).await;
    assert!(
        !files.iter().any(|f| f.ends_with("goose.html")),
        "{files:?}"
    );
    let route = report
        .routes
        .iter()
        .find(|r| r.route.contains("/auth/x"))
        .unwrap_or_else(|| panic!("no /auth/x route: {}", explain(&report)));
    for side in [&route.baseline, &route.candidate] {
        assert!(side.requests > 0, "{}", explain(&report));
        assert_eq!(side.errors, 0, "{}", explain(&report));
    }
    // Every measured request reached its server over TLS (plus the pre-flight GET /).
    assert!(mono.hits().len() as u64 > route.baseline.requests);
    let hits = cand.hits();
    assert!(hits.len() as u64 > route.candidate.requests);
    assert!(
        hits.iter().all(|h| h.sni.as_deref() == Some("localhost")),
        "the candidate's server name is its URL's host"
    );
}
