//! The upstream client on loopback: https targets (a local rustls server with its own CA,
//! made at test time), HTTP/2 by ALPN and h2c with prior knowledge, reached through the
//! proxy and compared; `upstream::call` without any proxy metrics; located config errors
//! for bad TLS and protocol keys.

#[path = "support/upstream.rs"]
mod support;
#[path = "support/tls_upstream.rs"]
mod tls_upstream;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cutover::config::Config;
use cutover::exchange::{Exchange, FailureKind, OutcomeResult};
use cutover::pipeline::{Analysis, Pipeline, Sink, Verdict};
use cutover::proxy::RunningProxy;
use cutover::upstream::{self, Limits, Observer, Pools, Target};
use http::{Method, Request, Version};
use support::start_proxy;
use tls_upstream::{Kind, pki, serve, tls_server};

// ---------------------------------------------------------------------------------------
// The proxy with a sink that keeps every exchange and its verdict.

struct Collect(Arc<Mutex<Vec<(Exchange, Verdict)>>>);

impl Sink for Collect {
    fn accept(&mut self, exchange: &Exchange, analysis: &Analysis) {
        if let Ok(mut v) = self.0.lock() {
            v.push((exchange.clone(), analysis.verdict));
        }
    }
}

struct Harness {
    proxy: RunningProxy,
    pipeline: Pipeline,
    seen: Arc<Mutex<Vec<(Exchange, Verdict)>>>,
    client: reqwest::Client,
}

