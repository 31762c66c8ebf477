//! `cutover load --scenarios DIR` against the embedded reference system on 127.0.0.1:
//! scenario files become the Goose workload (weights, per-user set-up, captures per user
//! and side), the repository's own `scenarios/` run under load, and a broken scenario file
//! is a usage error naming file:line. Assertions are on routes, counts and verdicts, never
//! on timing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cutover::load::{self, LoadOptions, LoadReport};
use cutover::pipeline::load_gates::{Decision, LoadTrigger, Verdict};
use cutover::reference::parse_divergences;

/// Logs in once per user (set-up), then uses the token and an id captured on each side.
const AI_USER: &str = r#"
name: ai user
weight: 3
setup:
  - name: register
    request:
      method: POST
      path: /auth/register
      json: {username: loadadmin, password: load-pass-2026}
  - name: login
    request:
      method: POST
      path: /auth/login
      form: {username: loadadmin, password: load-pass-2026}
    capture:
      token: {pointer: /access_token}
steps:
  - name: status
    request: {path: /ai/status, bearer: "${token}"}
  - name: me
    request: {path: /auth/me, bearer: "${token}"}
    capture:
      me: {pointer: /id}
  - name: user by id
    request: {path: "/auth/users/${me}"}
"#;

/// Weight 0: never picked.
const NEVER: &str = r#"
name: never
weight: 0
steps:
  - name: query
    request: {method: POST, path: /ai/query, json: {prompt: hi}}
"#;

fn scenarios_dir(dir: &Path) -> std::path::PathBuf {
    let s = dir.join("scenarios");
    std::fs::create_dir_all(&s).expect("mkdir");
    std::fs::write(s.join("ai_user.yaml"), AI_USER).expect("write");
    std::fs::write(s.join("never.yaml"), NEVER).expect("write");
    s
}

fn explain(r: &LoadReport) -> String {
    let mut s = format!("verdict {:?}, not sent {}\n", r.verdict, r.not_sent);
    for route in &r.routes {
        s.push_str(&format!(
            "{} {:?}: {} {} ({} 4xx) vs {} {} ({} 4xx)\n",
            route.route,
            route.verdict,
            route.candidate.target,
            route.candidate.requests,
            route.candidate.status_4xx,
            route.baseline.target,
            route.baseline.requests,
            route.baseline.status_4xx
        ));
    }
    s + &r.reasons.join("\n")
}

async fn run(dir: &Path, scenarios: &Path, secs: u64, diverge: &[&str]) -> LoadReport {
    run_with(dir, scenarios, secs, diverge, true).await
}

