//! Issue #7, defect 4: every redaction bypass, sent through a real proxy, must leave no
//! secret in the recording, the four report files, `/metrics`, stdout or the logs; a body
//! without secrets must be recorded byte for byte.
//!
//! Two runs over the same requests: the library (proxy + pipeline + recording sink + a
//! report built from the live aggregate), and the `cutover` binary (`proxy -vv` then
//! `report`) whose stdout and stderr are captured.

#[path = "support/upstream.rs"]
mod support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::exchange::Exchange;
use cutover::pipeline::{Aggregate, Pipeline, PipelineOptions, analyzer_for};
use cutover::record::RecordingSink;
use cutover::redact::Redaction;
use cutover::report::{self, Report, ReportContext, RunInfo};
use support::*;

/// A body with no secret, oddly formatted: it must be recorded exactly.
const PLAIN: &[u8] = b"{ \"b\": 1,  \"a\": [2],\n \"token_type\": \"Bearer\" }";

/// Secrets the upstreams put in their answers (headers and bodies).
const RESP_KEY: &str = "respKeyQ7wz";
const RESP_TOKEN: &str = "respTokQ7wz";
const RESP_BODY_PRIMARY: &str = "respBodyP7wz";
const RESP_BODY_CANDIDATE: &str = "respBodyC7wz";

/// Field names that were never redacted before (each gets its own secret).
const NEW_NAMES: &[&str] = &[
    "api_key",
    "apiKey",
    "api-key",
    "private_key",
    "client_secret",
    "credentials",
    "passwd",
    "pin",
    "code",
    "otp",
];

/// A random high-entropy token (base62 with digits and both cases guaranteed).
fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s: String = (0..22)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    s.replace_range(0..3, "Q7x");
    s.replace_range(10..12, "4k");
    s
}

async fn upstreams() -> (Upstream, Upstream) {
    let answer = |body_secret: &'static str, v: u32| {
        move |_: Seen| async move {
            let mut r = json(serde_json::json!({
                "ok": true,
                "api_key": body_secret,
                "v": v,
            }));
            r.headers_mut()
                .insert("x-api-key", http::HeaderValue::from_static(RESP_KEY));
            r.headers_mut()
                .insert("x-auth-token", http::HeaderValue::from_static(RESP_TOKEN));
            r
        }
    };
    (
        upstream(answer(RESP_BODY_PRIMARY, 1)).await,
        upstream(answer(RESP_BODY_CANDIDATE, 2)).await,
    )
}

fn config_text(primary: &str, candidate: &str) -> String {
    format!(
        r#"
[proxy]
listen = "localhost:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 5000

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
mirror_writes = true

[recording]
fsync_interval_ms = 50
"#
    )
}

/// Send every bypass through the proxy at `base`; returns the secrets sent and how many
/// requests were made.
async fn send_bypasses(base: &str) -> (Vec<String>, usize) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut secrets = Vec::new();
    let mut secret = |tag: &str| {
        let s = format!("{tag}Zz{}", token());
        secrets.push(s.clone());
        s
    };
    let mut requests: Vec<reqwest::RequestBuilder> = Vec::new();
    let post = |path: &str, ct: &str, body: Vec<u8>| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", ct)
            .body(body)
    };
    // 1. JSON with one non-UTF-8 byte.
    let mut raw = b"{\"user\":\"bob\xff\",\"password\":\"".to_vec();
    raw.extend_from_slice(secret("nonutf8").as_bytes());
    raw.extend_from_slice(b"\"}");
    requests.push(post("/api/login", "application/json", raw));
    // 2. Each new field name, in JSON and in a form.
    let fields: Vec<String> = NEW_NAMES
        .iter()
        .map(|n| format!("\"{n}\": \"{}\"", secret("json")))
        .collect();
    requests.push(post(
        "/api/json",
        "application/json",
        format!("{{{}}}", fields.join(", ")).into_bytes(),
    ));
    let pairs: Vec<String> = NEW_NAMES
        .iter()
        .map(|n| format!("{n}={}", secret("form")))
        .collect();
    requests.push(post(
        "/api/form",
        "application/x-www-form-urlencoded",
        pairs.join("&").into_bytes(),
    ));
    // 3. A form labelled JSON, JSON labelled form.
    requests.push(post(
        "/api/mislabelled",
        "application/json",
        format!("user=bob&password={}", secret("formasjson")).into_bytes(),
    ));
    requests.push(post(
        "/api/mislabelled",
        "application/x-www-form-urlencoded",
        format!(
            "{{\"user\":\"bob\",\"password\":\"{}\"}}",
            secret("jsonasform")
        )
        .into_bytes(),
    ));
    // 4. A multipart password part.
    let multipart = format!(
        "--bNd7\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n\
         --bNd7\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{}\r\n--bNd7--\r\n",
        secret("multipart")
    );
    requests.push(post(
        "/api/upload",
        "multipart/form-data; boundary=bNd7",
        multipart.into_bytes(),
    ));
    // 5. `;` as a query separator.
    requests.push(client.get(format!("{base}/api/q?x=1;token={}", secret("semicolon"))));
    // 6. Secret request headers.
    requests.push(
        client
            .get(format!("{base}/api/h"))
            .header("X-Api-Key", secret("xapikey"))
            .header("X-Auth-Token", secret("xauthtoken")),
    );
    // 7. A secret path segment (the token itself must look random: no tag prefix).
    let path_token = token();
    secrets.push(path_token.clone());
    requests.push(client.post(format!("{base}/api/auth/reset/{path_token}")));
    // 8. No secret at all.
    requests.push(post("/api/plain", "application/json", PLAIN.to_vec()));
    let n = requests.len();
    for r in requests {
        let resp = r.send().await.expect("send");
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await;
    }
    for s in [RESP_KEY, RESP_TOKEN, RESP_BODY_PRIMARY, RESP_BODY_CANDIDATE] {
        secrets.push(s.to_string());
    }
    (secrets, n)
}

