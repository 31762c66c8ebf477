//! The mirroring proxy: a *source* of [`Exchange`](crate::exchange::Exchange)s.
//!
//! Owns the client-facing listener, the bounded shadow work and the admin listener; every
//! upstream request (primary, shadows, mirror-target calls) goes through
//! [`crate::upstream`] (targets, pools, TLS, HTTP/2, `call`), observed by the proxy's
//! metrics. Every request goes to the primary and its answer streams back
//! unchanged; requests matching a route are also sent, concurrently, to the route's
//! candidate (and the secondary), and become one exchange handed to
//! [`PipelineHandle::submit`]. The proxy never compares bodies, never formats reports and
//! never waits on the pipeline; the caller owns the pipeline and finishes it after
//! [`RunningProxy::shutdown`].
//!
//! Bounds: a mirrored request holds shadow permits (`max_in_flight_shadows`) from the
//! decision until its exchange is submitted, i.e. until every shadow answered or timed out
//! *and* the primary's body ended (a long SSE stream keeps its permits). Each capture keeps
//! at most `max_body_bytes` (a shadow body past the cap is drained only when the rest is
//! small, otherwise its connection is closed), and every captured byte is reserved in one
//! budget, `max_shadow_memory_bytes`, until its exchange has been analysed and recorded
//! ([`budget`]): a capture that does not fit is abandoned and its exchange dropped and
//! counted (`cutover_exchanges_dropped_total{reason="shadow_memory"}`) rather than
//! analysed with a cut body that would read as a difference. The budget itself lives in
//! [`crate::upstream::budget`] (any caller of `upstream::call` may use one). Connections
//! to each shadow origin are capped: [`shadow_conns`].
//!
//! Order: one client identity's shadow copies reach each target in arrival order ([`order`]).
//!
//! Connections: at most `max_connections` client connections are open at once across all
//! workers (default derived from `RLIMIT_NOFILE`, raised to its hard limit at start, with
//! descriptors reserved for upstream connections, shadow copies and the admin listener);
//! more are answered `503` and closed at once ([`limits`]). A request head must arrive
//! within `header_read_timeout_ms` (else `408` and close), and a keep-alive connection
//! with no request in flight is closed after `idle_timeout_ms` (`conn.rs`). CONNECT, a bad
//! `Host`, and protocol upgrades (tunnelled to the primary, never mirrored) are handled in
//! `edge.rs`. A client that leaves before the primary answers makes the exchange
//! `client_aborted`: analysed as not compared, never as a mismatch ([`drops`]).
//!
//! Threads: the client listener runs on N worker threads (one per core), each a
//! current-thread runtime accepting on its duplicate of one shared listening socket, with
//! its own accept loop and its own share of every upstream pool: a client connection, its
//! upstream connections and its shadow tasks all live on one thread. [`Shared`] (config,
//! counters, shadow permits, pipeline handle) is shared by all of them. The admin listener
//! runs on the caller's runtime.
//!
//! Two modes:
//! - **inline** (default): clients (or the ingress) talk to cutover, which answers with
//!   the primary's response.
//! - **mirror-target**: cutover is the target of NGINX's `mirror` directive (or an Istio
//!   mirror). It answers `204` at once and calls primary, secondary and candidate itself,
//!   under the same bounds. The primary is then called twice (once by NGINX, once by
//!   cutover), so keep `mirror_writes = false` unless writes are idempotent. NGINX:
//!
//! ```nginx
//! location / {
//!     mirror /_cutover;
//!     mirror_request_body on;
//!     proxy_pass http://monolith;
//! }
//! location = /_cutover {
//!     internal;
//!     proxy_pass http://127.0.0.1:8080$request_uri;   # cutover, mode = "mirror-target"
//!     proxy_set_header Host $host;
//!     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
//!     proxy_pass_request_body on;
//!     proxy_connect_timeout 200ms;
//!     proxy_read_timeout 1s;
//! }
//! ```

