//! End-to-end tests of `[proxy] max_shadow_connections_per_target`: a slow candidate never
//! sees more connections than the cap while the client path is untouched, copies wait for a
//! connection instead of opening more, and a wait that outlives the copy's deadline is a
//! counted capacity drop, never a timeout of the candidate. Loopback only; every
//! condition is awaited (with a generous deadline), nothing asserts on time.

#[path = "support/upstream.rs"]
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::pipeline::{Analysis, Pipeline, Sink};
use cutover::proxy::RunningProxy;
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::watch;

const BODY: &str = r#"{"ok":true}"#;

/// A candidate that holds every request until `release` is sent, and counts its open
/// connections (now and at the peak) and the requests it received.
struct Gated {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

async fn gated_candidate() -> Gated {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (release, gate) = watch::channel(false);
    let (o, p, r) = (Arc::clone(&open), Arc::clone(&peak), Arc::clone(&requests));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let now = o.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            let (o, r, gate) = (Arc::clone(&o), Arc::clone(&r), gate.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<Incoming>| {
                    let mut gate = gate.clone();
                    r.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let _ = gate.wait_for(|open| *open).await;
                        Ok::<_, Infallible>(full(200, "application/json", BODY))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Gated {
        addr,
        open,
        peak,
        requests,
        release,
    }
}

/// Counts analysed exchanges.
struct Count(Arc<AtomicUsize>);

impl Sink for Count {
    fn accept(&mut self, _: &cutover::exchange::Exchange, _: &Analysis) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn start(toml: &str) -> (RunningProxy, Pipeline, reqwest::Client, Arc<AtomicUsize>) {
    let config = Arc::new(Config::parse(toml, "test.toml").expect("valid config"));
    let analysed = Arc::new(AtomicUsize::new(0));
    let (proxy, pipeline, client) =
        start_proxy(config, vec![Box::new(Count(Arc::clone(&analysed)))]).await;
    (proxy, pipeline, client, analysed)
}

async fn metrics(proxy: &RunningProxy) -> String {
    let admin = proxy.admin.expect("admin enabled");
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// The value of one sample (`name{labels}`) in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<u64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Wait (up to 30 s) until `f` holds.
async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn primary() -> Upstream {
    upstream(|_| async { full(200, "application/json", BODY) }).await
}

#[tokio::test]
async fn a_slow_candidate_never_sees_more_connections_than_the_cap() {
    const CAP: usize = 4;
    const N: usize = 48;
    let primary = primary().await;
    let cand = gated_candidate().await;
    let toml = format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 60000
max_shadow_connections_per_target = {CAP}

[targets]
mono = {{ url = "{}", role = "primary" }}
cand = {{ url = "http://{}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
"#,
        primary.url(),
        cand.addr
    );
    let (proxy, pipeline, client, analysed) = start(&toml).await;
    // Every client is answered by the primary while the candidate holds every copy.
    let calls = (0..N).map(|i| {
        let req = client.get(format!("http://{}/api/item/{i}", proxy.listen));
        async move {
            let resp = req.send().await.expect("send");
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.text().await.expect("body"), BODY);
        }
    });
    futures_util::future::join_all(calls).await;
    // All copies are in flight: CAP hold a connection, the rest wait for one.
    until("every copy sent or waiting", async || {
        let page = metrics(&proxy).await;
        sample(
            &page,
            "cutover_shadow_connection_waits_total{target=\"cand\"}",
        ) == Some((N - CAP) as u64)
    })
    .await;
    until("the candidate holds CAP requests", async || {
        cand.requests.load(Ordering::SeqCst) == CAP
    })
    .await;
    let page = metrics(&proxy).await;
    assert_eq!(
        sample(&page, "cutover_shadow_connections{target=\"cand\"}"),
        Some(CAP as u64),
        "{page}"
    );
    assert_eq!(
        sample(&page, "cutover_shadow_connections_max{target=\"cand\"}"),
        Some(CAP as u64)
    );
    assert_eq!(cand.open.load(Ordering::SeqCst), CAP);
    // Let the candidate answer: the waiting copies reuse the CAP connections.
    cand.release.send_replace(true);
    until("every exchange analysed", async || {
        analysed.load(Ordering::SeqCst) == N
    })
    .await;
    assert_eq!(cand.requests.load(Ordering::SeqCst), N);
    assert!(
        cand.peak.load(Ordering::SeqCst) <= CAP,
        "the candidate saw {} connections at once (cap {CAP})",
        cand.peak.load(Ordering::SeqCst)
    );
    let summary = proxy.shutdown().await;
    pipeline.finish().await;
    assert_eq!(summary.dropped_shadow_connections, 0);
    let conns = &summary.shadow_connections;
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0].target, "cand");
    assert!(conns[0].stats.peak <= CAP, "{conns:?}");
    assert_eq!(conns[0].stats.waits, (N - CAP) as u64);
    assert_eq!(conns[0].stats.expired, 0);
    // The primary's connections are not capped by the shadow cap.
    assert_eq!(primary.count(), N);
}

#[tokio::test]
async fn a_wait_that_outlives_the_deadline_is_a_capacity_drop_not_a_candidate_timeout() {
    let primary = primary().await;
    let cand = gated_candidate().await;
    // Two candidate targets on one origin share its pool and its cap of one connection:
    // `slow` (long deadline) takes it, `quick` (short deadline) waits for it in vain.
    let toml = format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
max_shadow_connections_per_target = 1

[targets]
mono = {{ url = "{}", role = "primary" }}
slow = {{ url = "http://{addr}", timeout_ms = 60000 }}
quick = {{ url = "http://{addr}", timeout_ms = 200 }}

[[routes]]
match = "/long/**"
candidate = "slow"

[[routes]]
match = "/short/**"
candidate = "quick"
"#,
        primary.url(),
        addr = cand.addr
    );
    let (proxy, pipeline, client, analysed) = start(&toml).await;
    let get = |path: &str| client.get(format!("http://{}{path}", proxy.listen)).send();
    let resp = get("/long/1").await.expect("send");
    assert_eq!(resp.text().await.expect("body"), BODY);
    until("the slow copy holds the connection", async || {
        cand.requests.load(Ordering::SeqCst) == 1
    })
    .await;
    let resp = get("/short/1").await.expect("send");
    assert_eq!(resp.status(), 200, "the client path does not wait");
    assert_eq!(resp.text().await.expect("body"), BODY);
    until("the quick copy's wait ran out", async || {
        let page = metrics(&proxy).await;
        sample(
            &page,
            "cutover_exchanges_dropped_total{reason=\"shadow_connections\"}",
        ) == Some(1)
    })
    .await;
    let page = metrics(&proxy).await;
    assert_eq!(
        sample(
            &page,
            "cutover_upstream_errors_total{target=\"quick\",kind=\"timeout\"}"
        ),
        Some(0),
        "a wait for a connection is not a timeout of the candidate:\n{page}"
    );
    assert_eq!(
        sample(
            &page,
            "cutover_shadow_connection_waits_expired_total{target=\"quick\"}"
        ),
        Some(1)
    );
    assert_eq!(cand.requests.load(Ordering::SeqCst), 1, "never sent");
    cand.release.send_replace(true);
    until("the slow exchange analysed", async || {
        analysed.load(Ordering::SeqCst) == 1
    })
    .await;
    let summary = proxy.shutdown().await;
    pipeline.finish().await;
    assert_eq!(summary.dropped_shadow_connections, 1);
    assert_eq!(cand.peak.load(Ordering::SeqCst), 1);
    let text = cutover::proxy::render_summary(
        &Config::parse(&toml, "test.toml").expect("config"),
        &summary,
        &cutover::pipeline::Aggregate::default(),
    );
    assert!(text.contains("shadow_connections=1"), "{text}");
    assert!(text.contains("waits_expired=1"), "{text}");
}