impl Harness {
    async fn start(toml: &str) -> Harness {
        let config = Arc::new(Config::parse(toml, "test.toml").expect("valid config"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (proxy, pipeline, client) =
            start_proxy(config, vec![Box::new(Collect(Arc::clone(&seen)))]).await;
        Harness {
            proxy,
            pipeline,
            seen,
            client,
        }
    }

    /// GET through the proxy; the client's status and body.
    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(format!("http://{}{path}", self.proxy.listen))
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// Wait until at least `n` exchanges were analysed (generous timeout).
    async fn exchanges(&self, n: usize) -> Vec<(Exchange, Verdict)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.seen.lock().map(|v| v.clone()).unwrap_or_default();
            if v.len() >= n || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.pipeline.finish().await;
    }
}

/// A config with `mono` (primary) and `cand` (candidate of `/api/**`); `mono_extra` and
/// `cand_extra` are added inside their inline tables.
fn config(mono: &str, mono_extra: &str, cand: &str, cand_extra: &str) -> String {
    format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 5000

[targets]
mono = {{ url = "{mono}", role = "primary" {mono_extra} }}
cand = {{ url = "{cand}" {cand_extra} }}

[[routes]]
match = "/api/**"
candidate = "cand"
"#
    )
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

fn candidate(e: &Exchange) -> &OutcomeResult {
    &e.outcomes
        .candidate
        .as_ref()
        .expect("candidate outcome")
        .result
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_primary_and_candidate_are_compared_with_the_ca_file() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = toml_path(&pki.write_ca(dir.path()));
    let mono = tls_server(&pki, &[b"http/1.1"]).await;
    let cand = tls_server(&pki, &[b"http/1.1"]).await;
    let extra = format!(", tls_ca_file = \"{ca}\"");
    // The candidate is named by host name: SNI carries it.
    let h = Harness::start(&config(
        &mono.https("127.0.0.1"),
        &extra,
        &cand.https("localhost"),
        &extra,
    ))
    .await;
    for i in 0..3 {
        let (status, body) = h.get(&format!("/api/items/{i}")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&format!("/api/items/{i}")), "{body}");
    }
    let seen = h.exchanges(3).await;
    assert_eq!(seen.len(), 3);
    for (e, verdict) in &seen {
        assert!(
            matches!(candidate(e), OutcomeResult::Response(r) if r.status == 200),
            "{:?}",
            candidate(e)
        );
        assert_eq!(*verdict, Verdict::Match, "{e:?}");
    }
    assert_eq!(mono.hits().len(), 3);
    let hits = cand.hits();
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter().all(|h| h.sni.as_deref() == Some("localhost")),
        "{hits:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_candidate_certificate_is_a_transport_failure_and_insecure_skips_it() {
    let pki = pki();
    let mono = support::upstream(|s| async move {
        let body = serde_json::json!({ "path": s.uri.split('?').next().unwrap_or(""), "ok": true });
        support::json(body)
    })
    .await;
    let cand = tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    // No CA configured: the system roots do not know the test CA.
    let h = Harness::start(&config(&mono.url(), "", &cand.https("127.0.0.1"), "")).await;
    for i in 0..2 {
        let (status, body) = h.get(&format!("/api/t/{i}")).await;
        assert_eq!(status, 200, "the client is unaffected: {body}");
    }
    let seen = h.exchanges(2).await;
    assert_eq!(seen.len(), 2);
    for (e, verdict) in &seen {
        match candidate(e) {
            OutcomeResult::Failure(f) => {
                assert_eq!(f.kind, FailureKind::Connect, "{f:?}");
                assert!(f.message.contains("tls handshake failed"), "{}", f.message);
                assert!(
                    f.message.to_lowercase().contains("certificate"),
                    "names the certificate problem: {}",
                    f.message
                );
            }
            other => panic!("expected a TLS failure, got {other:?}"),
        }
        assert!(
            matches!(&e.outcomes.primary.result, OutcomeResult::Response(r) if r.status == 200)
        );
        assert_ne!(*verdict, Verdict::Match);
    }
    assert!(cand.hits().is_empty(), "no request passed the handshake");
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("cutover_upstream_errors_total{target=\"cand\",kind=\"connect\"} 2"),
        "{metrics}"
    );
    h.stop().await;

    let h = Harness::start(&config(
        &mono.url(),
        "",
        &cand.https("127.0.0.1"),
        ", insecure = true",
    ))
    .await;
    let (status, _) = h.get("/api/t/9").await;
    assert_eq!(status, 200);
    let seen = h.exchanges(1).await;
    assert_eq!(seen.len(), 1);
    assert!(
        matches!(candidate(&seen[0].0), OutcomeResult::Response(r) if r.status == 200),
        "{:?}",
        candidate(&seen[0].0)
    );
    assert_eq!(seen[0].1, Verdict::Match);
    assert_eq!(cand.hits().len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_upstream_is_reached_compared_and_shared() {
    let mono = serve(Kind::Plain, Duration::ZERO).await;
    // Answers take a moment so that concurrent requests overlap on the upstream.
    let cand = serve(Kind::H2c, Duration::from_millis(200)).await;
    let h = Harness::start(&config(
        &format!("http://{}", mono.addr),
        "",
        &format!("http://{}", cand.addr),
        ", protocol = \"h2c\"",
    ))
    .await;
    let n = 8;
    let gets = (0..n).map(|i| {
        let h = &h;
        async move { h.get(&format!("/api/c/{i}")).await }
    });
    for (status, body) in futures_util::future::join_all(gets).await {
        assert_eq!(status, 200, "{body}");
    }
    let seen = h.exchanges(n).await;
    assert_eq!(seen.len(), n);
    for (e, verdict) in &seen {
        assert!(
            matches!(candidate(e), OutcomeResult::Response(r) if r.status == 200),
            "{:?}",
            candidate(e)
        );
        assert_eq!(*verdict, Verdict::Match, "{e:?}");
    }
    let hits = cand.hits();
    assert_eq!(hits.len(), n);
    assert!(
        hits.iter().all(|h| h.version == Version::HTTP_2),
        "{hits:?}"
    );
    assert!(mono.hits().iter().all(|h| h.version == Version::HTTP_11));
    // One shared connection per proxy worker, not one per concurrent request.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let conns = cand.connections.load(Ordering::Relaxed);
    assert!(
        conns <= workers.min(n - 1),
        "{conns} h2c connections for {n} concurrent requests on {workers} workers"
    );
    h.stop().await;
}

/// An HTTP/2 primary that refuses streams unprocessed — `REFUSED_STREAM`, or a graceful
/// GOAWAY whose last stream id excludes them (nginx after `keepalive_requests`: with nginx
/// 1.22 as the primary, clients saw 255 502s in 47k requests before) — or that shuts a
/// connection down gracefully: the request is sent again on a new connection, and the
/// client never sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_an_h2_primary_refuses_unprocessed_are_sent_again() {
    for kind in [Kind::H2cRefuseEvery(5), Kind::H2cGoAwayAfter(25)] {
        refused_streams_never_reach_the_client(kind).await;
    }
}