pub mod admin;
mod build;
pub mod capture;
mod conn;
pub mod drops;
mod edge;
mod handler;
pub mod learn;
pub mod limits;
pub mod logs;
pub mod metrics;
mod mirror_target;
mod observed;
pub mod order;
mod shadow;
pub mod shadow_conns;
pub mod translate;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use http::{HeaderMap, Method, header};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, ProxyMode, Route};
use crate::exchange::Exchange;
use crate::identity::configured::ConfiguredIdentities;
use crate::pipeline::{Aggregate, PipelineHandle, PipelineStats};
use crate::upstream::{Target, budget, forward};
use metrics::{Metrics, NotMirrored};
use worker::{Worker, bind_listener, worker_count};

use drops::ClientAborts;
use drops::summary;
pub use drops::{ProxySummary, RouteSummary, render_summary};
use limits::{ADMIN_MAX_CONNECTIONS, ConnLimits, ConnStats};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The OS error is part of the message (and not a `source`), so a `{:#}` chain prints
    /// it once.
    #[error(
        "cannot listen on {addr} for the {what} (`[proxy] {key}`): {error}; is another process using the port? change `[proxy] {key}` or stop it"
    )]
    Bind {
        what: &'static str,
        key: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{0}")]
    Target(String),
}

/// State shared by the listener, every request and the admin listener.
pub struct Shared {
    mode: ProxyMode,
    routes: Vec<Route>,
    /// The candidate target of each route, by route index (`None`: the route is mirrored
    /// to the secondary alone, an A/A check).
    route_candidates: Vec<Option<Target>>,
    primary: Target,
    secondary: Option<Target>,
    shadows: Arc<Semaphore>,
    max_shadows: usize,
    max_body: usize,
    /// Bytes held by captures and by their exchanges until analysed
    /// (`max_shadow_memory_bytes`).
    pub memory: Arc<budget::MemoryBudget>,
    /// After a client disconnects, how long the primary's remaining body may take.
    drain_limit: Duration,
    pub metrics: Metrics,
    /// Taken at shutdown so that late shadow tasks cannot keep the pipeline open.
    pipeline: RwLock<Option<PipelineHandle>>,
    next_id: AtomicU64,
    /// Arrival sequence numbers (`Exchange::seq`).
    next_seq: AtomicU64,
    late: AtomicU64,
    /// Client connections of the proxy listener (all workers).
    pub conns: Arc<ConnStats>,
    /// Connections of the admin listener.
    pub admin_conns: Arc<ConnStats>,
    conn_limits: ConnLimits,
    /// Request header fields accepted per HTTP/1 request.
    max_headers: usize,
    /// Mirrored exchanges whose client left before the primary answered, per route.
    pub drops: ClientAborts,
    /// The pipeline's counters (queue drops) for the shutdown summary.
    pipeline_stats: Arc<PipelineStats>,
    /// Rate limits and redaction of log lines.
    pub logs: logs::ProxyLogs,
    /// How a request's client identity is read (`[identity]`).
    identity: crate::identity::IdentityRules,
    /// Per-identity queues of shadow copies (`None` when `[identity] ordered = false`).
    order: Option<Arc<order::ShadowOrder>>,
    /// The shadow targets' connection caps, for `/metrics` and the summary.
    pub shadow_conns: shadow_conns::ShadowConns,
    /// Learned per-target credentials and ids (`None` when `[translate] enabled = false`).
    learning: Option<Arc<learn::Learning>>,
}

