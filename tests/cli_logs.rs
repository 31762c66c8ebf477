//! Issue #8, item 8 and the `--help` part of item 5: logs that help an operator, and exit
//! codes listed in every `--help`.
//!
//! Each test runs the real `cutover` binary against loopback upstreams, bounded: the proxy
//! is stopped with SIGTERM after a handful of requests.

#[path = "support/redaction.rs"]
mod bypass;
#[path = "support/upstream.rs"]
mod support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bypass::{Killed, assert_clean, collect, metrics, token};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// A config with a mirrored route to a live candidate and one to a target where nothing
/// listens (its failures are logged rate-limited).
fn config(dir: &Path, primary: &str, candidate: &str, dead: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 5000

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}
dead = {{ url = "{dead}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
mirror_writes = true

[[routes]]
match = "/down/**"
candidate = "dead"

[recording]
fsync_interval_ms = 50
"#
    );
    let path = dir.join("cutover.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// A running `cutover proxy`, its output collected.
struct Proxy {
    child: Killed,
    listen: String,
    admin: String,
    head: String,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

fn start(flags: &[&str], cfg: &Path, rec: &Path, rust_log: Option<&str>) -> Proxy {
    let mut cmd = Command::new(BIN);
    cmd.args(flags)
        .arg("proxy")
        .arg("--config")
        .arg(cfg)
        .arg("--record")
        .arg(rec)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    let mut child: Child = cmd.spawn().expect("spawn cutover proxy");
    let stderr = collect(child.stderr.take().expect("stderr"));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let child = Killed(child);
    let mut head = String::new();
    let (mut listen, mut admin) = (None, None);
    while listen.is_none() || admin.is_none() {
        let mut line = String::new();
        if lines.read_line(&mut line).expect("stdout") == 0 {
            let err = stderr.lock().map(|e| e.clone()).unwrap_or_default();
            panic!(
                "proxy exited early: {head}{}",
                String::from_utf8_lossy(&err)
            );
        }
        head.push_str(&line);
        if let Some(a) = line.trim().strip_prefix("listening http://") {
            listen = Some(a.to_string());
        }
        if let Some(a) = line.trim().strip_prefix("admin     http://") {
            admin = a.strip_suffix("/metrics").map(str::to_string);
        }
    }
    Proxy {
        child,
        listen: listen.expect("listen"),
        admin: admin.expect("admin"),
        head,
        stdout: collect(lines),
        stderr,
    }
}

impl Proxy {
    /// Wait until `n` exchanges were analysed (bounded), then SIGTERM and wait for the exit.
    async fn stop(mut self, n: u64) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let m = metrics(&self.admin).await;
            if bypass::analysed(&m) >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.0.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let exit = self.child.0.try_wait().expect("wait");
        assert_eq!(
            exit.and_then(|s| s.code()),
            Some(0),
            "proxy stopped cleanly"
        );
        // Let the reader threads drain the pipes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut out = std::mem::take(&mut self.head);
        out.push_str(&String::from_utf8_lossy(
            &self.stdout.lock().map(|v| v.clone()).unwrap_or_default(),
        ));
        let err =
            String::from_utf8_lossy(&self.stderr.lock().map(|v| v.clone()).unwrap_or_default())
                .into_owned();
        (out, err)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Requests carrying secrets in every place a log line could pick them up; returns the
/// secrets and the number of mirrored exchanges.
async fn send_secrets(base: &str) -> (Vec<String>, u64) {
    let c = client();
    let s: Vec<String> = (0..5).map(|i| format!("S{i}ecret{}", token())).collect();
    let bearer = c
        .get(format!("{base}/api/items"))
        .header("authorization", format!("Bearer {}", s[0]));
    let query = c.get(format!("{base}/api/items?token={}&page=2", s[1]));
    let form = c
        .post(format!("{base}/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("user=ann&password={}", s[2]));
    let segment = c.post(format!("{base}/api/reset/{}", token()));
    let cookie = c
        .get(format!("{base}/api/me?api_key={}", s[3]))
        .header("cookie", format!("session={}", s[4]));
    let mut n = 0;
    for r in [bearer, query, form, segment, cookie] {
        let resp = r.send().await.expect("request through the proxy");
        assert_eq!(resp.status(), 200);
        n += 1;
    }
    (s, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vv_at_trace_logs_startup_and_request_lines_and_no_secret() {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let (dead, _hold) = down_addr();
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = config(
        tmp.path(),
        &primary.url(),
        &candidate.url(),
        &format!("http://{dead}"),
    );
    let rec = tmp.path().join("rec").join("r.jsonl");
    let proxy = start(&["-vv"], &cfg, &rec, Some("trace"));
    let base = format!("http://{}", proxy.listen);
    let (mut secrets, mut n) = send_secrets(&base).await;
    // The secret path segment is a fresh token each time: keep the one sent.
    let seg = token();
    let resp = client()
        .get(format!("{base}/api/reset/{seg}/confirm"))
        .send()
        .await
        .expect("segment");
    assert_eq!(resp.status(), 200);
    secrets.push(seg);
    n += 1;
    // Not on any route.
    let resp = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), 200);
    // Ten shadow copies to a target that refuses connections.
    for _ in 0..10 {
        let resp = client()
            .get(format!("{base}/down/x"))
            .send()
            .await
            .expect("down");
        assert_eq!(resp.status(), 200, "the primary still answers");
    }
    n += 10;
    assert_eq!(
        candidate.count(),
        6,
        "the live candidate saw every /api request"
    );
    let (out, err) = proxy.stop(n).await;

    // Start-up lines: listeners, each target with role and URL, each route, recording.
    for needle in [
        "proxy listening on http://127.0.0.1:",
        "admin listening on http://127.0.0.1:",
        &format!("target mono: role primary, url {}", primary.url()),
        &format!("target cand: role candidate, url {}", candidate.url()),
        &format!("target dead: role candidate, url http://{dead}"),
        "route /api/**: candidate cand, sample 1, mirror_writes true",
        "route /down/**: candidate dead, sample 1, mirror_writes false",
        &format!("recording to {}", rec.display()),
        "client connections capped at",
        "grouping: param_after",
    ] {
        assert!(
            err.contains(needle),
            "no start-up line {needle:?} in:\n{err}"
        );
    }
    // One line per request, with route, status, duration and whether it was mirrored.
    let requests: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" request request="))
        .collect();
    assert_eq!(requests.len(), 17, "one line per request:\n{err}");
    assert!(requests.iter().any(
        |l| l.contains("request=GET /api/items route=/api/** status=200")
            && l.contains("ttfb_ms=")
            && l.contains("mirrored=yes")
    ));
    assert!(
        requests
            .iter()
            .any(|l| l.contains("request=GET /health route=none status=200")
                && l.contains("mirrored=no_route"))
    );
    // The query secret is replaced in the line, the rest of the query kept.
    assert!(
        requests
            .iter()
            .any(|l| l.contains("request=GET /api/items?token=") && l.contains("page=2"))
    );
    // One line per mirrored exchange, naming each side's answer.
    let exchanges = err.lines().filter(|l| l.contains(" exchange id=")).count();
    assert_eq!(
        exchanges as u64, n,
        "one line per mirrored exchange:\n{err}"
    );
    assert!(err.contains("candidate=cand 200 in "), "{err}");
    assert!(err.contains("candidate=dead connect after "), "{err}");
    // Ten connect failures: the first is logged with its message, the rest are counted.
    let failures: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("upstream dead: "))
        .collect();
    assert!(
        failures
            .first()
            .is_some_and(|l| l.contains("WARN") && l.contains("connect failure")),
        "{err}"
    );
    assert!(
        failures.len() < 10,
        "rate-limited, not one per failure: {failures:#?}"
    );
    // No secret in any line, at trace level, nor in the summary on stdout.
    assert!(out.contains("mirrored"), "the summary was printed: {out}");
    assert_clean("stderr at trace level", err.as_bytes(), &secrets);
    assert_clean("stdout", out.as_bytes(), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_logs_no_info_line_and_still_prints_the_summary() {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let (dead, _hold) = down_addr();
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = config(
        tmp.path(),
        &primary.url(),
        &candidate.url(),
        &format!("http://{dead}"),
    );
    let proxy = start(&["-q"], &cfg, &tmp.path().join("r.jsonl"), None);
    let base = format!("http://{}", proxy.listen);
    for path in ["/api/a", "/down/b"] {
        let resp = client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
    }
    let (out, err) = proxy.stop(2).await;
    for level in ["INFO", "DEBUG", "WARN", "TRACE"] {
        assert!(
            !err.lines().any(|l| l.contains(level)),
            "-q logged a {level} line:\n{err}"
        );
    }
    assert!(
        out.contains("mirrored"),
        "the summary still goes to stdout: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_format_writes_one_object_per_line() {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let (dead, _hold) = down_addr();
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = config(
        tmp.path(),
        &primary.url(),
        &candidate.url(),
        &format!("http://{dead}"),
    );
    let proxy = start(
        &["-vv", "--log-format", "json"],
        &cfg,
        &tmp.path().join("r.jsonl"),
        None,
    );
    let base = format!("http://{}", proxy.listen);
    for path in ["/api/a?token=abc", "/down/b"] {
        let resp = client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
    }
    let (_, err) = proxy.stop(2).await;
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(lines.len() >= 8, "start-up lines at least: {err}");
    for v in &lines {
        assert!(
            v.is_object() && v["level"].is_string() && v["timestamp"].is_string(),
            "{v}"
        );
    }
    let request = lines
        .iter()
        .find(|v| v["message"] == "request" && v["route"] == "/api/**")
        .unwrap_or_else(|| panic!("no request line: {err}"));
    assert_eq!(request["status"], 200);
    assert_eq!(request["mirrored"], "yes");
    assert!(
        lines
            .iter()
            .any(|v| v["level"] == "WARN" && v["target_name"] == "dead" && v["kind"] == "connect"),
        "{err}"
    );
    assert!(
        lines.iter().any(|v| v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("target mono: role primary"))),
        "{err}"
    );
}

#[test]
fn every_help_lists_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["proxy", "--help"],
        &["report", "--help"],
        &["demo", "--help"],
        &["reference", "--help"],
        &["help", "proxy"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .output()
            .expect("cutover --help");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Exit codes:"), "{args:?}:\n{text}");
        assert!(text.contains("  0  "), "{args:?}:\n{text}");
        assert!(text.contains("  2  usage or"), "{args:?}:\n{text}");
        if !args.contains(&"reference") && !args.contains(&"proxy") {
            assert!(
                text.contains("  1  "),
                "{args:?} names the gate exit:\n{text}"
            );
        }
    }
    let demo = Command::new(BIN)
        .args(["demo", "--help"])
        .output()
        .expect("demo --help");
    let text = String::from_utf8_lossy(&demo.stdout);
    assert!(
        text.contains("whatever the verdict") && text.contains("only with --gate"),
        "{text}"
    );
}

#[test]
fn usage_and_input_errors_exit_2_with_one_error_line() {
    for args in [
        &["--bogus"][..],
        &["proxy", "--mode", "sideways"],
        &["-q", "-v", "proxy"],
        &["--log-format", "xml", "proxy"],
        &["report"],
    ] {
        let out = Command::new(BIN).args(args).output().expect("cutover");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("missing.toml");
    let out = Command::new(BIN)
        .args(["proxy", "--config"])
        .arg(&missing)
        .output()
        .expect("cutover proxy");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: ") && err.contains("missing.toml"),
        "{err}"
    );
    assert_eq!(
        err.matches("os error 2").count(),
        1,
        "the OS error once: {err}"
    );
}
