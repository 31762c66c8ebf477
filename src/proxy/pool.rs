//! Keep-alive HTTP/1.1 connections to one upstream origin.
//!
//! Owns the idle connections of one `host:port` (shared by every target with that origin):
//! a request takes the most recently used idle connection or opens one, and the connection
//! goes back to the idle list only when its response body has been read to the end (a body
//! dropped early closes it). A connection is driven by its own task, as with any hyper
//! client; what this module saves over a general pooled client is the per-request work on
//! top of it: no boxed request future racing a connect, no extra task per response to watch
//! for idleness, no pool key to hash. A request on a reused connection that the upstream
//! closed before it was sent is retried once on a new connection. This module never
//! decides where a request goes: the origin is fixed when the target is configured.
//!
//! The idle list is sharded by proxy worker thread (see [`set_worker`]): a worker only
//! reuses connections it opened, so a client connection, its upstream connection's task
//! and its shadow tasks all stay on one thread (no cross-thread wake-ups, no cross-thread
//! frees). Threads that are not workers use shard 0.

use std::cell::Cell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::forward::ForwardBody;

/// Idle connections unused for this long are closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most a connection's read buffer grows to (hyper's default is ~400 kB). A target
/// streaming a large or endless body fills its connection's buffer at once: with up to
/// `max_in_flight_shadows` such connections this bound, not the target, sets the memory
/// (and it caps a response head at this size, far above what origins send).
const READ_BUF_MAX: usize = 64 * 1024;
/// TCP keep-alive probes start after this much silence.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Why an upstream request failed before a response head arrived.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("tcp connect error: {0}")]
    Connect(#[source] std::io::Error),
    #[error("{0}")]
    Http(#[source] hyper::Error),
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
    /// `host:port` to connect to.
    addr: String,
    /// One idle list per worker thread (uncontended locks).
    idle: Box<[Mutex<VecDeque<Idle>>]>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("addr", &self.addr).finish()
    }
}

impl Pool {
    /// A pool with one idle list per worker (`workers` ≥ 1).
    pub fn new(addr: &str, workers: usize) -> Arc<Pool> {
        Arc::new(Pool {
            addr: addr.to_string(),
            idle: (0..workers.max(1))
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
        })
    }

    /// The `host:port` this pool connects to (for connections that never return to it).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// This thread's idle list.
    fn shard(&self) -> &Mutex<VecDeque<Idle>> {
        let i = WORKER.with(Cell::get);
        &self.idle[i % self.idle.len()]
    }

    /// Send `req` (origin-form URI, `Host` set) and return the response head; its body
    /// hands the connection back when read to the end.
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<ForwardBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        loop {
            let (mut tx, reused) = match self.checkout() {
                Some(tx) => (tx, true),
                // Boxed: the connect state is large and rarely needed; every request
                // future (and every in-flight shadow task) would carry it otherwise.
                None => (Box::pin(self.connect()).await?, false),
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
        let mut idle = lock(self.shard());
        while let Some(c) = idle.pop_back() {
            if !c.tx.is_closed() && c.since.elapsed() < IDLE_TIMEOUT {
                return Some(c.tx);
            }
        }
        None
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
    }

    async fn connect(&self) -> Result<SendRequest<ForwardBody>, UpstreamError> {
        let stream = TcpStream::connect(self.addr.as_str())
            .await
            .map_err(UpstreamError::Connect)?;
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        let (tx, conn) = http1::Builder::new()
            .max_buf_size(READ_BUF_MAX)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("upstream connection: {e}");
            }
        });
        Ok(tx)
    }
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
    inner: Incoming,
    conn: Option<(SendRequest<ForwardBody>, Arc<Pool>)>,
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
