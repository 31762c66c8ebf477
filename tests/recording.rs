//! Recordings end to end: a real proxy on loopback records, `cutover report --from` (the
//! real binary) re-analyses, and both reach the same verdict — even when a secret token
//! changes its kind — without the original `cutover.toml`. Plus the recording format's
//! bad input: a newer format version, a truncated last line, a failed start.

#[path = "support/upstream.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::exchange::Exchange;
use cutover::pipeline::{Aggregate, Analysis, Pipeline, PipelineOptions, Sink, analyzer_for};
use cutover::record::{Header, Recording, RecordingSink};
use cutover::redact::Redaction;
use cutover::report::{Report, ReportContext, RunInfo};
use serde_json::{Value, json};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");
const JWT_HEAD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0";

/// A distinct JWT per `n` (only the signature changes).
fn jwt(n: u64) -> String {
    format!("{JWT_HEAD}.c2lnbmF0dXJl{n:06}")
}

/// Counts analysed exchanges, so the test knows when the traffic is all in.
struct Count(Arc<AtomicU64>);

impl Sink for Count {
    fn accept(&mut self, _: &Exchange, _: &Analysis) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn config_text(primary: &str, candidate: &str) -> String {
    format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin_enabled = false
shadow_timeout_ms = 2000

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
mirror_writes = true
"#
    )
}

/// One live run through a real proxy: `requests` POSTs, the recording written to `path`.
/// Returns the live report as JSON.
async fn live_run(toml: &str, path: &Path, requests: &[(&str, Value)]) -> Value {
    let config = Arc::new(Config::parse(toml, "test.toml").expect("valid config"));
    let run_id = cutover::record::run_id();
    let sink = RecordingSink::open(path, &config.file.recording)
        .expect("sink")
        .with_redaction(Redaction::for_config(&config.file))
        .with_header(Header::for_config(&run_id, &config));
    let count = Arc::new(AtomicU64::new(0));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink), Box::new(Count(Arc::clone(&count)))];
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate::for_config(&config),
        sinks,
        PipelineOptions::default(),
    )
    .expect("pipeline");
    let proxy = cutover::proxy::start(
        Arc::clone(&config),
        handle,
        pipeline.aggregate(),
        pipeline.stats(),
    )
    .await
    .expect("proxy starts");
    let client = reqwest::Client::new();
    for (p, body) in requests {
        let resp = client
            .post(format!("http://{}{p}", proxy.listen))
            .header("authorization", format!("Bearer {}", jwt(424242)))
            .json(body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::Relaxed) < requests.len() as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.shutdown().await;
    let aggregate = pipeline.finish().await;
    let report = Report::build(
        &aggregate,
        &ReportContext {
            config: &config,
            run: RunInfo {
                id: run_id,
                generated_at: chrono::Utc::now(),
                source: "proxy".into(),
                divergences: Vec::new(),
                recordings: vec![path.display().to_string()],
                ..Default::default()
            },
        },
    );
    serde_json::to_value(&report).expect("report json")
}

/// `cutover report --from <recording> --out <dir> [extra]`, run in `cwd`.
fn report_cli(cwd: &Path, recording: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = cwd.join(format!("out-{}", cutover::record::run_id()));
    let output = Command::new(BIN)
        .current_dir(cwd)
        .arg("report")
        .arg("--from")
        .arg(recording)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .expect("run cutover report");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), report, stderr)
}

/// The verdict and, per route, what was compared and matched.
fn verdict(report: &Value) -> Value {
    let routes: Vec<Value> = report["routes"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    json!([
                        r["route"],
                        r["compared"],
                        r["matched"],
                        r["parity"],
                        r["gate"]
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"verdict": report["verdict"], "routes": routes})
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("recording")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line parses"))
        .collect()
}

fn body_json(outcome: &Value) -> Value {
    serde_json::from_str(outcome["response"]["body"].as_str().unwrap_or("null")).unwrap_or_default()
}

/// Primary: a fresh JWT per request. Candidate: a number on `/api/login`, one constant
/// JWT on `/api/refresh`.
async fn token_targets() -> (Upstream, Upstream) {
    let n = Arc::new(AtomicU64::new(0));
    let primary = upstream(move |_s: Seen| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        async move { json(json!({"access_token": jwt(i), "user": "bob"})) }
    })
    .await;
    let candidate = upstream(|s: Seen| async move {
        if s.uri.starts_with("/api/login") {
            json(json!({"access_token": 12345, "user": "bob"}))
        } else {
            json(json!({"access_token": jwt(999_999), "user": "bob"}))
        }
    })
    .await;
    (primary, candidate)
}

