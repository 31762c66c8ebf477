//! `cutover demo` end to end: the reference system's divergence catalogue is the truth set.
//! Every entry, switched on alone, must be flagged on its routes with its paths and kinds —
//! and nothing else; with none switched on, parity is 100 % although the noise differs on
//! every exchange. Both sides are checked against the shipped contracts: with no divergence
//! everything conforms; catalogue bugs that break the contract are named as violations.
//! Also: the report files are well-formed and the HTML opens in Chromium.

use std::collections::BTreeSet;
use std::path::Path;

use cutover::demo::{self, DemoOptions, WorkloadOptions};
use cutover::reference::{self, Divergence, EffectKind, catalogue};
use cutover::report::{Gate, Report};

/// Rounds enough for every trigger: ≥ 10 login samples (latency), the admin past the AI
/// rate limit, every 10th auth request.
const ROUNDS: usize = 5;

async fn run(divergences: Vec<Divergence>, out: &Path) -> demo::DemoOutcome {
    let options = DemoOptions {
        divergences,
        workload: WorkloadOptions {
            rounds: ROUNDS,
            ..WorkloadOptions::default()
        },
        out: Some(out.to_path_buf()),
        ..DemoOptions::default()
    };
    match demo::run(options).await {
        Ok(o) => o,
        Err(e) => panic!("demo failed: {e:#}"),
    }
}

type Effect = (String, String, String);

/// Array indices are positions in whatever list the workload produced; compare shapes.
fn shape(path: &str) -> String {
    cutover::report::markdown::index_shape(path)
}

