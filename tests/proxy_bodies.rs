//! End-to-end tests of a candidate that sends large or endless bodies (issue #7, defect 2):
//! captures stop at the cap, shadow memory stays within `max_shadow_memory_bytes`, the
//! recording stays within its retention limit, `bodies = "mismatches"` keeps bodies only
//! on mismatching lines, and the client's answers never change. Loopback only.

#[path = "support/upstream.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cutover::config::Config;
use cutover::exchange::Exchange;
use cutover::pipeline::{Analysis, Pipeline, Sink};
use cutover::proxy::{self, RunningProxy};
use cutover::record::RecordingSink;
use support::*;

const CAP: usize = 64 * 1024;
const PRIMARY_BODY: &str = r#"{"ok":true,"items":[1,2,3]}"#;

/// Collects exchanges (and their verdicts) for assertions.
struct Collect(Arc<Mutex<Vec<(Exchange, Analysis)>>>);

impl Sink for Collect {
    fn accept(&mut self, exchange: &Exchange, analysis: &Analysis) {
        if let Ok(mut v) = self.0.lock() {
            v.push((exchange.clone(), analysis.clone()));
        }
    }
}

struct Harness {
    proxy: RunningProxy,
    pipeline: Pipeline,
    seen: Arc<Mutex<Vec<(Exchange, Analysis)>>>,
    client: reqwest::Client,
}

impl Harness {
    /// A proxy from `toml`; with `record`, a real recording sink configured by the
    /// file's `[recording]` table.
    async fn start(toml: &str, record: Option<&Path>) -> Harness {
        let config = Arc::new(Config::parse(toml, "test.toml").expect("valid config"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Collect(Arc::clone(&seen)))];
        if let Some(path) = record {
            let sink = RecordingSink::open(path, &config.file.recording).expect("recording");
            sinks.push(Box::new(sink));
        }
        let (proxy, pipeline, client) = start_proxy(config, sinks).await;
        Harness {
            proxy,
            pipeline,
            seen,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.listen)
    }

    /// `n` concurrent GETs; every answer must be the primary's, complete.
    async fn hammer(&self, paths: impl Iterator<Item = String>) -> usize {
        let calls = paths.map(|p| {
            let req = self.client.get(self.url(&p));
            async move {
                let resp = req.send().await.expect("send");
                assert_eq!(resp.status(), 200);
                let body = resp.bytes().await.expect("complete body");
                assert_eq!(&body[..], PRIMARY_BODY.as_bytes(), "client answer changed");
            }
        });
        futures_util::future::join_all(calls).await.len()
    }

    async fn metrics(&self) -> String {
        let admin = self.proxy.admin.expect("admin enabled");
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Wait (generously) until no shadow work is left.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.proxy.shadows_in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            self.proxy.shadows_in_flight(),
            0,
            "shadow tasks never ended"
        );
    }

    /// Wait until the pipeline has seen `n` exchanges.
    async fn exchanges(&self, n: usize) -> Vec<(Exchange, Analysis)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.seen.lock().map(|v| v.clone()).unwrap_or_default();
            if v.len() >= n || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> proxy::ProxySummary {
        let summary = self.proxy.shutdown().await;
        self.pipeline.finish().await;
        summary
    }
}

fn config(primary: &str, candidate: &str, extra_proxy: &str, extra: &str) -> String {
    format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
max_body_bytes = {CAP}
shadow_timeout_ms = 20000
{extra_proxy}

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"

{extra}
"#
    )
}

async fn primary() -> Upstream {
    upstream(|_s: Seen| async move { full(200, "application/json", PRIMARY_BODY) }).await
}

/// A candidate answering 20 MB with a Content-Length.
async fn huge_candidate() -> Upstream {
    let body = Bytes::from(vec![b'x'; 20 * 1024 * 1024]);
    upstream(move |_s: Seen| {
        let body = body.clone();
        async move { full(200, "application/json", body) }
    })
    .await
}

/// A candidate streaming chunks forever (chunked encoding); counts the streams that
/// stopped because the reader went away.
async fn endless_candidate(stopped: Arc<AtomicUsize>) -> Upstream {
    upstream(move |_s: Seen| {
        let stopped = Arc::clone(&stopped);
        async move {
            let (tx, resp) = streaming("application/json");
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'y'; 16 * 1024]);
                while tx.send(chunk.clone()).await.is_ok() {}
                stopped.fetch_add(1, Ordering::SeqCst);
            });
            resp
        }
    })
    .await
}