async fn refused_streams_never_reach_the_client(kind: Kind) {
    let refuse = matches!(kind, Kind::H2cRefuseEvery(_));
    let mono = serve(kind, Duration::from_millis(1)).await;
    let cand = serve(Kind::Plain, Duration::ZERO).await;
    let h = Harness::start(&config(
        &format!("http://{}", mono.addr),
        ", protocol = \"h2c\"",
        &format!("http://{}", cand.addr),
        "",
    ))
    .await;
    let (clients, each) = (16, 40);
    let runs = (0..clients).map(|c| {
        let h = &h;
        async move {
            let mut failed = Vec::new();
            for i in 0..each {
                let (status, body) = h.get(&format!("/api/g/{c}/{i}")).await;
                if status != 200 {
                    failed.push(format!("{status} {body}"));
                }
            }
            failed
        }
    });
    let failed: Vec<String> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failed.is_empty(),
        "refusing {refuse}: {} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let conns = mono.connections.load(Ordering::Relaxed);
    assert!(
        conns >= 10,
        "only {conns} connections: nothing was refused or shut down"
    );
    assert_eq!(
        mono.hits().len(),
        clients * each,
        "each request processed once"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_is_negotiated_by_alpn_and_http1_can_be_forced() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = toml_path(&pki.write_ca(dir.path()));
    let mono = tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    let cand = tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    let h = Harness::start(&config(
        &mono.https("localhost"),
        &format!(", tls_ca_file = \"{ca}\""),
        &cand.https("localhost"),
        &format!(", tls_ca_file = \"{ca}\", protocol = \"http1\""),
    ))
    .await;
    for i in 0..3 {
        let (status, body) = h.get(&format!("/api/n/{i}?x=1")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&format!("/api/n/{i}")), "{body}");
    }
    let seen = h.exchanges(3).await;
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|(_, v)| *v == Verdict::Match), "{seen:?}");
    let hits = mono.hits();
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter().all(|h| h.version == Version::HTTP_2),
        "ALPN picked h2: {hits:?}"
    );
    assert!(
        hits.iter().all(|h| h.path.starts_with("/api/n/")),
        "{hits:?}"
    );
    let hits = cand.hits();
    assert!(
        hits.iter().all(|h| h.version == Version::HTTP_11),
        "protocol = \"http1\" offers only http/1.1: {hits:?}"
    );
    h.stop().await;
}

/// Counts what it is told, to show the observer is optional and called.
#[derive(Default)]
struct Counting {
    requests: AtomicUsize,
    latencies: AtomicUsize,
    errors: AtomicUsize,
}