fn flagged(report: &Report) -> BTreeSet<Effect> {
    let mut out = BTreeSet::new();
    for r in report.routes.iter().filter(|r| r.gate == Gate::Fail) {
        for d in &r.differences {
            out.insert((r.route.clone(), shape(&d.path), d.kind.as_str().to_string()));
        }
        if r.latency.finding.is_some() {
            out.insert((r.route.clone(), "latency".into(), "latency".into()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_divergence_is_flagged_where_expected_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut problems = Vec::new();
    for info in catalogue() {
        let outcome = run(vec![info.divergence], &dir.path().join(info.name)).await;
        let mut got = flagged(&outcome.report);
        // This is the parity truth set. A latency gate needs only 10 samples, so on a loaded
        // machine (tests run in parallel) it can fire on a route the divergence never
        // touches; latency is held to the catalogue only where the entry declares it. The
        // latency statistics themselves belong to the load stage.
        if !info.expect.iter().any(|e| e.kind == EffectKind::Latency) {
            got.retain(|e| e.1 != "latency");
        }
        let want: BTreeSet<Effect> = info
            .expect
            .iter()
            .map(|e| {
                (
                    e.route.to_string(),
                    shape(e.path),
                    e.kind.as_str().to_string(),
                )
            })
            .collect();
        let missing: Vec<_> = want.difference(&got).collect();
        if !missing.is_empty() {
            problems.push(format!("{}: not flagged: {missing:?}", info.name));
        }
        let extra: Vec<_> = got.difference(&want).collect();
        // Beyond the trigger's exact effects, a bug may show on the other routes it reaches
        // (declared in the catalogue: every request of a service, every AI route, ...).
        let reach: BTreeSet<&str> = info
            .expect
            .iter()
            .map(|e| e.route)
            .chain(info.reach.iter().copied())
            .collect();
        let explained = |e: &&Effect| reach.contains(e.0.as_str());
        let unexplained: Vec<_> = extra.into_iter().filter(|e| !explained(e)).collect();
        if !unexplained.is_empty() {
            problems.push(format!(
                "{}: flagged beyond its effects: {unexplained:?}",
                info.name
            ));
        }
        if outcome.report.verdict != Gate::Fail {
            problems.push(format!("{}: verdict is not FAIL", info.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_divergence_means_full_parity_with_noise_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = run(Vec::new(), dir.path()).await;
    let report = &outcome.report;
    assert_eq!(report.verdict, Gate::Pass, "{:#?}", flagged(report));
    assert!(report.totals.compared > 100, "{:?}", report.totals);
    assert_eq!(report.totals.parity, 1.0);
    let mirrored: BTreeSet<&str> = report.routes.iter().map(|r| r.route.as_str()).collect();
    for route in [
        "POST /auth/register",
        "POST /auth/login",
        "GET /auth/me",
        "PUT /auth/me",
        "GET /auth/users/{id}",
        "GET /auth/users/search",
        "POST /ai/query",
        "POST /ai/query/stream",
        "GET /ai/status",
    ] {
        assert!(
            mirrored.contains(route),
            "{route} was not exercised: {mirrored:?}"
        );
    }
    // Noise differs on every exchange, and each suppressed path says why.
    let reason = |route: &str, path: &str| -> String {
        let r = report
            .routes
            .iter()
            .find(|r| r.route == route)
            .expect("route");
        let s = r
            .suppressed
            .iter()
            .find(|s| s.path == path)
            .unwrap_or_else(|| {
                panic!(
                    "{route} {path} not listed as suppressed: {:?}",
                    r.suppressed
                )
            });
        s.reasons
            .iter()
            .map(|r| r.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(reason("POST /auth/login", "/access_token").contains("jwt"));
    assert!(reason("GET /auth/me", "/created_at").contains("timestamp"));
    assert!(reason("GET /ai/status", "/reset_at").contains("timestamp"));
    assert!(reason("POST /ai/query", "/latency_ms").contains("learned noise"));
    assert!(reason("GET /auth/me", "header:x-request-id").contains("x-request-id"));

    // Conformance next to parity: every mirrored route is covered and both sides conform.
    let c = report.totals.contracts.as_ref().expect("contracts checked");
    assert_eq!(c.routes_uncovered, 0, "{c:?}");
    assert!(
        c.primary.checked > 100 && c.candidate.checked > 100,
        "{c:?}"
    );
    assert_eq!(
        (c.primary.violating, c.candidate.violating),
        (0, 0),
        "{c:?}"
    );

    // Re-analysing the recording agrees, and a passing gate exits 0.
    let out = dir.path().join("again");
    let run = report_cmd(&outcome.recording, &out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_files_are_well_formed_and_secret_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let divergences = reference::parse_divergences(&["non-admin-403".to_string()]).expect("known");
    let outcome = run(divergences, dir.path()).await;
    let w = &outcome.written;
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.json).expect("report.json")).expect("parses");
    assert_eq!(json["schema"], "cutover.report/v1");
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_path).expect("schema")).expect("parses");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json breaks docs/report.schema.json: {errors:#?}"
    );
    let mut broken = json.clone();
    broken["verdict"] = "maybe".into();
    broken["routes"][0]["differences"] = serde_json::json!([{"path": "/x"}]);
    assert!(
        validator.iter_errors(&broken).count() >= 2,
        "the schema must reject a broken report"
    );
    let _: Report = serde_json::from_value(json).expect("matches the model");
    let junit = std::fs::read_to_string(&w.junit).expect("junit.xml");
    let parsed = quick_junit_parse(&junit);
    assert_eq!(parsed.0, outcome.report.routes.len());
    assert_eq!(parsed.1, 3, "403 shows on the three AI routes");
    // The recording and every report file are free of the workload's secrets.
    let password = "correct horse battery staple";
    for file in [&w.json, &w.markdown, &w.html, &w.junit, &outcome.recording] {
        let text = std::fs::read_to_string(file).expect("read");
        assert!(
            !text.contains(password),
            "{} leaks the password",
            file.display()
        );
        assert!(!text.contains("eyJ"), "{} leaks a JWT", file.display());
    }
    html_opens_in_chromium(&w.html);

    // The recording re-analysed by `cutover report` reaches the same verdict, and the gate
    // fails the command (exit 1).
    let out = dir.path().join("again");
    let run = report_cmd(&outcome.recording, &out);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let again: Report =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("written"))
            .expect("parses");
    let failing = |r: &Report| -> BTreeSet<String> {
        r.routes
            .iter()
            .filter(|r| r.gate == Gate::Fail)
            .map(|r| r.route.clone())
            .collect()
    };
    assert_eq!(failing(&again), failing(&outcome.report));
    assert_eq!(again.totals.compared, outcome.report.totals.compared);
}

fn manifest_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(name)
        .display()
        .to_string()
}

/// `cutover report --from RECORDING --out DIR --config cutover.toml`
fn report_cmd(recording: &Path, out: &Path) -> std::process::Output {
    cutover_cmd(&[
        "report",
        "--from",
        &recording.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--config",
        &manifest_file("cutover.toml"),
    ])
}

fn cutover_cmd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .output()
        .expect("cutover runs")
}

#[test]
fn report_command_input_errors_exit_2_and_name_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.jsonl");
    let run = cutover_cmd(&[
        "report",
        "--from",
        &missing.display().to_string(),
        "--config",
        &manifest_file("cutover.toml"),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("nope.jsonl"));

    let config = dir.path().join("broken.toml");
    std::fs::write(&config, "[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\n[[routes]]\nmatch = \"/auth/**\"\ncandiate = \"auth\"\n").expect("write");
    let run = cutover_cmd(&["proxy", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.toml:5:"), "{stderr}");
    assert!(stderr.contains("candiate"), "{stderr}");

    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n{\"id\":\n").expect("write");
    let run = report_cmd(&garbage, &dir.path().join("r"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("garbage.jsonl:1:"), "{stderr}");
    assert!(stderr.contains("no exchanges"), "{stderr}");
}

/// (test cases, failures) of a JUnit document.
fn quick_junit_parse(xml: &str) -> (usize, usize) {
    let count = |needle: &str| xml.matches(needle).count();
    assert!(xml.starts_with("<?xml"), "not XML: {xml:.80}");
    (count("<testcase "), count("<failure"))
}

/// Headless Chromium renders the page without console errors and shows the routes table.
/// CI installs Chromium (`.ci/packages`); elsewhere the check is skipped with a note.
fn html_opens_in_chromium(html: &Path) {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/packages)"
        );
        eprintln!("note: chromium not installed; HTML rendering check skipped");
        return;
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed: {log}");
    assert!(
        dom.contains("id=\"routes\""),
        "routes table missing from the rendered page"
    );
    assert!(
        dom.contains("POST /ai/query"),
        "routes missing from the rendered table"
    );
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
}

/// A violation as (route, side, kind, instance path).
type Named = (String, String, String, String);

fn violations(report: &Report) -> BTreeSet<Named> {
    let mut out = BTreeSet::new();
    for r in &report.routes {
        for v in r.contracts.iter().flat_map(|c| &c.violations) {
            out.insert((
                r.route.clone(),
                v.side.as_str().to_string(),
                v.kind.as_str().to_string(),
                v.instance_path.clone(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_bugs_that_break_the_contract_are_named_as_violations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let divergences = vec![
        Divergence::IdAsString,
        Divergence::DisplayNameOmittedWhenNull,
        Divergence::TokenTypeCapitalised,
        Divergence::NonAdmin403,
    ];
    let outcome = run(divergences, dir.path()).await;
    let report = &outcome.report;
    let c = report.totals.contracts.as_ref().expect("contracts checked");
    assert_eq!(
        c.primary.violating, 0,
        "the monolith keeps its contract: {c:?}"
    );
    let got = violations(report);
    let named = |route: &str, kind: &str, at: &str| {
        (
            route.to_string(),
            "candidate".to_string(),
            kind.to_string(),
            at.to_string(),
        )
    };
    for want in [
        named("GET /auth/users/{id}", "schema", "/id"),
        named("GET /auth/me", "schema", "/id"),
        named("GET /auth/users/search", "schema", "/*/id"),
        named("POST /auth/login", "schema", "/token_type"),
        named("POST /ai/query", "undocumented_status", ""),
    ] {
        assert!(got.contains(&want), "{want:?} not named in {got:#?}");
    }
    // `display_name` left out when null: a missing required property of the user object.
    let missing = report
        .routes
        .iter()
        .flat_map(|r| r.contracts.iter().flat_map(|c| &c.violations))
        .any(|v| {
            v.schema_path.ends_with("/components/schemas/User/required")
                && v.examples
                    .iter()
                    .any(|e| e.message.contains("display_name"))
        });
    assert!(missing, "{got:#?}");
    assert!(
        got.iter().all(|v| v.1 != "primary" && v.1 != "secondary"),
        "{got:#?}"
    );
    let users = report
        .routes
        .iter()
        .find(|r| r.route == "GET /auth/users/{id}")
        .expect("route");
    assert!(
        users
            .gates
            .iter()
            .any(|g| g.gate.as_str() == "contract" && g.fired),
        "{:?}",
        users.gates
    );
    let md = std::fs::read_to_string(&outcome.written.markdown).expect("summary.md");
    assert!(md.contains("### Contracts"), "{md}");
}
