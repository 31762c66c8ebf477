//! Keep-alive connections to one upstream origin.
//!
//! Owns the idle connections of one origin (scheme, `host:port` and TLS/protocol settings;
//! shared by every target with that origin). HTTP/1.1:
//! a request takes the most recently used idle connection or opens one, and the connection
//! goes back to the idle list only when its response body has been read to the end (a body
//! dropped early closes it). A connection is driven by its own task, as with any hyper
//! client; what this module saves over a general pooled client is the per-request work on
//! top of it: no boxed request future racing a connect, no extra task per response to watch
//! for idleness, no pool key to hash. A request on a reused connection that the upstream
//! closed before it was sent is retried once on a new connection. This module never
//! decides where a request goes: the origin is fixed when the target is configured.
//!
//! HTTP/2 (h2c by configuration, or h2 when ALPN picks it): one connection per origin and
//! worker is shared by all requests (multiplexed), not pooled per request; it is opened
//! once (concurrent first requests wait for it) and replaced when it closes. Requests on
//! it carry the target's scheme and authority (`:authority` replaces `Host`).
//!
//! The idle list is sharded by proxy worker thread (see [`set_worker`]): a worker only
//! reuses connections it opened, so a client connection, its upstream connection's task
//! and its shadow tasks all stay on one thread (no cross-thread wake-ups, no cross-thread
//! frees). Threads that are not workers use shard 0.
//!
//! A pool may carry a connection cap ([`ConnCap`], shadow targets only: the primary's pool
//! never has one): at most `max` HTTP/1.1 connections open at once, all workers together.
//! A request that finds no idle connection on its thread then takes one from any thread,
//! dials when the cap allows, or waits (until the deadline given to [`Pool::send_until`])
//! for a connection to come back or close. HTTP/2 is not capped (one connection per
//! worker).

use std::cell::Cell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use http::uri::{Authority, Scheme};
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::client::conn::http2;

use super::cap::{ConnCap, Slot};
use super::connect::{Conn, Dialer};
use super::forward::ForwardBody;

pub use super::connect::READ_BUF_MAX;

/// Idle connections unused for this long are closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an upstream request failed before a response head arrived.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("tcp connect error: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed (certificate not trusted, wrong name, no common protocol).
    #[error("tls handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("{0}")]
    Http(#[source] hyper::Error),
    /// The request could not be put into HTTP/2 form.
    #[error("cannot build the HTTP/2 request: {0}")]
    Request(#[source] http::Error),
    /// Every connection the cap allows was busy until the request's deadline: it was never
    /// sent (a capacity drop, not a failure of the target).
    #[error(
        "no free connection to the target before the deadline ({max} open, the cap: `[proxy] max_shadow_connections_per_target`)"
    )]
    ConnectionCap { max: usize },
}

struct Idle {
    tx: SendRequest<ForwardBody>,
    since: Instant,
}

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Mark the current thread as proxy worker `index`: its requests use that shard's idle
/// connections.
pub fn set_worker(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// The keep-alive connections of one origin.
pub struct Pool {
    /// How to open a connection (`host:port`, TLS, h2c).
    pub(super) dialer: Dialer,
    /// One idle list per worker thread (uncontended locks).
    idle: Box<[Mutex<VecDeque<Idle>>]>,
    /// The origin speaks HTTP/2 (h2c configured, or ALPN chose h2): requests go to `h2`.
    pub(super) h2_known: AtomicBool,
    /// One shared HTTP/2 connection per worker thread.
    pub(super) h2: Box<[tokio::sync::Mutex<Option<http2::SendRequest<ForwardBody>>>]>,
    /// For HTTP/2 requests' `:scheme` and `:authority`.
    pub(super) scheme: Scheme,
    pub(super) authority: Authority,
    /// At most this many HTTP/1.1 connections open at once (shadow targets).
    cap: Option<ConnCap>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("addr", &self.dialer.addr)
            .field("tls", &self.dialer.tls.is_some())
            .finish()
    }
}

impl Pool {
    /// A pool with one idle list per worker (`workers` ≥ 1) and, with `cap`, at most that
    /// many HTTP/1.1 connections open at once.
    pub(super) fn new(
        dialer: Dialer,
        scheme: Scheme,
        authority: Authority,
        workers: usize,
        cap: Option<usize>,
    ) -> Arc<Pool> {
        let workers = workers.max(1);
        Arc::new(Pool {
            h2_known: AtomicBool::new(dialer.h2c),
            dialer,
            idle: (0..workers).map(|_| Mutex::new(VecDeque::new())).collect(),
            h2: (0..workers)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            scheme,
            authority,
            cap: cap.map(ConnCap::new),
        })
    }

    /// The connection cap's counters (`None`: not capped).
    pub fn cap_stats(&self) -> Option<super::cap::CapStats> {
        self.cap.as_ref().map(ConnCap::stats)
    }

    /// The `host:port` this pool connects to.
    pub fn addr(&self) -> &str {
        &self.dialer.addr
    }

    /// A new HTTP/1.1 connection (over TLS for an https origin) whose task allows a
    /// protocol upgrade; never pooled.
    pub async fn connect_upgradable(&self) -> Result<SendRequest<ForwardBody>, UpstreamError> {
        self.dialer.dial_upgradable().await
    }

    pub(super) fn worker(&self) -> usize {
        WORKER.with(Cell::get) % self.idle.len()
    }