impl Observer for Counting {
    fn request(&self, _: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn latency(&self, _: usize, _: u64) {
        self.latencies.fetch_add(1, Ordering::Relaxed);
    }
    fn error(&self, _: usize, _: FailureKind) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

fn target(name: &str, toml: &str, pools: &mut Pools) -> Target {
    let cfg: cutover::config::TargetConfig = toml::from_str(toml).expect("target config");
    Target::new(name, 0, &cfg, 5_000, pools).expect("target")
}

fn get(t: &Target, path: &str) -> Request<upstream::forward::ForwardBody> {
    upstream::forward::build_request(
        t,
        &Method::GET,
        &http::uri::PathAndQuery::try_from(path).expect("path"),
        http::HeaderMap::new(),
        upstream::forward::ForwardBody::full(Bytes::new()),
        None,
    )
    .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_needs_no_proxy_metrics() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = toml_path(&pki.write_ca(dir.path()));
    let tls = tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    let plain = serve(Kind::Plain, Duration::ZERO).await;
    let mut pools = Pools::new(1);
    let https = target(
        "tls",
        &format!(
            "url = \"{}\"\ntls_ca_file = \"{ca}\"",
            tls.https("localhost")
        ),
        &mut pools,
    );
    let http = target(
        "plain",
        &format!("url = \"http://{}/base\"", plain.addr),
        &mut pools,
    );
    let unlimited = Limits {
        cap: 1 << 20,
        budget: None,
    };
    // No observer at all.
    let out = upstream::call(&https, get(&https, "/hello"), &unlimited, &()).await;
    assert_eq!(out.target, "tls");
    match &out.result {
        OutcomeResult::Response(r) => {
            assert_eq!(r.status, 200);
            assert!(!r.truncated);
            assert!(String::from_utf8_lossy(&r.body.0).contains("/hello"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tls.hits()[0].version, Version::HTTP_2);
    // A small cap cuts the capture; the prefix reaches the plain target.
    let counting = Counting::default();
    let small = Limits {
        cap: 5,
        budget: None,
    };
    let out = upstream::call(&http, get(&http, "/x"), &small, &counting).await;
    match &out.result {
        OutcomeResult::Response(r) => {
            assert_eq!(r.body.0.len(), 5);
            assert!(r.truncated);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plain.hits()[0].path, "/base/x");
    // A target that is down: a counted connect failure, no panic.
    let (down, _hold) = support::down_addr();
    let gone = target("gone", &format!("url = \"http://{down}\""), &mut pools);
    let out = upstream::call(&gone, get(&gone, "/"), &small, &counting).await;
    assert!(
        matches!(&out.result, OutcomeResult::Failure(f) if f.kind == FailureKind::Connect),
        "{:?}",
        out.result
    );
    assert_eq!(counting.requests.load(Ordering::Relaxed), 2);
    assert_eq!(counting.latencies.load(Ordering::Relaxed), 1);
    assert_eq!(counting.errors.load(Ordering::Relaxed), 1);
}

/// `cutover proxy --config <file>`: exit status and stderr.
fn run_proxy(config: &Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["proxy", "--config"])
        .arg(config)
        .output()
        .expect("run cutover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_tls_and_protocol_keys_are_located_errors_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let no_cert = dir.path().join("key-only.pem");
    let key = rcgen::KeyPair::generate().expect("key");
    std::fs::write(&no_cert, key.serialize_pem()).expect("write");
    let cases = [
        (
            "ca = { url = \"https://127.0.0.1:1\", tls_ca_file = \"missing.pem\" }",
            "targets.ca.tls_ca_file",
            "cannot read the CA file",
        ),
        (
            "ca = { url = \"https://127.0.0.1:1\", tls_ca_file = \"key-only.pem\" }",
            "targets.ca.tls_ca_file",
            "holds no certificate",
        ),
        (
            "ca = { url = \"http://127.0.0.1:1\", protocol = \"h3\" }",
            "protocol",
            "unknown variant",
        ),
        (
            "ca = { url = \"https://127.0.0.1:1\", protocol = \"h2c\" }",
            "targets.ca.protocol",
            "h2c is HTTP/2 over plain http://",
        ),
    ];
    for (line, key, message) in cases {
        let path = dir.path().join("cutover.toml");
        std::fs::write(
            &path,
            format!(
                "[proxy]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\n[targets]\nmono = {{ url = \"http://127.0.0.1:1\", role = \"primary\" }}\n{line}\n"
            ),
        )
        .expect("write config");
        let (code, stderr) = run_proxy(&path);
        assert_eq!(code, 2, "{line}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let located = format!("{}:7:", path.display());
        assert!(stderr.contains(&located), "{line}: not located: {stderr}");
        assert!(stderr.contains(key), "{line}: no key {key}: {stderr}");
        assert!(stderr.contains(message), "{line}: {stderr}");
        if message.contains("CA file") || message.contains("certificate") {
            // The file is named as resolved next to the configuration.
            assert!(
                stderr.contains(&dir.path().display().to_string()),
                "{stderr}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_is_tunnelled_to_an_https_primary() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = toml_path(&pki.write_ca(dir.path()));
    let (echo, upgrades) = tls_upstream::tls_upgrade_echo(&pki).await;
    let cand = serve(Kind::Plain, Duration::ZERO).await;
    let h = Harness::start(&config(
        &format!("https://localhost:{}", echo.port()),
        &format!(", tls_ca_file = \"{ca}\""),
        &format!("http://{}", cand.addr),
        "",
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(h.proxy.listen)
        .await
        .expect("connect");
    s.write_all(b"GET /api/ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut byte))
            .await
            .expect("head in time")
            .expect("read");
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s.write_all(b"ping over tls").await.expect("write");
    let mut echoed = [0u8; 13];
    tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut echoed))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(&echoed, b"ping over tls");
    assert_eq!(upgrades.load(Ordering::SeqCst), 1);
    assert!(cand.hits().is_empty(), "an upgrade is never mirrored");
    drop(s);
    h.stop().await;
}
