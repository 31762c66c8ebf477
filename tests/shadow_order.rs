//! Ordered shadows per client identity, on real sockets: a read-after-write from one
//! client never reaches a stateful candidate out of order, different identities still run
//! concurrently, and a full per-identity queue drops and counts. Attribution of a
//! difference to the identity that saw it: `tests/identity_attribution.rs`.

#[path = "support/upstream.rs"]
mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::config::Config;
use cutover::exchange::Exchange;
use cutover::pipeline::{Aggregate, Analysis, Sink};
use cutover::proxy::{ProxySummary, RunningProxy};
use support::*;

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
    pipeline: cutover::pipeline::Pipeline,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    client: reqwest::Client,
    config: Arc<Config>,
}

impl Harness {
    async fn start(primary: &str, candidate: &str, identity: &str) -> Harness {
        Harness::with(primary, candidate, identity, "").await
    }

    async fn with(primary: &str, candidate: &str, identity: &str, proxy: &str) -> Harness {
        let toml = format!(
            r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 30000
{proxy}

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
mirror_writes = true

[identity]
{identity}
"#
        );
        let config = Arc::new(Config::parse(&toml, "test.toml").expect("valid config"));
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let (proxy, pipeline, client) = start_proxy(
            Arc::clone(&config),
            vec![Box::new(Collect(Arc::clone(&exchanges)))],
        )
        .await;
        Harness {
            proxy,
            pipeline,
            exchanges,
            client,
            config,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.listen)
    }

    async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: &str) {
        self.send_expect(method, path, token, body, 200).await;
    }

    async fn send_expect(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &str,
        status: u16,
    ) {
        let resp = self
            .client
            .request(method, self.url(path))
            .header("authorization", format!("Bearer {token}"))
            .body(body.to_string())
            .send()
            .await
            .expect("proxy answers");
        assert_eq!(resp.status(), status);
        let _ = resp.bytes().await;
    }

    async fn exchanges(&self, n: usize) -> Vec<Exchange> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.exchanges.lock().map(|v| v.clone()).unwrap_or_default();
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

    async fn stop(self) -> (ProxySummary, Aggregate, Arc<Config>) {
        let summary = self.proxy.shutdown().await;
        let aggregate = self.pipeline.finish().await;
        (summary, aggregate, self.config)
    }
}

/// A service that applies requests in the order it receives them: `PUT` stores the body,
/// `GET` answers the value stored. `put_delay` runs before a PUT is applied.
async fn stateful<D, F>(put_delay: D) -> Upstream
where
    D: Fn() -> F + Send + Sync + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let value = Arc::new(AtomicI64::new(0));
    let put_delay = Arc::new(put_delay);
    upstream(move |s: Seen| {
        let value = Arc::clone(&value);
        let delay = put_delay();
        async move {
            if s.method == "PUT" {
                delay.await;
                let v = String::from_utf8_lossy(&s.body)
                    .parse::<i64>()
                    .unwrap_or(-1);
                value.store(v, Ordering::SeqCst);
            }
            json(serde_json::json!({ "value": value.load(Ordering::SeqCst) }))
        }
    })
    .await
}