/// `goose_report: false`: requests go over cutover's own client (`load::direct`).
async fn run_with(
    dir: &Path,
    scenarios: &Path,
    secs: u64,
    diverge: &[&str],
    goose_report: bool,
) -> LoadReport {
    let names: Vec<String> = diverge.iter().map(|s| s.to_string()).collect();
    let o = LoadOptions {
        goose_report,
        out: Some(dir.join("run")),
        duration: Duration::from_secs(secs),
        users: 6,
        scenarios: cutover::scenario::load_dir(scenarios).expect("scenarios load"),
        divergences: parse_divergences(&names).expect("divergences"),
        ..LoadOptions::default()
    };
    match load::run(o).await {
        Ok(outcome) => outcome.report.expect("a verdict"),
        Err(e) => panic!("load run failed: {e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_files_drive_the_load_with_captures_per_user_and_side() {
    captures_per_user_and_side(true).await;
}

/// The same over cutover's own client: captured tokens, ids and bodies on each side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_goose_report_scenario_captures_work_the_same() {
    captures_per_user_and_side(false).await;
}

async fn captures_per_user_and_side(goose_report: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = run_with(dir.path(), &scenarios_dir(dir.path()), 4, &[], goose_report).await;
    let find = |route: &str| {
        report
            .routes
            .iter()
            .find(|r| r.route == route)
            .unwrap_or_else(|| panic!("no route {route}\n{}", explain(&report)))
    };
    // Every route of the steps, routed to its candidate by the reference `[[routes]]`;
    // a captured id is the `{me}` of the route name, whatever each user's id is.
    for (route, candidate) in [
        ("GET /ai/status", "ai"),
        ("GET /auth/me", "auth"),
        ("GET /auth/users/{me}", "auth"),
    ] {
        let r = find(route);
        assert_eq!(r.candidate.target, candidate, "{}", explain(&report));
        assert_eq!(r.baseline.target, "monolith");
        assert!(r.candidate.requests > 0 && r.baseline.requests > 0);
        // The token and the id captured on each side were used on that side: no 401,
        // no 404 (the monolith and the auth service number their users independently).
        assert_eq!(
            (r.candidate.status_4xx, r.baseline.status_4xx),
            (0, 0),
            "{}",
            explain(&report)
        );
        assert_eq!((r.candidate.errors, r.baseline.errors), (0, 0));
    }
    // Set-up steps are not measured; the weight-0 scenario never ran.
    assert!(
        report.routes.iter().all(|r| !r.route.starts_with("POST ")),
        "{}",
        explain(&report)
    );
    assert_eq!(report.not_sent, 0, "{}", explain(&report));
    assert!(report.workload.contains("ai user"), "{}", report.workload);
    assert_ne!(report.verdict, Verdict::Rollback, "{}", explain(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_ai_service_under_a_scenario_workload_rolls_back_on_its_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = run(
        dir.path(),
        &scenarios_dir(dir.path()),
        4,
        &["ai-latency-200ms"],
    )
    .await;
    assert_eq!(report.verdict, Verdict::Rollback, "{}", explain(&report));
    let ai = report
        .routes
        .iter()
        .find(|r| r.route == "GET /ai/status")
        .expect("ai route");
    assert!(
        ai.triggers
            .iter()
            .any(|t| t.decision == Decision::Fail && t.trigger == LoadTrigger::LatencyIncrease),
        "{}",
        explain(&report)
    );
    // The auth routes are not blamed.
    for r in report.routes.iter().filter(|r| r.route.contains("/auth/")) {
        assert_ne!(r.verdict, Verdict::Rollback, "{}", explain(&report));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repository_scenarios_run_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let report = run(dir.path(), &scenarios, 4, &[]).await;
    // Routes late in a scenario with think time may see no request in a short run on a
    // busy machine; these come early in their scenarios.
    for want in ["POST /auth/login", "GET /auth/me", "POST /ai/query"] {
        let r = report
            .routes
            .iter()
            .find(|r| r.route == want)
            .unwrap_or_else(|| panic!("{want} missing\n{}", explain(&report)));
        assert!(
            r.candidate.requests > 0 && r.baseline.requests > 0,
            "{}",
            explain(&report)
        );
    }
    // The admins of the shipped scenarios (`admina`, `carol`) are allowlisted: their AI
    // queries are answered, not refused.
    let query = report.routes.iter().find(|r| r.route == "POST /ai/query");
    assert!(
        query.is_some_and(|q| q.candidate.status_4xx < q.candidate.requests),
        "{}",
        explain(&report)
    );
    for r in &report.routes {
        assert_ne!(r.candidate.target, r.baseline.target);
    }
    assert_ne!(report.verdict, Verdict::Rollback, "{}", explain(&report));
}

#[test]
fn a_broken_scenario_file_is_a_usage_error_naming_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = dir.path().join("scenarios");
    std::fs::create_dir_all(&s).expect("mkdir");
    std::fs::write(
        s.join("bad.yaml"),
        "name: bad\nsteps:\n  - name: x\n    request: {path: /ai/status}\n    expekt: {status: 200}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "load",
            "--scenarios",
            "scenarios",
            "--duration",
            "1s",
            "--out",
            "out",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run cutover");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:5"), "{stderr}");
    assert!(!dir.path().join("out").exists());
    // Goose never ran, and nothing but the error reached stdout.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `--through-proxy`: every baseline request is also sent through an in-process proxy, so
/// the run writes a parity report beside the load report; the measured (direct) figures
/// are untouched by the proxied copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_proxy_the_load_also_yields_a_parity_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let o = LoadOptions {
        out: Some(out.clone()),
        duration: Duration::from_secs(3),
        users: 4,
        routes: vec!["/auth/**".into()],
        through_proxy: true,
        divergences: parse_divergences(&["token-type-capitalised".into()]).expect("known"),
        ..LoadOptions::default()
    };
    let outcome = load::run(o).await.expect("load run");
    let report = outcome.report.expect("verdict");
    for name in ["report.json", "summary.md", "index.html", "junit.xml"] {
        assert!(out.join("parity").join(name).is_file(), "parity/{name}");
    }
    assert!(out.join("load.json").is_file() && out.join("junit.xml").is_file());
    let parity: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("parity/report.json")).expect("read"),
    )
    .expect("json");
    let route = |name: &str| {
        parity["routes"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["route"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in the parity report: {parity}"))
    };
    // The divergence the load stage cannot see (a field's value) is in the parity report.
    let login = route("POST /auth/login");
    assert!(login["mismatched"].as_u64() > Some(0), "{login}");
    assert_eq!(login["gate"], "fail", "{login}");
    // Each measured baseline request went through the proxy exactly once more.
    let me = route("GET /auth/me");
    let load_me = report
        .routes
        .iter()
        .find(|r| r.route == "GET /auth/me")
        .expect("load route");
    assert_eq!(me["total"].as_u64(), Some(load_me.baseline.requests));
    assert_eq!(load_me.baseline.requests, load_me.candidate.requests);
}