    /// This thread's idle list.
    fn shard(&self) -> &Mutex<VecDeque<Idle>> {
        &self.idle[self.worker()]
    }

    /// Send `req` (origin-form URI, `Host` set) and return the response head; its body
    /// hands the connection back when read to the end.
    /// (Not `async`: the returned future is `send_until`'s, with no second copy of the
    /// request in a wrapper's state.)
    pub fn send(
        self: &Arc<Self>,
        req: Request<ForwardBody>,
    ) -> impl Future<Output = Result<Response<UpstreamBody>, UpstreamError>> + Send + '_ {
        self.send_until(req, None)
    }

    /// [`Pool::send`]; on a capped pool whose connections are all busy, wait for one until
    /// `deadline`, then fail with [`UpstreamError::ConnectionCap`].
    pub async fn send_until(
        self: &Arc<Self>,
        mut req: Request<ForwardBody>,
        deadline: Option<Instant>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        // Boxed (HTTP/2 only): its state would otherwise sit in every HTTP/1.1 request's
        // future too.
        if self.h2_known.load(Ordering::Relaxed) {
            return Box::pin(self.send_h2(req, None)).await;
        }
        loop {
            let permit = match (self.checkout(), &self.cap) {
                (Some(tx), _) => Ok(tx),
                (None, None) => Err(None),
                (None, Some(cap)) => match cap.try_dial() {
                    Some(p) => Err(Some(p)),
                    // Boxed: only a saturated capped pool waits.
                    None => match Box::pin(cap.wait(|| self.checkout_any(), deadline)).await? {
                        Slot::Idle(tx) => Ok(tx),
                        Slot::Dial(p) => Err(Some(p)),
                    },
                },
            };
            let (mut tx, reused) = match permit {
                Ok(tx) => (tx, true),
                // Boxed: the connect state is large and rarely needed; every request
                // future (and every in-flight shadow task) would carry it otherwise.
                Err(permit) => match Box::pin(self.dialer.dial(permit)).await? {
                    Conn::H1(tx) => (tx, false),
                    // ALPN chose HTTP/2: from now on this origin's requests share it.
                    Conn::H2(tx) => {
                        self.h2_known.store(true, Ordering::Relaxed);
                        return Box::pin(self.send_h2(req, Some(tx))).await;
                    }
                },
            };
            if reused && tx.ready().await.is_err() {
                continue; // closed while idle: try the next one
            }
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = UpstreamBody {
                        inner: body,
                        conn: Some((tx, Arc::clone(self))),
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    // Not sent: the idle connection was closed under us. Retry.
                    Some(r) if reused => req = r,
                    _ => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
    }

    fn checkout(&self) -> Option<SendRequest<ForwardBody>> {
        take_idle(self.shard())
    }

    /// An idle connection from this thread's list, else from any other thread's.
    fn checkout_any(&self) -> Option<SendRequest<ForwardBody>> {
        let own = self.worker();
        self.checkout().or_else(|| {
            (0..self.idle.len())
                .filter(|i| *i != own)
                .find_map(|i| take_idle(&self.idle[i]))
        })
    }

    fn checkin(&self, tx: SendRequest<ForwardBody>) {
        if tx.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(self.shard());
        while idle
            .front()
            .is_some_and(|c| now.duration_since(c.since) >= IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        idle.push_back(Idle { tx, since: now });
        drop(idle);
        if let Some(cap) = &self.cap {
            cap.freed();
        }
    }
}

/// The most recently used live connection of `list`; stale ones found on the way are
/// dropped (closing them, which frees their cap permits).
fn take_idle(list: &Mutex<VecDeque<Idle>>) -> Option<SendRequest<ForwardBody>> {
    let mut idle = lock(list);
    while let Some(c) = idle.pop_back() {
        if !c.tx.is_closed() && c.since.elapsed() < IDLE_TIMEOUT {
            return Some(c.tx);
        }
    }
    None
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// An upstream response body. When it has been read to the end its connection goes back
/// to the pool; dropped earlier, the connection is closed.
pub struct UpstreamBody {
    pub(super) inner: Incoming,
    pub(super) conn: Option<(SendRequest<ForwardBody>, Arc<Pool>)>,
}

impl UpstreamBody {
    /// The body of a response on a connection that is not pooled (an upgrade attempt).
    pub fn unpooled(inner: Incoming) -> UpstreamBody {
        UpstreamBody { inner, conn: None }
    }

    fn release(&mut self) {
        if let Some((tx, pool)) = self.conn.take() {
            pool.checkin(tx);
        }
    }
}

impl Body for UpstreamBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.conn = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // An empty body is never polled: it is complete all the same.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP/1.1 request future stays as small as before HTTP/2 and TLS existed: their
    /// states are boxed, only entered when needed.
    #[test]
    fn the_send_future_carries_no_http2_or_tls_state() {
        let dialer = Dialer {
            addr: "127.0.0.1:9".into(),
            tls: None,
            h2c: false,
        };
        let pool = Pool::new(
            dialer,
            Scheme::HTTP,
            Authority::from_static("127.0.0.1:9"),
            1,
            Some(4),
        );
        let fut = pool.send(Request::new(ForwardBody::full(bytes::Bytes::new())));
        let size = std::mem::size_of_val(&fut);
        eprintln!("send future: {size} bytes");
        assert!(size <= 1024, "send future is {size} bytes");
    }
}