fn totals(a: &Aggregate) -> (u64, u64) {
    a.routes
        .values()
        .fold((0, 0), |(m, x), r| (m + r.matched, x + r.mismatched))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_after_write_reaches_the_candidate_in_order() {
    const ROUNDS: usize = 200;
    let primary = stateful(|| async {}).await;
    // The candidate slows every PUT by a random few milliseconds: a GET sent concurrently
    // would read the old value.
    let candidate = stateful(|| async {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..6))).await;
    })
    .await;
    let h = Harness::start(
        &primary.url(),
        &candidate.url(),
        "max_queued_per_identity = 1024",
    )
    .await;
    for i in 1..=ROUNDS {
        h.send(
            reqwest::Method::PUT,
            "/api/value",
            "client-a",
            &i.to_string(),
        )
        .await;
        h.send(reqwest::Method::GET, "/api/value", "client-a", "")
            .await;
    }
    let seen = h.exchanges(2 * ROUNDS).await;
    assert_eq!(seen.len(), 2 * ROUNDS);
    // Arrival order is kept on every exchange.
    let mut seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 2 * ROUNDS);
    // An opaque token is labelled by a short fingerprint, never by itself.
    let label = seen[0].identity.clone().expect("a label");
    assert!(
        label.starts_with("cred:") && !label.contains("client-a"),
        "{label}"
    );
    assert!(
        seen.iter()
            .all(|e| e.identity.as_deref() == Some(label.as_str()))
    );
    let (summary, aggregate, _) = h.stop().await;
    let (matched, mismatched) = totals(&aggregate);
    assert_eq!(
        (matched, mismatched),
        (2 * ROUNDS as u64, 0),
        "no read-after-write was reordered"
    );
    assert!(summary.routes.iter().all(|r| r.not_mirrored.is_empty()));
    // The candidate saw the requests in the client's order.
    let order: Vec<String> = candidate
        .requests()
        .iter()
        .map(|s| format!("{} {}", s.method, String::from_utf8_lossy(&s.body)))
        .collect();
    let expected: Vec<String> = (1..=ROUNDS)
        .flat_map(|i| [format!("PUT {i}"), "GET ".to_string()])
        .collect();
    assert_eq!(order, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_identity_on_fresh_connections_and_any_worker_stays_in_order() {
    const ROUNDS: usize = 100;
    let primary = stateful(|| async {}).await;
    let candidate = stateful(|| async {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..6))).await;
    })
    .await;
    let h = Harness::start(
        &primary.url(),
        &candidate.url(),
        "max_queued_per_identity = 1024",
    )
    .await;
    // No keep-alive: every request on a new connection, accepted by whichever worker
    // thread; the identity is the credential, not the connection.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for i in 1..=ROUNDS {
        for (method, body) in [
            (reqwest::Method::PUT, i.to_string()),
            (reqwest::Method::GET, String::new()),
        ] {
            let resp = fresh
                .request(method, h.url("/api/value"))
                .header("authorization", "Bearer client-a")
                .body(body)
                .send()
                .await
                .expect("proxy answers");
            assert_eq!(resp.status(), 200);
            let _ = resp.bytes().await;
        }
    }
    assert_eq!(h.exchanges(2 * ROUNDS).await.len(), 2 * ROUNDS);
    let (_, aggregate, _) = h.stop().await;
    assert_eq!(totals(&aggregate), (2 * ROUNDS as u64, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_target_mode_orders_the_primary_copy_too() {
    const ROUNDS: usize = 50;
    // Behind NGINX `mirror` cutover answers 204 at once and calls every target itself: the
    // primary's copy is one more copy to keep in order.
    let slow_put = || async {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..6))).await;
    };
    let primary = stateful(slow_put).await;
    let candidate = stateful(slow_put).await;
    let h = Harness::with(
        &primary.url(),
        &candidate.url(),
        "max_queued_per_identity = 1024",
        "mode = \"mirror-target\"",
    )
    .await;
    for i in 1..=ROUNDS {
        let put = reqwest::Method::PUT;
        h.send_expect(put, "/api/value", "client-a", &i.to_string(), 204)
            .await;
        h.send_expect(reqwest::Method::GET, "/api/value", "client-a", "", 204)
            .await;
    }
    assert_eq!(h.exchanges(2 * ROUNDS).await.len(), 2 * ROUNDS);
    let (_, aggregate, _) = h.stop().await;
    assert_eq!(totals(&aggregate), (2 * ROUNDS as u64, 0));
}

