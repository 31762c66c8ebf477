//! End-to-end tests of `cutover proxy` on loopback: real upstreams, real client.

#[path = "support/upstream.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cutover::config::Config;
use cutover::exchange::{Exchange, FailureKind};
use cutover::pipeline::{Aggregate, Analysis, Pipeline, PipelineOptions, Sink, analyzer_for};
use cutover::proxy::{self, RunningProxy};
use support::*;

/// Collects exchanges for assertions.
struct Collect(Arc<Mutex<Vec<Exchange>>>);

impl Sink for Collect {
    fn accept(&mut self, exchange: &Exchange, _: &Analysis) {
        if let Ok(mut v) = self.0.lock() {
            v.push(exchange.clone());
        }
    }
}

struct Harness {
    proxy: RunningProxy,
    pipeline: Pipeline,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    client: reqwest::Client,
}

impl Harness {
    async fn start(toml: &str) -> Harness {
        let config = Arc::new(Config::parse(toml, "test.toml").expect("valid config"));
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let (proxy, pipeline, client) =
            start_proxy(config, vec![Box::new(Collect(Arc::clone(&exchanges)))]).await;
        Harness {
            proxy,
            pipeline,
            exchanges,
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.listen)
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

    /// Wait until at least `n` exchanges were analysed (generous timeout).
    async fn exchanges(&self, n: usize) -> Vec<Exchange> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.exchanges.lock().map(|v| v.clone()).unwrap_or_default();
            if v.len() >= n || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> (proxy::ProxySummary, Aggregate) {
        let summary = self.proxy.shutdown().await;
        let aggregate = self.pipeline.finish().await;
        (summary, aggregate)
    }
}

fn config(primary: &str, candidate: &str, extra_proxy: &str, route_extra: &str) -> String {
    format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 1000
{extra_proxy}

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
{route_extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_failures_never_reach_the_client() {
    let primary = ok_upstream().await;
    let slow = slow_upstream(Duration::from_secs(2)).await;
    let (down, _hold) = down_addr();
    let cases = [
        (format!("http://{down}"), FailureKind::Connect),
        (slow.url(), FailureKind::Timeout),
        (
            format!("http://{}", resetting_server().await),
            FailureKind::Reset,
        ),
        (
            format!("http://{}", garbage_server().await),
            FailureKind::Protocol,
        ),
    ];
    for (candidate, kind) in cases {
        let h = Harness::start(&config(&primary.url(), &candidate, "", "")).await;
        for i in 0..3 {
            let started = Instant::now();
            let resp = h
                .client
                .get(h.url(&format!("/api/x{i}?q=1")))
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 200, "{kind:?}");
            let body: serde_json::Value = resp.json().await.expect("primary json");
            assert_eq!(
                body,
                serde_json::json!({"ok": true, "path": format!("/api/x{i}?q=1")})
            );
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{kind:?}: client waited on the candidate"
            );
        }
        let exchanges = h.exchanges(3).await;
        assert_eq!(exchanges.len(), 3, "{kind:?}");
        for ex in &exchanges {
            assert!(ex.outcomes.primary.response().is_some());
            let failure = ex
                .outcomes
                .candidate
                .as_ref()
                .and_then(|c| c.failure())
                .expect("candidate failed");
            assert_eq!(failure.kind, kind, "{}", failure.message);
            assert!(ex.route.starts_with("GET /api/x") && !ex.route.contains('?'));
        }
        let metrics = h.metrics().await;
        assert!(
            metrics.contains(&format!(
                "cutover_upstream_errors_total{{target=\"cand\",kind=\"{}\"}} 3",
                kind.as_str()
            )),
            "{metrics}"
        );
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_cap_reach_the_primary_and_are_not_mirrored() {
    let primary = upstream(|s: Seen| async move {
        json(serde_json::json!({"len": s.body.len(), "sum": s.body.iter().map(|b| *b as u64).sum::<u64>()}))
    })
    .await;
    let candidate = ok_upstream().await;
    let h = Harness::start(&config(
        &primary.url(),
        &candidate.url(),
        "max_body_bytes = 1024",
        "mirror_writes = true",
    ))
    .await;
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = big.iter().map(|b| *b as u64).sum();
    // With a Content-Length, and streamed without one (chunked).
    let resp = h
        .client
        .post(h.url("/api/upload"))
        .body(big.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.json::<serde_json::Value>().await.expect("json"),
        serde_json::json!({"len": 100_000, "sum": sum})
    );
    let chunks: Vec<Result<Bytes, std::io::Error>> = big
        .chunks(700)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    let resp = h
        .client
        .post(h.url("/api/upload"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.json::<serde_json::Value>().await.expect("json"),
        serde_json::json!({"len": 100_000, "sum": sum})
    );
    // A small one is mirrored.
    let resp = h
        .client
        .post(h.url("/api/upload"))
        .body("small")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let exchanges = h.exchanges(1).await;
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].request.body.as_bytes(), b"small");
    assert_eq!(candidate.count(), 1);
    let metrics = h.metrics().await;
    assert!(
        metrics
            .contains("cutover_not_mirrored_total{route=\"/api/**\",reason=\"body_too_large\"} 2"),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_passes_through_incrementally() {
    let sent_second: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let mark = Arc::clone(&sent_second);
    let primary = upstream(move |_s: Seen| {
        let mark = Arc::clone(&mark);
        async move {
            let (tx, resp) = streaming("text/event-stream");
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"data: one\n\n")).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Ok(mut m) = mark.lock() {
                    *m = Some(Instant::now());
                }
                let _ = tx.send(Bytes::from_static(b"data: two\n\n")).await;
            });
            resp
        }
    })
    .await;
    let candidate = ok_upstream().await;
    let h = Harness::start(&config(&primary.url(), &candidate.url(), "", "")).await;
    let mut resp = h
        .client
        .get(h.url("/api/stream"))
        .send()
        .await
        .expect("send");
    let mut got = Vec::new();
    let mut first_at = None;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        got.extend_from_slice(&chunk);
        if first_at.is_none() && got.windows(3).any(|w| w == b"one") {
            first_at = Some(Instant::now());
        }
    }
    assert_eq!(got, b"data: one\n\ndata: two\n\n");
    let second = sent_second
        .lock()
        .ok()
        .and_then(|m| *m)
        .expect("second event sent");
    assert!(
        first_at.expect("first event") < second,
        "event 1 was held back until event 2"
    );
    let exchanges = h.exchanges(1).await;
    let primary_body = exchanges[0]
        .outcomes
        .primary
        .response()
        .expect("response")
        .body
        .clone();
    assert_eq!(primary_body.as_bytes(), b"data: one\n\ndata: two\n\n");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_response_streams_and_capture_is_truncated() {
    const TOTAL: usize = 50 * 1024 * 1024;
    let primary = upstream(|_s: Seen| async move {
        let (tx, resp) = streaming("application/octet-stream");
        tokio::spawn(async move {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            for _ in 0..TOTAL / chunk.len() {
                if tx.send(chunk.clone()).await.is_err() {
                    return;
                }
            }
        });
        resp
    })
    .await;
    let candidate = ok_upstream().await;
    let h = Harness::start(&config(&primary.url(), &candidate.url(), "", "")).await;
    let mut resp = h.client.get(h.url("/api/big")).send().await.expect("send");
    let mut n = 0usize;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        n += chunk.len();
    }
    assert_eq!(n, TOTAL);
    let exchanges = h.exchanges(1).await;
    let r = exchanges[0].outcomes.primary.response().expect("response");
    assert!(r.truncated);
    assert_eq!(r.body.len(), 1024 * 1024);
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        // Whole test process (upstream + proxy + client + parallel tests): generous bound.
        let hwm_kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(hwm_kb < 400 * 1024, "peak RSS {hwm_kb} kB");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_hygiene_shadow_marker_and_h2c() {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let h = Harness::start(&config(&primary.url(), &candidate.url(), "", "")).await;
    let resp = h
        .client
        .get(h.url("/api/h?a=b"))
        .header("connection", "x-drop-me")
        .header("x-drop-me", "1")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic eA==")
        .header("x-forwarded-for", "10.0.0.1")
        .header("x-keep", "yes")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    h.exchanges(1).await;
    let p = &primary.requests()[0];
    for gone in ["x-drop-me", "keep-alive", "te", "proxy-authorization"] {
        assert_eq!(p.header(gone), None, "{gone} reached the primary");
    }
    assert_eq!(p.header("x-keep").as_deref(), Some("yes"));
    assert_eq!(
        p.header("x-forwarded-for").as_deref(),
        Some("10.0.0.1, 127.0.0.1")
    );
    assert_eq!(p.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        p.header("x-forwarded-host"),
        Some(h.proxy.listen.to_string())
    );
    assert_eq!(p.header("host"), Some(primary.addr.to_string()));
    assert_eq!(p.uri, "/api/h?a=b");
    let c = &candidate.requests()[0];
    assert_eq!(c.header("x-cutover-shadow").as_deref(), Some("candidate"));
    assert_eq!(c.header("host"), Some(candidate.addr.to_string()));
    assert_eq!(c.header("x-drop-me"), None);

    // h2c (prior knowledge) works too.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let resp = h2.get(h.url("/api/h2")).send().await.expect("h2c send");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    h.exchanges(2).await;

    // A request that is itself a shadow copy (a candidate URL pointing back at a cutover)
    // reaches the primary without the marker and is never mirrored again: no loops.
    let resp = h
        .client
        .get(h.url("/api/looped"))
        .header("x-cutover-shadow", "candidate")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert!(
        h.metrics()
            .await
            .contains("cutover_not_mirrored_total{route=\"/api/**\",reason=\"shadow_copy\"} 1")
    );
    assert!(candidate.requests().iter().all(|r| r.uri != "/api/looped"));
    assert!(primary.requests().iter().any(|r| r.uri == "/api/looped"));
    assert!(
        primary
            .requests()
            .iter()
            .all(|s| s.header("x-cutover-shadow").is_none())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_absolute_uris_cannot_redirect_traffic() {
    let primary = ok_upstream().await;
    let other = ok_upstream().await;
    let (down, _hold) = down_addr();
    let h = Harness::start(&config(&primary.url(), &format!("http://{down}"), "", "")).await;
    let answer = raw_request(
        h.proxy.listen,
        "GET http://evil.example/x?y=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = raw_request(
        h.proxy.listen,
        &format!(
            "GET /y HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            other.addr
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let uris: Vec<String> = primary.requests().into_iter().map(|s| s.uri).collect();
    assert_eq!(uris, vec!["/x?y=1".to_string(), "/y".to_string()]);
    assert_eq!(other.count(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_ratio_and_write_policy() {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let toml = format!(
        "{}\n[[routes]]\nmatch = \"/all/**\"\ncandidate = \"cand\"\n",
        config(&primary.url(), &candidate.url(), "", "sample = 0.3")
    );
    let h = Harness::start(&toml).await;
    const N: usize = 1000;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let client = h.client.clone();
        let url = h.url("/api/s");
        tasks.push(tokio::spawn(async move {
            for _ in (worker..N).step_by(8) {
                let r = client.get(&url).send().await.expect("send");
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    // Writes: not mirrored without mirror_writes; reads are.
    let r = h
        .client
        .post(h.url("/all/w"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = h.client.get(h.url("/all/r")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while h
        .proxy
        .summary()
        .routes
        .iter()
        .map(|r| r.mirrored)
        .sum::<u64>() as usize
        > h.exchanges.lock().map(|v| v.len()).unwrap_or(0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (summary, _) = h.stop().await;
    let api = &summary.routes[0];
    let ratio = api.mirrored as f64 / N as f64;
    assert!((0.24..=0.36).contains(&ratio), "mirrored ratio {ratio}");
    assert_eq!(
        api.mirrored + api.not_mirrored.get("sampled_out").copied().unwrap_or(0),
        N as u64
    );
    let all = &summary.routes[1];
    assert_eq!(all.mirrored, 1);
    assert_eq!(all.not_mirrored.get("method").copied(), Some(1));
    assert!(!candidate.requests().iter().any(|s| s.method == "POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_shadow_capacity_drops_and_counts() {
    let primary = ok_upstream().await;
    let candidate = slow_upstream(Duration::from_millis(800)).await;
    let h = Harness::start(&config(
        &primary.url(),
        &candidate.url(),
        "max_in_flight_shadows = 1",
        "",
    ))
    .await;
    let first = h.client.get(h.url("/api/c0")).send().await.expect("send");
    assert_eq!(first.status(), 200);
    let mut tasks = Vec::new();
    for i in 1..5 {
        let (client, url) = (h.client.clone(), h.url(&format!("/api/c{i}")));
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("send"), 200);
    }
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("cutover_not_mirrored_total{route=\"/api/**\",reason=\"capacity\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cutover_mirrored_total{route=\"/api/**\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("cutover_shadows_in_flight 1"), "{metrics}");
    assert!(metrics.contains("# TYPE cutover_upstream_latency_seconds histogram"));
    let admin = h.proxy.admin.expect("admin");
    let health = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.text().await.expect("text"), "ok");
    h.exchanges(1).await;
    let (summary, aggregate) = h.stop().await;
    assert_eq!(summary.unfinished_shadows, 0);
    assert_eq!(aggregate.routes.values().map(|r| r.total).sum::<u64>(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_failures_answer_502_and_504_and_are_recorded() {
    let candidate = ok_upstream().await;
    let (down, _hold) = down_addr();
    let h = Harness::start(&config(&format!("http://{down}"), &candidate.url(), "", "")).await;
    let resp = h.client.get(h.url("/api/p")).send().await.expect("send");
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.expect("json error body");
    assert_eq!(body["source"], "cutover");
    let ex = h.exchanges(1).await;
    assert_eq!(
        ex[0].outcomes.primary.failure().map(|f| f.kind),
        Some(FailureKind::Connect)
    );
    assert!(
        ex[0]
            .outcomes
            .candidate
            .as_ref()
            .and_then(|c| c.response())
            .is_some()
    );
    h.stop().await;

    let slow = slow_upstream(Duration::from_secs(3)).await;
    let h = Harness::start(&config(
        &slow.url(),
        &candidate.url(),
        "primary_timeout_ms = 300",
        "",
    ))
    .await;
    let resp = h.client.get(h.url("/api/p")).send().await.expect("send");
    assert_eq!(resp.status(), 504);
    let ex = h.exchanges(1).await;
    assert_eq!(
        ex[0].outcomes.primary.failure().map(|f| f.kind),
        Some(FailureKind::Timeout)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_target_mode_answers_204_and_fans_out() {
    let primary = ok_upstream().await;
    let candidate = ok_upstream().await;
    let h = Harness::start(&config(
        &primary.url(),
        &candidate.url(),
        "mode = \"mirror-target\"",
        "",
    ))
    .await;
    let resp = h
        .client
        .get(h.url("/api/m?x=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 204);
    let ex = h.exchanges(1).await;
    assert_eq!(ex[0].route, "GET /api/m");
    assert!(ex[0].outcomes.primary.response().is_some());
    assert!(
        ex[0]
            .outcomes
            .candidate
            .as_ref()
            .and_then(|c| c.response())
            .is_some()
    );
    assert_eq!(primary.count(), 1);
    assert_eq!(
        candidate.requests()[0]
            .header("x-cutover-shadow")
            .as_deref(),
        Some("candidate")
    );
    assert_eq!(primary.requests()[0].header("x-cutover-shadow"), None);
    // Unrouted requests are not forwarded at all in this mode.
    let resp = h.client.get(h.url("/other")).send().await.expect("send");
    assert_eq!(resp.status(), 204);
    let (summary, aggregate) = h.stop().await;
    assert_eq!(primary.count(), 1);
    assert_eq!(summary.routes[0].mirrored, 1);
    assert_eq!(
        aggregate.routes.get("GET /api/m").map(|r| r.matched),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_an_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let toml = config("http://127.0.0.1:1", "http://127.0.0.1:2", "", "")
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""));
    let config = Arc::new(Config::parse(&toml, "t.toml").expect("config"));
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate::default(),
        vec![],
        PipelineOptions::default(),
    )
    .expect("pipeline");
    let err = match proxy::start(config, handle, pipeline.aggregate(), pipeline.stats()).await {
        Ok(_) => panic!("started on a taken port"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&addr.to_string()), "{err}");
    pipeline.finish().await;
}

/// The real binary: kill -9 after traffic; every line of the recording parses and no
/// planted secret appears in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_survives_kill_9_and_holds_no_secrets() {
    use std::io::BufRead;
    let primary = upstream(|_s: Seen| async move {
        let mut r = json(serde_json::json!({"access_token": "RESP-TOKEN-123", "token_type": "bearer", "user": {"name": "bob"}}));
        r.headers_mut().insert("set-cookie", http::HeaderValue::from_static("access_token=COOKIE-VAL-9; HttpOnly"));
        r
    })
    .await;
    let candidate = ok_upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("rec.jsonl");
    let toml = format!(
        "{}\n[recording]\nfsync_interval_ms = 100\n",
        config(&primary.url(), &candidate.url(), "", "mirror_writes = true")
    );
    let cfg_path = dir.path().join("cutover.toml");
    std::fs::write(&cfg_path, toml).expect("write config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["proxy", "--config"])
        .arg(&cfg_path)
        .arg("--record")
        .arg(&rec)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cutover");
    let stdout = child.stdout.take().expect("stdout");
    let first = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .and_then(|l| l.ok())
        .unwrap_or_default();
    let listen = first
        .strip_prefix("listening http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    let client = reqwest::Client::new();
    const N: usize = 40;
    for i in 0..N {
        let resp = client
            .post(format!("http://{listen}/api/login?i={i}"))
            .header("authorization", "Bearer SECRET-JWT-abc")
            .header("cookie", "access_token=COOKIE-SECRET-1; theme=dark")
            .json(&serde_json::json!({"username": "bob", "password": "PLAINTEXT-PW"}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = 0;
    while Instant::now() < deadline {
        // Exchange lines: the header line is not counted.
        lines = std::fs::read_to_string(&rec)
            .map(|t| {
                t.lines()
                    .filter(|l| !l.starts_with("{\"cutover_recording\""))
                    .count()
            })
            .unwrap_or(0);
        if lines >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert_eq!(
        lines,
        N,
        "{:?}",
        std::fs::read_dir(dir.path()).map(|d| d.map(|e| e.map(|e| e.path())).collect::<Vec<_>>())
    );
    let text = std::fs::read_to_string(&rec).expect("recording");
    assert!(
        text.starts_with("{\"cutover_recording\":1,"),
        "a header first"
    );
    for line in text
        .lines()
        .filter(|l| !l.starts_with("{\"cutover_recording\""))
    {
        let ex: Exchange = serde_json::from_str(line).expect("every line is an Exchange");
        assert!(ex.outcomes.candidate.is_some());
    }
    assert!(text.ends_with('\n'));
    for secret in [
        "SECRET-JWT-abc",
        "COOKIE-SECRET-1",
        "PLAINTEXT-PW",
        "RESP-TOKEN-123",
        "COOKIE-VAL-9",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the recording");
    }
    let plain = cutover::redact::marker::unmark(&text);
    assert!(plain.contains("Bearer [REDACTED]") && plain.contains("access_token=[REDACTED]"));
}