fn assert_clean(what: &str, text: &[u8], secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.windows(s.len()).any(|w| w == s.as_bytes()),
            "secret {s:?} leaked into {what}:\n{}",
            String::from_utf8_lossy(text)
        );
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Every recording file is clean; the plain body is recorded byte for byte.
fn check_recording(dir: &Path, secrets: &[String], n: usize) {
    let mut lines = 0;
    let mut plain_seen = false;
    for f in files_in(dir) {
        let text = std::fs::read(&f).expect("recording");
        assert_clean(&f.display().to_string(), &text, secrets);
        for line in String::from_utf8_lossy(&text).lines() {
            let ex: Exchange = serde_json::from_str(line).expect("an exchange per line");
            lines += 1;
            if ex.request.uri == "/api/plain" {
                assert_eq!(ex.request.body.as_bytes(), PLAIN, "plain body changed");
                plain_seen = true;
            }
            if ex.request.uri.starts_with("/api/auth/reset/") {
                assert_eq!(ex.request.uri, "/api/auth/reset/[REDACTED]");
            }
        }
    }
    assert_eq!(lines, n, "one line per exchange");
    assert!(plain_seen);
}

fn check_report_dir(dir: &Path, secrets: &[String]) {
    let files = files_in(dir);
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for expected in ["report.json", "summary.md", "index.html", "junit.xml"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for f in files {
        let text = std::fs::read(&f).expect("report file");
        assert_clean(&f.display().to_string(), &text, secrets);
    }
    // The report shows the routes and examples (it is not clean by being empty).
    let json = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    assert!(json.contains("POST /api/auth/reset/{id}"), "{json}");
    assert!(json.contains("POST /api/login"), "{json}");
}

async fn metrics(admin: &str) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn analysed(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("cutover_pipeline_analysed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn wait_analysed(admin: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = metrics(admin).await;
        if analysed(&m) >= n as u64 || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bypass_reaches_the_recording_the_report_files_or_metrics() {
    let (primary, candidate) = upstreams().await;
    let text = config_text(&primary.url(), &candidate.url());
    let config = Arc::new(Config::parse(&text, "redaction.toml").expect("config"));
    let tmp = tempfile::tempdir().expect("tmp");
    let rec_dir = tmp.path().join("rec");
    let redaction = Redaction::for_config(&config.file);
    let sink = RecordingSink::open(rec_dir.join("r.jsonl"), &config.file.recording)
        .expect("sink")
        .with_redaction(redaction.clone());
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate {
            redaction,
            ..Aggregate::default()
        },
        vec![Box::new(sink)],
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
    .expect("proxy");
    assert!(
        proxy.listen.ip().is_loopback(),
        "localhost:0 listens on loopback"
    );
    let admin = proxy.admin.expect("admin").to_string();
    let (secrets, n) = send_bypasses(&format!("http://{}", proxy.listen)).await;
    let m = wait_analysed(&admin, n).await;
    assert_eq!(analysed(&m), n as u64);
    // The upstreams really saw (and answered) the secrets: the test is not vacuous.
    assert_eq!(candidate.count(), n, "every request was mirrored");
    assert_clean("/metrics", m.as_bytes(), &secrets);
    assert!(m.contains("route=\"POST /api/auth/reset/{id}\""), "{m}");
    proxy.shutdown().await;
    let aggregate = pipeline.finish().await;
    check_recording(&rec_dir, &secrets, n);
    let report = Report::build(
        &aggregate,
        &ReportContext {
            config: &config,
            run: RunInfo {
                id: "redaction".into(),
                generated_at: report::now(),
                source: "proxy".into(),
                divergences: Vec::new(),
                recordings: Vec::new(),
            },
        },
    );
    let out = tmp.path().join("report");
    report::write_all(&report, &out).expect("report written");
    check_report_dir(&out, &secrets);
}

/// Collects a child's output on a thread.
fn collect(mut r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(k) = r.read(&mut chunk) {
            if k == 0 {
                break;
            }
            if let Ok(mut v) = b.lock() {
                v.extend_from_slice(&chunk[..k]);
            }
        }
    });
    buf
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bypass_reaches_stdout_logs_or_the_report_command() {
    let (primary, candidate) = upstreams().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("cutover.toml");
    std::fs::write(&cfg, config_text(&primary.url(), &candidate.url())).expect("config");
    let rec_dir = tmp.path().join("rec");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["-vv", "proxy", "--config"])
        .arg(&cfg)
        .arg("--record")
        .arg(rec_dir.join("r.jsonl"))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cutover proxy");
    let stderr = collect(child.stderr.take().expect("stderr"));
    let mut stdout_lines = BufReader::new(child.stdout.take().expect("stdout"));
    let child = Killed(child);
    // "listening http://ADDR" then "admin     http://ADDR/metrics".
    let mut head = String::new();
    let (mut listen, mut admin) = (None, None);
    while listen.is_none() || admin.is_none() {
        let mut line = String::new();
        if stdout_lines.read_line(&mut line).expect("stdout") == 0 {
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
    let (listen, admin) = (listen.expect("listen"), admin.expect("admin"));
    let stdout = collect(stdout_lines);
    let (secrets, n) = send_bypasses(&format!("http://{listen}")).await;
    let m = wait_analysed(&admin, n).await;
    assert_eq!(analysed(&m), n as u64);
    assert_clean("/metrics (binary)", m.as_bytes(), &secrets);
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.0.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(child.0.try_wait().expect("wait").is_some(), "proxy stopped");
    // Let the reader threads drain the pipes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut out = head.into_bytes();
    out.extend(stdout.lock().map(|v| v.clone()).unwrap_or_default());
    let err = stderr.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&out).contains("mirrored"),
        "the summary was printed"
    );
    assert_clean("proxy stdout", &out, &secrets);
    assert_clean("proxy stderr (trace logs)", &err, &secrets);
    check_recording(&rec_dir, &secrets, n);

    let report_dir = tmp.path().join("report");
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["-vv", "report", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&report_dir)
        .arg("--from")
        .args(files_in(&rec_dir))
        .output()
        .expect("cutover report");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("/api/auth/reset/{id}"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_clean("report stdout", &output.stdout, &secrets);
    assert_clean("report stderr", &output.stderr, &secrets);
    check_report_dir(&report_dir, &secrets);
}

/// Issue #7, defect 5: a port in use names the key and the file, and the OS error is
/// printed once.
#[test]
fn port_in_use_names_key_and_file_and_prints_the_os_error_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("busy.toml");
    let text = config_text("http://127.0.0.1:9", "http://127.0.0.1:9").replace(
        "listen = \"localhost:0\"",
        &format!("listen = \"localhost:{port}\""),
    );
    std::fs::write(&cfg, text).expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["proxy", "--config"])
        .arg(&cfg)
        .arg("--record")
        .arg(tmp.path().join("r.jsonl"))
        .output()
        .expect("cutover proxy");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
    assert!(err.contains("`[proxy] listen`"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    drop(taken);
}
