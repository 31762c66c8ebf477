//! The run engine: one `RunBuilder` for every source. A source that is not the proxy (a
//! list of hand-built exchanges) produces the four report files; a second analyzer adds
//! typed findings to the same report without touching the parity code; an offline run
//! over more exchanges than the queue holds loses none; the error-rate trigger fires on the
//! demo's `error-500-10pct` with its numbers, and not without it.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/upstream.rs"]
mod support;

use cutover::config::Config;
use cutover::demo::{self, DemoOptions, WorkloadOptions};
use cutover::exchange::Exchange;
use cutover::pipeline::gates::GateKind;
use cutover::pipeline::{Analysis, Analyzer, Finding, Note, PipelineOptions, RouteKey};
use cutover::reference::Divergence;
use cutover::report::{Gate, Report};
use cutover::run::{ExchangeList, Exit, RunBuilder, RunOutcome, run_info};

const CONFIG: &str = r#"
[targets]
monolith = { url = "http://127.0.0.1:9", role = "primary" }
users = { url = "http://127.0.0.1:9" }

[[routes]]
match = "/users/**"
candidate = "users"
"#;

fn config() -> Arc<Config> {
    Arc::new(Config::parse(CONFIG, "engine.toml").unwrap_or_else(|e| panic!("{e}")))
}

/// One exchange, built as a recording line would hold it.
fn exchange(id: u64, uri: &str, primary: (u16, &str), candidate: (u16, &str)) -> Exchange {
    let response = |target: &str, (status, body): (u16, &str)| {
        serde_json::json!({
            "target": target,
            "response": {
                "status": status,
                "headers": [["content-type", "application/json"]],
                "body": body,
                "ttfb_us": 900,
                "total_us": 1000
            }
        })
    };
    let line = serde_json::json!({
        "id": id,
        "at": "2026-11-22T12:00:00Z",
        "route": format!("GET {uri}"),
        "request": { "method": "GET", "uri": uri, "headers": [] },
        "outcomes": {
            "primary": response("monolith", primary),
            "candidate": response("users", candidate)
        }
    });
    serde_json::from_value(line).unwrap_or_else(|e| panic!("exchange: {e}"))
}