impl Shared {
    /// The first route whose pattern matches `path`.
    fn route_index(&self, path: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.matches(path))
    }

    /// Should this request be mirrored? On yes, a permit for `base + secondary` shadow calls.
    fn decide(
        &self,
        route: Option<usize>,
        method: &Method,
        headers: &HeaderMap,
        base: u32,
    ) -> Result<(usize, OwnedSemaphorePermit), NotMirrored> {
        let Some((r, cfg)) = route.and_then(|r| self.routes.get(r).map(|c| (r, c))) else {
            return Err(NotMirrored::SampledOut);
        };
        if headers.contains_key(forward::SHADOW_HEADER) {
            return Err(NotMirrored::ShadowCopy);
        }
        if !cfg.mirrors_method(method.as_str()) {
            return Err(NotMirrored::Method);
        }
        if cfg.sample < 1.0 && fastrand::f64() >= cfg.sample {
            return Err(NotMirrored::SampledOut);
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(NotMirrored::BodyTooLarge);
        }
        // `base` counts the candidate; a route without one mirrors to the secondary alone.
        let permits =
            base - u32::from(cfg.candidate.is_none()) + u32::from(self.secondary.is_some());
        match Arc::clone(&self.shadows).try_acquire_many_owned(permits) {
            Ok(p) => Ok((r, p)),
            Err(_) => Err(NotMirrored::Capacity),
        }
    }

    /// Hand a mirrored exchange of route `route` to the pipeline (logged at debug; its
    /// shadows' failures, and a drop, rate-limited at warn).
    fn submit(&self, exchange: Exchange, route: usize) {
        self.logs.submitted(self, &exchange, route);
        let o = &exchange.outcomes;
        if shadow_conns::capped(o) {
            // Not analysed: a copy was never sent (a capacity drop, not a timeout).
            let n = self.metrics.dropped_shadow_connections();
            return self.logs.connection_drop(n, self.shadow_conns.max());
        }
        let over = [Some(&o.primary), o.candidate.as_ref(), o.secondary.as_ref()]
            .into_iter()
            .flatten()
            .any(|o| budget::is_over_budget(&o.result));
        if over {
            // Not analysed: a capture cut for lack of memory would read as a difference.
            self.metrics.dropped_shadow_memory();
            self.logs
                .memory_drop(self.metrics.dropped_for_memory(), self.memory.limit());
            return;
        }
        let guard = match self.pipeline.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.as_ref() {
            Some(handle) => {
                if !handle.submit(exchange) {
                    self.logs.queue_drop(&self.pipeline_stats);
                }
            }
            None => {
                self.late.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Deadlines and cap of the admin listener's connections.
    fn admin_limits(&self) -> ConnLimits {
        ConnLimits {
            max: ADMIN_MAX_CONNECTIONS,
            ..self.conn_limits
        }
    }

    /// Prometheus families for connections (proxy and admin listeners) and client aborts.
    pub fn render_connections(&self, out: &mut String) {
        self.conns.render(out, "proxy");
        self.admin_conns.render(out, "admin");
        self.drops.render(out, self.metrics.route_names());
        if let Some(l) = &self.learning {
            l.counters.render(out, self.metrics.route_names());
        }
    }

    /// Shadow permits currently held.
    pub fn shadows_in_flight(&self) -> usize {
        self.max_shadows
            .saturating_sub(self.shadows.available_permits())
    }
}

/// A running proxy. Call [`RunningProxy::shutdown`] to stop it gracefully.
pub struct RunningProxy {
    pub listen: SocketAddr,
    pub admin: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    workers: Vec<Worker>,
    admin_task: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    grace: Duration,
}

impl RunningProxy {
    /// Stop accepting, let in-flight client requests finish, give shadows
    /// `shutdown_grace_ms`, then release the pipeline handle. Does not finish the pipeline:
    /// the caller does (`Pipeline::finish`), then flushes its sinks.
    pub async fn shutdown(mut self) -> ProxySummary {
        let _ = self.stop.send(true);
        for w in &mut self.workers {
            let _ = (&mut w.served).await;
        }
        let all = u32::try_from(self.shared.max_shadows).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(self.grace, self.shared.shadows.acquire_many(all)).await;
        let unfinished = self.shared.shadows_in_flight();
        if let Ok(mut guard) = self.shared.pipeline.write() {
            guard.take();
        }
        // Shadows past the grace period end with their worker's runtime.
        for w in self.workers {
            w.join().await;
        }
        if let Some(admin) = self.admin_task {
            let _ = admin.await;
        }
        summary(&self.shared, unfinished)
    }

    /// Shadow requests running now (the demo waits for zero between requests).
    pub fn shadows_in_flight(&self) -> usize {
        self.shared.shadows_in_flight()
    }

    /// The shadow memory budget: bytes held now, peak, limit, drops.
    pub fn shadow_memory(&self) -> &budget::MemoryBudget {
        &self.shared.memory
    }

    /// Counters so far.
    pub fn summary(&self) -> ProxySummary {
        summary(&self.shared, self.shared.shadows_in_flight())
    }
}

/// Bind the listeners and start serving. Exchanges go to `handle`; `/metrics` reads
/// `aggregate` and `stats`.
pub async fn start(
    config: Arc<Config>,
    handle: PipelineHandle,
    aggregate: Arc<Mutex<Aggregate>>,
    stats: Arc<PipelineStats>,
) -> Result<RunningProxy, ProxyError> {
    start_with(config, handle, aggregate, stats, None).await
}

/// [`start`] with the `[[identities]]` credentials established before it (by the caller,
/// which runs their login scenarios): shadow copies fall back to them.
pub async fn start_with(
    config: Arc<Config>,
    handle: PipelineHandle,
    aggregate: Arc<Mutex<Aggregate>>,
    stats: Arc<PipelineStats>,
    configured: Option<Arc<ConfiguredIdentities>>,
) -> Result<RunningProxy, ProxyError> {
    let p = &config.file.proxy;
    let workers = worker_count();
    let shared = Arc::new(build::shared(
        &config,
        handle,
        workers,
        Arc::clone(&stats),
        configured,
    )?);
    let grace = Duration::from_millis(p.shutdown_grace_ms);
    let (stop, stop_rx) = watch::channel(false);
    // One listening socket, shared by every worker (each accepts on a duplicate of it): a
    // port already taken is an error, and no other process can join the port.
    let listener = bind_listener(p.listen).map_err(|source| ProxyError::Bind {
        what: "proxy",
        key: "listen",
        addr: p.listen,
        error: source,
    })?;
    let listen = listener.local_addr().unwrap_or(p.listen);
    let mut started = Vec::with_capacity(workers);
    for index in 0..workers {
        let w = match listener.try_clone() {
            Ok(l) => Worker::spawn(index, l, &shared, stop_rx.clone(), grace).await,
            Err(e) => Err(e),
        };
        match w {
            Ok(w) => started.push(w),
            Err(source) => {
                // Started workers stop when `stop` is dropped; they must not keep the
                // pipeline open meanwhile.
                if let Ok(mut guard) = shared.pipeline.write() {
                    guard.take();
                }
                return Err(ProxyError::Bind {
                    what: "proxy",
                    key: "listen",
                    addr: listen,
                    error: source,
                });
            }
        }
    }
    drop(listener);
    let workers = started;
    let (admin, admin_task) = if p.admin_enabled {
        let l = TcpListener::bind(p.admin)
            .await
            .map_err(|source| ProxyError::Bind {
                what: "admin",
                key: "admin",
                addr: p.admin,
                error: source,
            })?;
        let addr = l.local_addr().unwrap_or(p.admin);
        let state = Arc::new(admin::AdminState {
            shared: Arc::clone(&shared),
            aggregate,
            stats,
        });
        let task = tokio::spawn(admin::serve(l, state, stop_rx.clone()));
        (Some(addr), Some(task))
    } else {
        (None, None)
    };
    shared.logs.startup(&config, listen, admin, workers.len());
    Ok(RunningProxy {
        listen,
        admin,
        stop,
        workers,
        admin_task,
        shared,
        grace,
    })
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
