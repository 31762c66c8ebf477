//! End-to-end tests of the proxy at the edges of HTTP and of its connections, on loopback:
//! header-read and idle timeouts, the connection cap, CONNECT / `OPTIONS *` / WebSocket
//! upgrades / Host validation / header-count limits, client aborts, and the shutdown
//! summary's drop reasons. Raw `TcpStream`s where an HTTP client cannot express the case.

#[path = "support/upstream.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::exchange::{Exchange, FailureKind};
use cutover::pipeline::{Aggregate, Analysis, Pipeline, PipelineOptions, Sink, analyzer_for};
use cutover::proxy::{self, ProxySummary, RunningProxy};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Only stops a hung test; no assertion depends on it.
const HUNG: Duration = Duration::from_secs(15);

/// Collects exchanges; optionally blocks on its first exchange until released.
struct Collect {
    seen: Arc<Mutex<Vec<Exchange>>>,
    gate: Option<std::sync::mpsc::Receiver<()>>,
    /// Set while the sink blocks the pipeline thread.
    holding: Arc<std::sync::atomic::AtomicBool>,
}

impl Sink for Collect {
    fn accept(&mut self, exchange: &Exchange, _: &Analysis) {
        if let Some(gate) = self.gate.take() {
            self.holding.store(true, Ordering::SeqCst);
            let _ = gate.recv_timeout(HUNG);
        }
        if let Ok(mut v) = self.seen.lock() {
            v.push(exchange.clone());
        }
    }
}

struct Harness {
    proxy: RunningProxy,
    pipeline: Pipeline,
    config: Arc<Config>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    holding: Arc<std::sync::atomic::AtomicBool>,
}

impl Harness {
    async fn start(toml: &str) -> Harness {
        Harness::with(toml, PipelineOptions::default(), None).await
    }