/// Ten users: all match but user 7, whose candidate answers the id as a string.
fn exchanges() -> Vec<Exchange> {
    (1..=10)
        .map(|i| {
            let p = format!(r#"{{"id":{i},"name":"u{i}"}}"#);
            let c = if i == 7 {
                format!(r#"{{"id":"{i}","name":"u{i}"}}"#)
            } else {
                p.clone()
            };
            exchange(i, &format!("/users/{i}"), (200, &p), (200, &c))
        })
        .collect()
}

async fn run_list(builder: RunBuilder, list: Vec<Exchange>, out: &Path) -> RunOutcome<u64> {
    builder
        .report(out.to_path_buf(), run_info("engine-test".into(), "list"))
        .run(ExchangeList(list))
        .await
        .unwrap_or_else(|e| panic!("run failed: {e}"))
}

fn report_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read(out.join("report.json")).expect("report.json");
    serde_json::from_slice(&text).expect("report.json parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_exchanges_runs_through_the_run_builder_and_writes_four_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = run_list(RunBuilder::new(config()), exchanges(), dir.path()).await;
    for f in ["report.json", "summary.md", "index.html", "junit.xml"] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let (report, _) = outcome.report.as_ref().expect("a report");
    assert_eq!(outcome.analysed, 10);
    assert_eq!(report.routes.len(), 1, "{:?}", report.routes);
    let route = &report.routes[0];
    assert_eq!(route.route, "GET /users/{id}");
    assert_eq!((route.compared, route.mismatched), (10, 1));
    assert_eq!(route.differences[0].path, "/id");
    // The gates are listed with their numbers, and the parity one fired.
    let parity = route
        .gates
        .iter()
        .find(|g| g.gate == GateKind::Parity)
        .expect("parity gate");
    assert!(parity.fired);
    assert_eq!(parity.value, 90.0);
    assert_eq!(report.verdict, Gate::Fail);
    assert_eq!(outcome.exit, Exit::GateFailed);
    let json = report_json(dir.path());
    assert_eq!(json["schema"], "cutover.report/v1");
    assert_eq!(json["routes"][0]["gates"][0]["gate"], "parity");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    assert!(junit.contains("parity 90.0%"), "{junit}");
    // The same list without the mismatch passes: exit 0.
    let clean: Vec<Exchange> = exchanges().into_iter().filter(|e| e.id != 7).collect();
    let pass = run_list(RunBuilder::new(config()), clean, &dir.path().join("clean")).await;
    assert_eq!(pass.exit, Exit::Pass);
}

/// A trivial second analyzer: flags answers without a `name`, as a contract would.
struct NeedsName;

impl Analyzer for NeedsName {
    fn name(&self) -> &str {
        "needs-name"
    }

    fn analyze(&self, route: &RouteKey, exchange: &Exchange, analysis: &mut Analysis) {
        let Some(candidate) = exchange.outcomes.candidate.as_ref() else {
            return;
        };
        let Some(response) = candidate.response() else {
            return;
        };
        let body: serde_json::Value =
            serde_json::from_slice(response.body.as_bytes()).unwrap_or_default();
        if body.get("name").is_none() {
            analysis.push(Finding::ContractViolation(Note {
                analyzer: self.name().into(),
                code: "/name".into(),
                message: format!("{route}: the answer has no name"),
            }));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_analyzer_adds_its_findings_to_the_same_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut list = exchanges();
    // Two answers without a name, on both sides: parity matches, the contract does not.
    for id in [11, 12] {
        let body = format!(r#"{{"id":{id}}}"#);
        list.push(exchange(
            id,
            &format!("/users/{id}"),
            (200, &body),
            (200, &body),
        ));
    }
    let plain = run_list(
        RunBuilder::new(config()),
        list.clone(),
        &dir.path().join("a"),
    )
    .await;
    let both = run_list(
        RunBuilder::new(config()).analyzer(Arc::new(NeedsName)),
        list,
        &dir.path().join("b"),
    )
    .await;
    let (plain, _) = plain.report.expect("report");
    let (report, _): (Report, _) = both.report.expect("report");
    let route = &report.routes[0];
    // Parity is untouched by the second analyzer.
    assert_eq!(
        (route.compared, route.mismatched, route.parity),
        (
            plain.routes[0].compared,
            plain.routes[0].mismatched,
            plain.routes[0].parity
        )
    );
    assert!(plain.routes[0].findings.is_empty());
    assert_eq!(route.findings.len(), 1, "{:?}", route.findings);
    let f = &route.findings[0];
    assert_eq!(
        (
            f.kind.as_str(),
            f.analyzer.as_str(),
            f.code.as_str(),
            f.count
        ),
        ("contract_violation", "needs-name", "/name", 2)
    );
    assert_eq!(
        f.examples[0].message,
        "GET /users/{id}: the answer has no name"
    );
    let json = report_json(&dir.path().join("b"));
    assert_eq!(json["routes"][0]["findings"][0]["count"], 2);
    for file in ["summary.md", "index.html"] {
        let text = std::fs::read_to_string(dir.path().join("b").join(file)).expect(file);
        assert!(text.contains("needs-name"), "{file} lacks the finding");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_run_over_more_than_the_queue_holds_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = format!(r#"{{"id":1,"name":"{}"}}"#, "x".repeat(2000));
    let list: Vec<Exchange> = (0..2_000)
        .map(|i| exchange(i, &format!("/users/{}", i % 50), (200, &big), (200, &big)))
        .collect();
    // A queue of 4 exchanges and 8 KB of bodies: a live source would drop most of these.
    let options = PipelineOptions {
        capacity: 4,
        max_queued_bytes: 8 * 1024,
        ..PipelineOptions::default()
    };
    let outcome = run_list(RunBuilder::new(config()).options(options), list, dir.path()).await;
    assert_eq!(outcome.source, 2_000, "every exchange queued");
    assert_eq!(outcome.dropped, 0);
    assert_eq!(outcome.analysed, 2_000);
    let (report, _) = outcome.report.expect("report");
    assert_eq!(report.totals.exchanges, 2_000);
    assert_eq!(report.totals.compared, 2_000);
}

async fn demo_run(divergences: Vec<Divergence>, out: &Path) -> demo::DemoOutcome {
    let options = DemoOptions {
        divergences,
        workload: WorkloadOptions {
            rounds: 3,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_rate_trigger_fires_on_error_500_10pct_and_not_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = demo_run(vec![Divergence::Error500EveryTenth], &dir.path().join("e")).await;
    let fired: Vec<_> = broken
        .report
        .routes
        .iter()
        .flat_map(|r| r.gates.iter().map(move |g| (r, g)))
        .filter(|(_, g)| g.gate == GateKind::ErrorRate && g.fired)
        .collect();
    assert!(!fired.is_empty(), "no error-rate trigger fired");
    for (route, g) in &fired {
        assert!(route.route.starts_with("GET /auth/") || route.route.contains("/auth/"));
        assert!(g.value > g.limit && g.limit == 1.0, "{g:?}");
        assert_eq!(g.primary, Some(0.0), "{g:?}");
        assert!(g.message.contains("above the 1.0% limit"), "{}", g.message);
        assert!(
            g.message.contains(" of "),
            "the counts are named: {}",
            g.message
        );
        assert!(route.failures.contains(&g.message), "{:?}", route.failures);
    }
    assert_eq!(broken.exit, Exit::GateFailed);
    let md = std::fs::read_to_string(&broken.written.markdown).expect("summary.md");
    assert!(md.contains("above the 1.0% limit"), "summary.md names it");
    let junit = std::fs::read_to_string(&broken.written.junit).expect("junit.xml");
    assert!(junit.contains("error_rate"), "junit.xml names it");

    let clean = demo_run(Vec::new(), &dir.path().join("c")).await;
    let evaluated: Vec<_> = clean
        .report
        .routes
        .iter()
        .flat_map(|r| &r.gates)
        .filter(|g| g.gate == GateKind::ErrorRate)
        .collect();
    assert!(!evaluated.is_empty(), "the trigger is evaluated");
    assert!(evaluated.iter().all(|g| !g.fired), "{evaluated:?}");
    assert_eq!(clean.report.verdict, Gate::Pass);
    assert_eq!(clean.exit, Exit::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_re_analysed_without_losing_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let mut text = String::new();
    for ex in (0..500).map(|i| exchange(i, "/users/1", (200, "{}"), (200, "{}"))) {
        text.push_str(&serde_json::to_string(&ex).expect("serialises"));
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write");
    let options = PipelineOptions {
        capacity: 2,
        ..PipelineOptions::default()
    };
    let outcome = RunBuilder::new(config())
        .options(options)
        .report(dir.path().join("out"), run_info("rec".into(), "recording"))
        .run(cutover::run::RecordingSource {
            recording: cutover::record::Recording::open(&[path]).expect("recording opens"),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.source.exchanges, 500);
    assert_eq!((outcome.analysed, outcome.dropped), (500, 0));
    assert_eq!(outcome.exit, Exit::Pass);
}

/// `cutover proxy --report DIR` (the real binary): serve, stop on SIGTERM, write the report;
/// the exit status is the gates' verdict. Returns the status code and the report.
async fn proxy_with_report(candidate_status: u16) -> (Option<i32>, serde_json::Value) {
    let primary =
        support::upstream(|_| async { support::json(serde_json::json!({"ok": 1})) }).await;
    let candidate = support::upstream(move |_| async move {
        support::full(candidate_status, "application/json", r#"{"ok":1}"#)
    })
    .await;
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("cutover.toml");
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\n[targets]\n\
         monolith = {{ url = \"{}\", role = \"primary\" }}\nusers = {{ url = \"{}\" }}\n\n\
         [[routes]]\nmatch = \"/users/**\"\ncandidate = \"users\"\n",
        primary.url(),
        candidate.url()
    );
    std::fs::write(&cfg, text).expect("config");
    let out = tmp.path().join("report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("proxy")
        .arg("--config")
        .arg(&cfg)
        .arg("--record")
        .arg(tmp.path().join("r.jsonl"))
        .arg("--report")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cutover proxy");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout);
    let mut listen = None;
    while listen.is_none() {
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            panic!("proxy exited before listening");
        }
        listen = line
            .trim()
            .strip_prefix("listening http://")
            .map(str::to_string);
    }
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let listen = listen.expect("listen");
    let client = reqwest::Client::new();
    for i in 0..20 {
        let r = client
            .get(format!("http://{listen}/users/{i}"))
            .send()
            .await
            .expect("request through the proxy");
        assert_eq!(r.status(), 200);
    }
    // Every shadow answered before the stop: the candidate saw all 20.
    let deadline = Instant::now() + Duration::from_secs(30);
    while candidate.count() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.map(|s| s.success()).unwrap_or(false), "SIGTERM sent");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("proxy did not stop");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (status.code(), report_json(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_report_exit_status_follows_the_gates() {
    let (code, report) = proxy_with_report(503).await;
    assert_eq!(code, Some(1), "a failing gate exits 1");
    let gates = &report["routes"][0]["gates"];
    let error_rate = gates
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "error_rate"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(error_rate["fired"], true, "{gates}");
    assert_eq!(error_rate["value"], 100.0);
    assert_eq!(error_rate["primary"], 0.0);
    let (code, report) = proxy_with_report(200).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["totals"]["compared"], 20);
}
