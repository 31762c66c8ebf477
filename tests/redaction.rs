//! Issue #7, defect 4: every redaction bypass, sent through a real proxy, must leave no
//! secret in the recording, the four report files, `/metrics`, stdout or the logs; a body
//! without secrets must be recorded byte for byte.
//!
//! Two runs over the same requests: the library (proxy + pipeline + recording sink + a
//! report built from the live aggregate), and the `cutover` binary (`proxy -vv` then
//! `report`) whose stdout and stderr are captured.

#[path = "support/redaction.rs"]
mod bypass;
#[path = "support/upstream.rs"]
mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bypass::*;
use cutover::config::Config;
use cutover::pipeline::{Aggregate, Pipeline, PipelineOptions, analyzer_for};
use cutover::record::RecordingSink;
use cutover::redact::Redaction;
use cutover::report::{self, Report, ReportContext, RunInfo};

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
    assert_eq!(compared(&m), n as u64);
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
                ..Default::default()
            },
        },
    );
    let out = tmp.path().join("report");
    report::write_all(&report, &out).expect("report written");
    check_report_dir(&out, &secrets);
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