fn metric(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_prefix} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_bodies_far_over_the_cap_are_cut_and_the_shadow_ends() {
    let primary = primary().await;
    let huge = huge_candidate().await;
    let stopped = Arc::new(AtomicUsize::new(0));
    let endless = endless_candidate(Arc::clone(&stopped)).await;
    const N: usize = 8;
    for (name, candidate) in [("20 MB", &huge), ("endless", &endless)] {
        let h = Harness::start(&config(&primary.url(), &candidate.url(), "", ""), None).await;
        assert_eq!(h.hammer((0..N).map(|i| format!("/api/big/{i}"))).await, N);
        // The endless candidate would stream forever: the shadow task ends anyway.
        h.settle().await;
        let seen = h.exchanges(N).await;
        assert_eq!(seen.len(), N, "{name}: every exchange analysed");
        for (ex, _) in &seen {
            let c = ex.outcomes.candidate.as_ref().expect("candidate");
            let r = c.response().unwrap_or_else(|| panic!("{name}: {c:?}"));
            assert!(r.truncated, "{name}: marked truncated");
            assert_eq!(r.body.len(), CAP, "{name}: capture stops at the cap");
            assert!(!ex.outcomes.primary.response().expect("primary").truncated);
        }
        let memory = h.proxy.shadow_memory();
        assert!(memory.peak() > 0 && memory.peak() <= memory.limit());
        h.stop().await;
    }
    // Every endless stream stopped: the proxy closed its connections instead of reading on.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stopped.load(Ordering::SeqCst) < N && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stopped.load(Ordering::SeqCst), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_memory_stays_within_its_budget_and_drops_are_counted() {
    let primary = primary().await;
    // Each answer sends a first 32 kB at once, then holds its capture open for a while:
    // many captures are in flight together.
    let slow_big = upstream(|_s: Seen| async move {
        let (tx, resp) = streaming("application/json");
        tokio::spawn(async move {
            let _ = tx.send(Bytes::from(vec![b'z'; 32 * 1024])).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = tx.send(Bytes::from(vec![b'z'; 64 * 1024])).await;
        });
        resp
    })
    .await;
    const N: usize = 30;
    let budget = 4 * CAP;
    let toml = config(
        &primary.url(),
        &slow_big.url(),
        &format!("max_shadow_memory_bytes = {budget}"),
        "",
    );
    let h = Harness::start(&toml, None).await;
    assert_eq!(h.hammer((0..N).map(|i| format!("/api/s/{i}"))).await, N);
    h.settle().await;
    let memory = h.proxy.shadow_memory();
    assert!(
        memory.peak() <= budget as u64,
        "peak {} over {budget}",
        memory.peak()
    );
    let text = h.metrics().await;
    let dropped = metric(
        &text,
        "cutover_exchanges_dropped_total{reason=\"shadow_memory\"}",
    );
    assert!(dropped > 0, "30 × 32 kB cannot fit in 256 kB:\n{text}");
    assert_eq!(
        metric(&text, "cutover_shadow_memory_limit_bytes"),
        budget as u64
    );
    let analysed = h.exchanges(N - dropped as usize).await.len();
    assert_eq!(analysed as u64 + dropped, N as u64);
    // Everything captured is released once analysed (and this test's sink lets go).
    h.seen.lock().expect("lock").clear();
    let deadline = Instant::now() + Duration::from_secs(30);
    while memory.held() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(memory.held(), 0);
    let summary = h.stop().await;
    assert_eq!(summary.dropped_shadow_memory, dropped);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_of_large_candidate_bodies_stays_within_retention() {
    let primary = primary().await;
    let huge = huge_candidate().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let max_total: u64 = 2 * 1024 * 1024;
    let toml = config(
        &primary.url(),
        &huge.url(),
        "",
        &format!("[recording]\nrotate_bytes = 1048576\nmax_total_bytes = {max_total}\n"),
    );
    let h = Harness::start(&toml, Some(&path)).await;
    // 80 lines of ≥ 64 kB each: more than twice the retention limit.
    for round in 0..8 {
        h.hammer((0..10).map(|i| format!("/api/r/{round}/{i}")))
            .await;
    }
    h.settle().await;
    assert_eq!(h.exchanges(80).await.len(), 80);
    h.stop().await;
    let files = files(dir.path());
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("meta").len())
        .sum();
    assert!(total <= max_total, "{total} bytes on disk in {files:?}");
    assert!(path.exists(), "the live file is kept");
    assert!(files.len() >= 2, "rotated: {files:?}");
    for f in &files {
        // The first line of every file is the recording's header.
        for line in std::fs::read_to_string(f)
            .expect("read")
            .lines()
            .filter(|l| !l.starts_with("{\"cutover_recording\""))
        {
            serde_json::from_str::<Exchange>(line).expect("every kept line parses");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatches_mode_records_bodies_only_for_mismatches_and_report_agrees() {
    let primary = primary().await;
    let candidate = upstream(|s: Seen| async move {
        if s.uri.contains("/diff") {
            full(200, "application/json", r#"{"ok":false,"items":[1,2,3]}"#)
        } else {
            full(200, "application/json", PRIMARY_BODY)
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let toml = config(
        &primary.url(),
        &candidate.url(),
        "",
        "[recording]\nbodies = \"mismatches\"\n",
    );
    let h = Harness::start(&toml, Some(&path)).await;
    h.hammer((0..6).map(|i| format!("/api/same/{i}"))).await;
    h.hammer((0..4).map(|i| format!("/api/diff/{i}"))).await;
    h.settle().await;
    assert_eq!(h.exchanges(10).await.len(), 10);
    h.stop().await;
    let text = std::fs::read_to_string(&path).expect("recording");
    let (mut with, mut without) = (0, 0);
    for line in text
        .lines()
        .filter(|l| !l.starts_with("{\"cutover_recording\""))
    {
        let ex: Exchange = serde_json::from_str(line).expect("line parses");
        let cand = ex.outcomes.candidate.as_ref().and_then(|c| c.response());
        let body = cand.map(|r| r.body.len()).unwrap_or(0);
        if ex.request.uri.contains("/diff") {
            assert!(body > 0, "a mismatch keeps its bodies: {line}");
            assert!(!line.starts_with(r#"{"bodies":"omitted""#));
            with += 1;
        } else {
            assert_eq!(body, 0, "a match keeps no body: {line}");
            assert!(line.starts_with(r#"{"bodies":"omitted","#), "{line}");
            without += 1;
        }
    }
    assert_eq!((with, without), (4, 6));
    // Re-analysis: lines without bodies are not compared, never mismatches.
    let cfg_path = dir.path().join("cutover.toml");
    std::fs::write(&cfg_path, &toml).expect("write config");
    let out = dir.path().join("report");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["report", "--from"])
        .arg(&path)
        .arg("--config")
        .arg(&cfg_path)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run cutover report");
    assert!(status.code().is_some_and(|c| c <= 1), "{status:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
            .expect("json");
    let routes = report["routes"].as_array().expect("routes");
    let sum = |key: &str| -> u64 { routes.iter().filter_map(|r| r[key].as_u64()).sum() };
    assert_eq!(sum("mismatched"), 4, "{report}");
    assert_eq!(sum("not_compared"), 6, "{report}");
    assert_eq!(sum("matched"), 0, "{report}");
}

/// A raw HTTP/1.1 candidate answering every request on a connection with `len` bytes
/// (Content-Length); counts the connections it accepted.
async fn counting_candidate(len: usize, accepted: Arc<AtomicUsize>) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = Bytes::from(vec![b'c'; len]);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if sock.write_all(head.as_bytes()).await.is_err()
                        || sock.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_rest_is_drained_for_reuse_and_a_large_one_closes_the_connection() {
    let primary = primary().await;
    const N: usize = 6;
    for (len, reused) in [(CAP + 1024, true), (10 * 1024 * 1024, false)] {
        let accepted = Arc::new(AtomicUsize::new(0));
        let cand = counting_candidate(len, Arc::clone(&accepted)).await;
        let h = Harness::start(
            &config(&primary.url(), &format!("http://{cand}"), "", ""),
            None,
        )
        .await;
        for i in 0..N {
            h.hammer(std::iter::once(format!("/api/c/{i}"))).await;
            h.settle().await;
        }
        let seen = h.exchanges(N).await;
        for (ex, _) in &seen {
            let r = ex.outcomes.candidate.as_ref().and_then(|c| c.response());
            let r = r.expect("candidate response");
            assert!(r.truncated && r.body.len() == CAP, "{len}: cut at the cap");
        }
        let connections = accepted.load(Ordering::SeqCst);
        if reused {
            // Cap + 1 kB: the rest is read and thrown away, the connection goes back
            // (one per proxy worker at most; the client's keep-alive keeps one worker).
            assert!(
                connections < N,
                "{len} bytes: {connections} connections, none reused"
            );
        } else {
            // Far over the cap: never read to the end, never back in the pool.
            assert_eq!(connections, N, "{len} bytes: one connection per request");
        }
        h.stop().await;
    }
}