/// A candidate that holds each PUT until the next GET has arrived (or 3 s passed).
async fn put_waits_for_get() -> (Upstream, Arc<tokio::sync::Notify>) {
    let got = Arc::new(tokio::sync::Notify::new());
    let value = Arc::new(AtomicI64::new(0));
    let g = Arc::clone(&got);
    let up = upstream(move |s: Seen| {
        let got = Arc::clone(&g);
        let value = Arc::clone(&value);
        async move {
            if s.method == "PUT" {
                let _ = tokio::time::timeout(Duration::from_secs(3), got.notified()).await;
                let v = String::from_utf8_lossy(&s.body)
                    .parse::<i64>()
                    .unwrap_or(-1);
                value.store(v, Ordering::SeqCst);
            } else {
                let v = value.load(Ordering::SeqCst);
                got.notify_one();
                return json(serde_json::json!({ "value": v }));
            }
            json(serde_json::json!({ "value": value.load(Ordering::SeqCst) }))
        }
    })
    .await;
    (up, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ordering_a_read_after_write_is_reordered() {
    const ROUNDS: usize = 5;
    let primary = stateful(|| async {}).await;
    let (candidate, _) = put_waits_for_get().await;
    let h = Harness::start(&primary.url(), &candidate.url(), "ordered = false").await;
    for i in 1..=ROUNDS {
        h.send(
            reqwest::Method::PUT,
            "/api/value",
            "client-a",
            &i.to_string(),
        )
        .await;
        h.send(reqwest::Method::GET, "/api/value", "client-a", "")
            .await;
    }
    let seen = h.exchanges(2 * ROUNDS).await;
    assert_eq!(seen.len(), 2 * ROUNDS);
    let (_, aggregate, _) = h.stop().await;
    let (_, mismatched) = totals(&aggregate);
    // Every GET overtook its PUT: the candidate answered the old value.
    assert_eq!(mismatched, ROUNDS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_identities_are_not_held_behind_each_other() {
    let primary = upstream(|_| async { json(serde_json::json!({"ok": true})) }).await;
    // The candidate answers identity A only once identity B's request has arrived; were
    // B queued behind A, A would answer `stuck` after 10 s.
    let b_arrived = Arc::new(tokio::sync::Notify::new());
    let n = Arc::clone(&b_arrived);
    let candidate = upstream(move |s: Seen| {
        let n = Arc::clone(&n);
        async move {
            if s.header("authorization").as_deref() == Some("Bearer user-b") {
                n.notify_one();
                return json(serde_json::json!({"ok": true}));
            }
            match tokio::time::timeout(Duration::from_secs(10), n.notified()).await {
                Ok(()) => json(serde_json::json!({"ok": true})),
                Err(_) => json(serde_json::json!({"ok": false, "stuck": true})),
            }
        }
    })
    .await;
    let h = Harness::start(&primary.url(), &candidate.url(), "").await;
    h.send(reqwest::Method::GET, "/api/a", "user-a", "").await;
    h.send(reqwest::Method::GET, "/api/b", "user-b", "").await;
    let seen = h.exchanges(2).await;
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0].identity, seen[1].identity);
    let (_, aggregate, _) = h.stop().await;
    assert_eq!(totals(&aggregate), (2, 0), "A was answered while B ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_by_connection_lets_a_shared_credential_run_concurrently() {
    let primary = upstream(|_| async { json(serde_json::json!({"ok": true})) }).await;
    // Both clients send the same credential; the candidate answers the first request only
    // once the second has arrived (else `stuck` after 10 s).
    let second = Arc::new(tokio::sync::Notify::new());
    let n = Arc::clone(&second);
    let candidate = upstream(move |s: Seen| {
        let n = Arc::clone(&n);
        async move {
            if s.uri.ends_with("/second") {
                n.notify_one();
                return json(serde_json::json!({"ok": true}));
            }
            match tokio::time::timeout(Duration::from_secs(10), n.notified()).await {
                Ok(()) => json(serde_json::json!({"ok": true})),
                Err(_) => json(serde_json::json!({"ok": false, "stuck": true})),
            }
        }
    })
    .await;
    let h = Harness::start(
        &primary.url(),
        &candidate.url(),
        "order_by = \"connection\"",
    )
    .await;
    let other = reqwest::Client::new();
    h.send(reqwest::Method::GET, "/api/first", "shared", "")
        .await;
    let resp = other
        .get(h.url("/api/second"))
        .header("authorization", "Bearer shared")
        .send()
        .await
        .expect("proxy answers");
    assert_eq!(resp.status(), 200);
    let seen = h.exchanges(2).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].identity, seen[1].identity, "one identity label");
    let (_, aggregate, _) = h.stop().await;
    assert_eq!(
        totals(&aggregate),
        (2, 0),
        "the first copy did not hold up the second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_identity_queue_drops_and_counts() {
    let primary = upstream(|_| async { json(serde_json::json!({"ok": true})) }).await;
    let (release, released) = tokio::sync::watch::channel(false);
    let candidate = upstream(move |_| {
        let mut released = released.clone();
        async move {
            let _ = tokio::time::timeout(Duration::from_secs(20), released.wait_for(|r| *r)).await;
            json(serde_json::json!({"ok": true}))
        }
    })
    .await;
    let h = Harness::start(
        &primary.url(),
        &candidate.url(),
        "max_queued_per_identity = 2",
    )
    .await;
    // One copy in flight at the candidate, one waiting behind it, three refused.
    for _ in 0..5 {
        h.send(reqwest::Method::GET, "/api/x", "user-a", "").await;
    }
    // Another identity still gets its copy.
    h.send(reqwest::Method::GET, "/api/x", "user-b", "").await;
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(
            "cutover_not_mirrored_total{route=\"/api/**\",reason=\"identity_queue_full\"} 3"
        ),
        "{metrics}"
    );
    let _ = release.send(true);
    let seen = h.exchanges(3).await;
    assert_eq!(seen.len(), 3);
    let (summary, aggregate, config) = h.stop().await;
    let api = summary
        .routes
        .iter()
        .find(|r| r.route == "/api/**")
        .expect("route");
    assert_eq!(api.mirrored, 3);
    assert_eq!(api.not_mirrored.get("identity_queue_full"), Some(&3));
    let text = cutover::proxy::render_summary(&config, &summary, &aggregate);
    assert!(text.contains("identity_queue_full=3"), "{text}");
    assert_eq!(totals(&aggregate), (3, 0));
}