    async fn with(
        toml: &str,
        options: PipelineOptions,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    ) -> Harness {
        let config = Arc::new(Config::parse(toml, "test.toml").expect("valid config"));
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let holding = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sink = Collect {
            seen: Arc::clone(&exchanges),
            gate,
            holding: Arc::clone(&holding),
        };
        let (pipeline, handle) = Pipeline::start(
            analyzer_for(&config),
            Aggregate::default(),
            vec![Box::new(sink)],
            options,
        )
        .expect("pipeline");
        let proxy = proxy::start(
            Arc::clone(&config),
            handle,
            pipeline.aggregate(),
            pipeline.stats(),
        )
        .await
        .expect("proxy starts");
        Harness {
            proxy,
            pipeline,
            config,
            exchanges,
            holding,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.proxy.listen
    }

    async fn admin(&self, path: &str) -> (u16, String) {
        let admin = self.proxy.admin.expect("admin enabled");
        let resp = reqwest::get(format!("http://{admin}{path}"))
            .await
            .expect("admin answers");
        (resp.status().as_u16(), resp.text().await.expect("text"))
    }

    /// Wait until `/metrics` has this exact line (generous timeout).
    async fn metric(&self, line: &str) -> bool {
        let deadline = Instant::now() + HUNG;
        while Instant::now() < deadline {
            if self.admin("/metrics").await.1.lines().any(|l| l == line) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    async fn exchanges(&self, n: usize) -> Vec<Exchange> {
        let deadline = Instant::now() + HUNG;
        loop {
            let v = self.exchanges.lock().map(|v| v.clone()).unwrap_or_default();
            if v.len() >= n || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> (ProxySummary, Aggregate, Arc<Config>) {
        let summary = self.proxy.shutdown().await;
        let aggregate = self.pipeline.finish().await;
        (summary, aggregate, self.config)
    }
}

fn config(primary: &str, candidate: &str, extra_proxy: &str) -> String {
    format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 5000
shutdown_grace_ms = 2000
{extra_proxy}

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
"#
    )
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(s: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(HUNG, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// One response (head and a `content-length` body) from a connection that stays open.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.expect("read head") == 0 {
                break;
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.expect("read body");
        buf.extend_from_slice(&body);
    };
    tokio::time::timeout(HUNG, read).await.expect("a response");
    String::from_utf8_lossy(&buf).into_owned()
}

async fn send(addr: SocketAddr, request: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_partial_request_heads_get_408_after_the_header_timeout() {
    let primary = ok_upstream().await;
    let extra = "header_read_timeout_ms = 300\nidle_timeout_ms = 60000";
    let h = Harness::start(&config(&primary.url(), &primary.url(), extra)).await;
    let mut silent = TcpStream::connect(h.addr()).await.expect("connect");
    let mut partial = send(h.addr(), "GET /api/x HTTP/1.1\r\nHost: a\r\nAccept: */").await;
    for s in [&mut silent, &mut partial] {
        let answer = read_until_closed(s).await.expect("closed by the proxy");
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"));
    }
    assert_eq!(primary.count(), 0);
    let (summary, _, _) = h.stop().await;
    assert_eq!(summary.header_timeouts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let primary = ok_upstream().await;
    let extra = "header_read_timeout_ms = 60000\nidle_timeout_ms = 300";
    let h = Harness::start(&config(&primary.url(), &primary.url(), extra)).await;
    let mut s = send(h.addr(), "GET /other HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let answer = read_response(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    // Nothing more is sent: the proxy closes the connection, without a 408.
    let rest = read_until_closed(&mut s)
        .await
        .expect("closed by the proxy");
    assert_eq!(rest, "");
    let (summary, _, _) = h.stop().await;
    assert_eq!(summary.idle_closed, 1);
    assert_eq!(summary.header_timeouts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused_and_counted_while_healthz_answers() {
    let primary = ok_upstream().await;
    let extra = "max_connections = 3\nheader_read_timeout_ms = 60000";
    let h = Harness::start(&config(&primary.url(), &primary.url(), extra)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(h.addr()).await.expect("connect"));
    }
    assert!(
        h.metric("cutover_client_connections{listener=\"proxy\"} 3")
            .await
    );
    let mut refused = send(h.addr(), "").await;
    let answer = read_until_closed(&mut refused).await.unwrap_or_default();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503 "),
        "{answer:?}"
    );
    assert!(
        h.metric("cutover_client_connections_refused_total{listener=\"proxy\"} 1")
            .await
    );
    assert_eq!(h.admin("/healthz").await, (200, "ok".to_string()));
    // A freed place is taken again.
    drop(held.pop());
    assert!(
        h.metric("cutover_client_connections{listener=\"proxy\"} 2")
            .await
    );
    let mut s = send(h.addr(), "GET /x HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
    drop(held);
    let (summary, _, _) = h.stop().await;
    assert_eq!(summary.connections_refused, 1);
    assert_eq!(summary.max_connections, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_with_405_and_allow() {
    let primary = ok_upstream().await;
    let h = Harness::start(&config(&primary.url(), &primary.url(), "")).await;
    let mut s = send(
        h.addr(),
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    )
    .await;
    let answer = read_until_closed(&mut s)
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer:?}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("\r\nallow: get, head, post"), "{answer:?}");
    assert_eq!(primary.count(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_asterisk_reaches_the_primary_as_asterisk() {
    let primary = ok_upstream().await;
    let h = Harness::start(&config(&primary.url(), &primary.url(), "")).await;
    let mut s = send(h.addr(), "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
    let seen = primary.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("OPTIONS", "*")
    );
    // Asterisk-form is only defined for OPTIONS.
    let mut s = send(h.addr(), "GET * HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 400 "));
    assert_eq!(primary.count(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_is_tunnelled_to_the_primary_and_never_mirrored() {
    let (ws, handshakes) = ws_echo_server().await;
    let candidate = ok_upstream().await;
    let h = Harness::start(&config(&format!("http://{ws}"), &candidate.url(), "")).await;
    let mut s = send(
        h.addr(),
        "GET /api/chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    let head = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head:?}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head:?}"
    );
    for text in ["hello", "again, both ways"] {
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        s.write_all(&frame).await.expect("write frame");
        let mut echo = vec![0u8; 2 + text.len()];
        tokio::time::timeout(HUNG, s.read_exact(&mut echo))
            .await
            .expect("echo in time")
            .expect("echo");
        assert_eq!(&echo[..2], &[0x81, text.len() as u8]);
        assert_eq!(&echo[2..], text.as_bytes());
    }
    assert_eq!(handshakes.load(Ordering::SeqCst), 1);
    assert_eq!(candidate.count(), 0, "an upgrade is never mirrored");
    assert!(
        h.metric("cutover_not_mirrored_total{route=\"/api/**\",reason=\"upgrade\"} 1")
            .await
    );
    assert!(
        h.metric("cutover_upgrades_total{listener=\"proxy\"} 1")
            .await
    );
    drop(s);
    let (summary, _, _) = h.stop().await;
    assert_eq!(summary.upgrades, 1);
    assert!(summary.routes.iter().all(|r| r.mirrored == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_must_be_present_once_on_http_1_1() {
    let primary = ok_upstream().await;
    let h = Harness::start(&config(&primary.url(), &primary.url(), "")).await;
    for (request, status) in [
        ("GET /x HTTP/1.1\r\n\r\n", "400"),
        ("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        ("GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", "400"),
        ("GET /x HTTP/1.0\r\n\r\n", "200"),
        ("GET /x HTTP/1.1\r\nHost: a:8080\r\n\r\n", "200"),
    ] {
        let mut s = send(h.addr(), request).await;
        let answer = read_response(&mut s).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} "))
                || answer.starts_with(&format!("HTTP/1.0 {status} ")),
            "{request:?} → {answer:?}"
        );
    }
    assert_eq!(primary.count(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_count_limit_matches_common_origins_and_is_configurable() {
    let (primary, heads) = head_recorder().await;
    let primary = format!("http://{primary}");
    let h = Harness::start(&config(&primary, &primary, "max_headers = 200")).await;
    for (count, status) in [(150, "200"), (210, "431")] {
        let mut request = String::from("GET /x HTTP/1.1\r\nHost: a\r\n");
        for i in 0..count {
            request.push_str(&format!("x-h{i}: {i}\r\n"));
        }
        request.push_str("\r\n");
        let mut s = send(h.addr(), &request).await;
        let answer = read_response(&mut s).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{count} headers → {answer:?}"
        );
    }
    let heads = heads.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].contains("x-h149: 149\r\n"),
        "every header reaches the primary"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_abort_before_the_primary_answers_is_counted_not_mismatched() {
    let primary = upstream(|s: Seen| async move {
        if s.uri.contains("slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        json(serde_json::json!({"ok": true}))
    })
    .await;
    let candidate = upstream(|_| async { json(serde_json::json!({"ok": true})) }).await;
    let h = Harness::start(&config(&primary.url(), &candidate.url(), "")).await;
    let client = send(h.addr(), "GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let deadline = Instant::now() + HUNG;
    while primary.count() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(client); // gives up before the primary answers
    let aborted = h.exchanges(1).await;
    assert_eq!(aborted.len(), 1);
    let failure = aborted[0]
        .outcomes
        .primary
        .failure()
        .expect("no primary answer");
    assert_eq!(failure.kind, FailureKind::ClientAborted);
    let ok = reqwest::get(format!("http://{}/api/fast", h.addr()))
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    assert_eq!(h.exchanges(2).await.len(), 2);
    assert!(
        h.metric("cutover_client_aborts_total{route=\"/api/**\"} 1")
            .await
    );
    let (summary, aggregate, config) = h.stop().await;
    let sum = |f: fn(&cutover::pipeline::aggregate::RouteStats) -> u64| {
        aggregate.routes.values().map(f).sum::<u64>()
    };
    assert_eq!(sum(|r| r.client_aborted), 1);
    assert_eq!(sum(|r| r.mismatched), 0, "a client abort is not a mismatch");
    assert_eq!(sum(|r| r.matched), 1);
    assert_eq!(sum(|r| r.not_compared), 1);
    assert_eq!(summary.client_aborted, 1);
    // The report carries the count, and still matches its schema.
    let run = cutover::report::RunInfo {
        id: "t".into(),
        generated_at: chrono::Utc::now(),
        source: "proxy".into(),
        divergences: Vec::new(),
        recordings: Vec::new(),
        ..Default::default()
    };
    let ctx = cutover::report::ReportContext {
        config: &config,
        run,
    };
    let report = cutover::report::Report::build(&aggregate, &ctx);
    let json = serde_json::to_value(&report).expect("serialises");
    let aborted: u64 = json["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["client_aborted"].as_u64())
        .sum();
    assert_eq!(aborted, 1);
    assert_eq!(report.totals.parity, 1.0);
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_path).expect("schema")).expect("parses");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    assert!(validator.is_valid(&json), "report.json breaks the schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_summary_names_analysis_queue_drops() {
    let primary = ok_upstream().await;
    let (release, gate) = std::sync::mpsc::channel();
    let options = PipelineOptions {
        capacity: 1,
        ..PipelineOptions::default()
    };
    let h = Harness::with(
        &config(&primary.url(), &primary.url(), ""),
        options,
        Some(gate),
    )
    .await;
    let client = reqwest::Client::new();
    for i in 0..10 {
        let resp = client
            .get(format!("http://{}/api/{i}", h.addr()))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        if i == 0 {
            // Wait until the sink holds the pipeline thread on the first exchange.
            let deadline = Instant::now() + HUNG;
            while !h.holding.load(Ordering::SeqCst) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    // The sink holds the first exchange, the queue the second: the other 8 are dropped.
    let stats = h.pipeline.stats();
    let deadline = Instant::now() + HUNG;
    while stats.queued.load(Ordering::SeqCst) + stats.dropped_queue_full.load(Ordering::SeqCst) < 10
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = release.send(());
    let (summary, aggregate, config) = h.stop().await;
    assert_eq!(summary.analysis_queue_full, 8);
    let text = proxy::render_summary(&config, &summary, &aggregate);
    assert!(text.contains("analysis_queue_full=8"), "{text}");
    assert!(text.contains("late=0"), "{text}");
    assert!(text.contains("client_aborted=0"), "{text}");
    assert!(text.contains("refused=0"), "{text}");
}