fn token_requests() -> Vec<(&'static str, Value)> {
    let mut r = Vec::new();
    for _ in 0..5 {
        r.push((
            "/api/login",
            json!({"username": "bob", "password": "hunter2-secret"}),
        ));
        r.push((
            "/api/refresh",
            json!({"refresh_token": "r-0123456789abcdef"}),
        ));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_from_a_recording_reaches_the_live_verdict_without_the_config() {
    let (primary, candidate) = token_targets().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("rec.jsonl");
    let toml = config_text(&primary.url(), &candidate.url());
    let live = live_run(&toml, &rec, &token_requests()).await;

    // Live: the token that became a number fails /api/login; two JWTs on /api/refresh
    // are the same kind (noise), so it passes.
    let routes = &live["routes"];
    let row = |route: &str| {
        routes
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["route"] == route).cloned())
            .unwrap_or_else(|| panic!("no route {route} in {routes}"))
    };
    assert_eq!(row("POST /api/login")["parity"], 0.0, "{live}");
    assert_eq!(row("POST /api/refresh")["parity"], 1.0, "{live}");

    // No cutover.toml anywhere near: the recording's header carries the configuration.
    assert!(!dir.path().join("cutover.toml").exists());
    let (code, report, stderr) = report_cli(dir.path(), &rec, &[]);
    assert_eq!(code, 1, "gate failed, as live: {stderr}");
    assert_eq!(verdict(&report), verdict(&live), "{stderr}");

    // What made that possible, and what the file does not hold.
    let text = std::fs::read_to_string(&rec).expect("recording");
    for secret in [
        "hunter2-secret",
        "r-0123456789abcdef",
        "c2lnbmF0dXJl",
        "12345,",
    ] {
        assert!(!text.contains(secret), "{secret} in the recording");
    }
    let lines = lines(&rec);
    assert_eq!(lines[0]["cutover_recording"], 1);
    let exchanges = &lines[1..];
    assert_eq!(exchanges.len(), 10);
    let token =
        |line: &Value, side: &str| body_json(&line["outcomes"][side])["access_token"].clone();
    let login: Vec<&Value> = exchanges
        .iter()
        .filter(|l| l["route"] == "POST /api/login")
        .collect();
    let refresh: Vec<&Value> = exchanges
        .iter()
        .filter(|l| l["route"] == "POST /api/refresh")
        .collect();
    for l in &login {
        let p = token(l, "primary");
        let c = token(l, "candidate");
        assert!(
            p.as_str().is_some_and(|s| s.starts_with("[REDACTED jwt ")),
            "{p}"
        );
        assert!(
            c.as_str()
                .is_some_and(|s| s.starts_with("[REDACTED number ")),
            "{c}"
        );
    }
    // The candidate's constant token keeps one equality class; the primary's change.
    let cand: std::collections::HashSet<String> = refresh
        .iter()
        .map(|l| token(l, "candidate").to_string())
        .collect();
    let prim: std::collections::HashSet<String> = refresh
        .iter()
        .map(|l| token(l, "primary").to_string())
        .collect();
    assert_eq!(cand.len(), 1, "{cand:?}");
    assert_eq!(prim.len(), refresh.len(), "{prim:?}");
    // Equal secrets, equal markers: every request carried the same bearer token and the
    // same password.
    let auths: std::collections::HashSet<String> = exchanges
        .iter()
        .flat_map(|l| {
            l["request"]["headers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|h| h[0] == "authorization")
        .map(|h| h[1].to_string())
        .collect();
    assert_eq!(auths.len(), 1, "{auths:?}");
    assert!(
        auths.iter().all(|a| a.contains("Bearer [REDACTED jwt ")),
        "{auths:?}"
    );
    // Arrival and completion numbers are both unique.
    let ids: std::collections::HashSet<u64> =
        exchanges.iter().filter_map(|l| l["id"].as_u64()).collect();
    let seqs: std::collections::HashSet<u64> =
        exchanges.iter().filter_map(|l| l["seq"].as_u64()).collect();
    assert_eq!((ids.len(), seqs.len()), (10, 10));
    assert!(!seqs.contains(&0));

    // A configuration given on the command line overrides the header, with a note.
    let relaxed = dir.path().join("relaxed.toml");
    std::fs::write(
        &relaxed,
        format!("{toml}\n[compare]\nignore = [\"/access_token\"]\n"),
    )
    .expect("write");
    let (code, report, stderr) = report_cli(dir.path(), &rec, &["--config", "relaxed.toml"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["verdict"], "pass", "{report}");
    assert!(
        stderr.contains("differs from the configuration the recording was made with"),
        "{stderr}"
    );
}

#[test]
fn a_newer_format_version_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("future.jsonl");
    std::fs::write(
        &rec,
        "{\"cutover_recording\":99,\"run_id\":\"x\",\"started_at\":\"2030-01-01T00:00:00Z\",\"tool_version\":\"9.0.0\"}\n",
    )
    .expect("write");
    let (code, _, stderr) = report_cli(dir.path(), &rec, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("{}:1", rec.display())), "{stderr}");
    assert!(stderr.contains("version 99"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_last_line_is_skipped_and_named() {
    let (primary, candidate) = token_targets().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("rec.jsonl");
    let toml = config_text(&primary.url(), &candidate.url());
    live_run(&toml, &rec, &token_requests()).await;
    // kill -9 in the middle of a write: the last line is cut short.
    let text = std::fs::read_to_string(&rec).expect("read");
    let cut = text.len() - text.lines().last().map_or(0, |l| l.len() / 2) - 1;
    std::fs::write(&rec, &text.as_bytes()[..cut]).expect("write");
    let (code, report, stderr) = report_cli(dir.path(), &rec, &[]);
    assert_eq!(
        code, 1,
        "the rest is analysed and still fails /api/login: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:11: truncated last line", rec.display())),
        "{stderr}"
    );
    assert_eq!(report["totals"]["compared"], 9, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_in_the_same_second_get_their_own_ids_and_files() {
    let (primary, candidate) = token_targets().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config_text(&primary.url(), &candidate.url());
    let a = dir
        .path()
        .join(RecordingSink::default_path(chrono::Utc::now()));
    let b = dir
        .path()
        .join(RecordingSink::default_path(chrono::Utc::now()));
    assert_ne!(a, b);
    assert_ne!(cutover::report::run_id(), cutover::report::run_id());
    let reqs = token_requests();
    let (_, _) = tokio::join!(live_run(&toml, &a, &reqs), live_run(&toml, &b, &reqs));
    let mut run_ids = Vec::new();
    for path in [&a, &b] {
        let recording = Recording::open(std::slice::from_ref(path)).expect("opens");
        run_ids.push(recording.header.clone().expect("header").run_id);
        let mut ids = Vec::new();
        let stats = recording.read(|ex, _| ids.push(ex.id)).expect("reads");
        assert_eq!(stats.exchanges, 10);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10, "no duplicate ids in {}", path.display());
    }
    assert_ne!(run_ids[0], run_ids[1]);
}

#[test]
fn a_failed_start_leaves_no_recording_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cfg = dir.path().join("cutover.toml");
    std::fs::write(
        &cfg,
        config_text("http://127.0.0.1:9", "http://127.0.0.1:9")
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .expect("write");
    let rec = dir.path().join("reports").join("rec.jsonl");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["proxy", "--config", "cutover.toml", "--record"])
        .arg(&rec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run cutover proxy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!rec.exists(), "an empty recording was left behind");
    assert!(!dir.path().join("reports").exists());
    drop(taken);
}

/// Run `cutover proxy` (its own process, so its own marker key), send one request with a
/// secret twice, and return the recording's exchange lines.
async fn record_in_a_process(dir: &Path, name: &str, primary: &str) -> Vec<Value> {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, config_text(primary, primary)).expect("write");
    let rec: PathBuf = dir.join(format!("{name}.jsonl"));
    let mut child = Command::new(BIN)
        .args(["proxy", "--config"])
        .arg(&cfg)
        .arg("--record")
        .arg(&rec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let listen = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("listening ").map(str::to_string))
    })
    .await
    .expect("join")
    .expect("a listening line");
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let resp = client
            .post(format!("{listen}/api/login"))
            .json(&json!({"username": "bob", "password": "pw-same-in-both-runs"}))
            .send()
            .await
            .expect("request");
        let _ = resp.bytes().await;
    }
    // The recording is synced every 200 ms; wait for both lines, then stop the process.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = Vec::new();
    while Instant::now() < deadline {
        found = std::fs::read_to_string(&rec)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("request").is_some())
            .collect();
        if found.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&rec).unwrap_or_default();
    assert!(
        !text.contains("pw-same-in-both-runs"),
        "the secret leaked: {text}"
    );
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_are_equal_within_a_run_and_differ_between_runs() {
    let primary = ok_upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = record_in_a_process(dir.path(), "one", &primary.url()).await;
    let second = record_in_a_process(dir.path(), "two", &primary.url()).await;
    let password = |line: &Value| -> String {
        let body: Value = serde_json::from_str(line["request"]["body"].as_str().unwrap_or("null"))
            .unwrap_or_default();
        body["password"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), 2);
    let (a, b) = (password(&first[0]), password(&first[1]));
    assert!(a.starts_with("[REDACTED string "), "{a}");
    assert_eq!(a, b, "equal secrets, equal markers within one run");
    assert_ne!(a, password(&second[0]), "another process, another key");
}
