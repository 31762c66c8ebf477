//! One client connection's life: header read timeout (answered `408`), idle keep-alive
//! timeout, and the request-in-flight bookkeeping both need.
//!
//! Owns the per-connection [`Watch`] (what the connection is doing: reading a request head,
//! serving requests, idle), the IO wrapper that notices the first byte of a request head,
//! the body wrapper that notices when a response is done, and the task that drives hyper's
//! connection under those deadlines. hyper's own `header_read_timeout` is not used: it
//! closes without an answer, and hyper-util's protocol detection (HTTP/1 or h2c) waits
//! for the first bytes with no deadline at all, so a silent connection would stay open
//! forever. The deadlines here are checked lazily: the hot path only stores timestamps;
//! one timer per connection wakes at the earliest possible deadline and re-arms.
//! This module never looks at what a request asks for and never counts beyond its
//! [`ConnStats`].

use std::convert::Infallible;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::limits::{ConnLimits, ConnStats, Slot};

/// Sent to a client that did not finish its request head in time (RFC 9110 §15.5.9).
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\
content-type: text/plain\r\ncontent-length: 36\r\n\r\nno complete request head arrived in time";

/// `head_at` when no request head is being read.
const NONE: u64 = u64::MAX;

/// What one connection is doing, shared by its IO, its requests and its driver task.
struct Watch {
    accepted: Instant,
    /// Requests whose response has not been sent completely.
    in_flight: AtomicU32,
    /// Requests received so far.
    requests: AtomicU64,
    /// When the first byte of the request head being read arrived (ms since `accepted`).
    head_at: AtomicU64,
    /// When the last response finished (ms since `accepted`).
    idle_at: AtomicU64,
    /// Whether the first bytes were the HTTP/2 preface (no `408` then: not HTTP/1).
    h2: AtomicBool,
    read_any: AtomicBool,
    /// Set before the connection is dropped on a header timeout: the IO then hands its
    /// socket back through `socket` so that the `408` can be written.
    reclaim: AtomicBool,
    socket: Mutex<Option<TcpStream>>,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            head_at: AtomicU64::new(NONE),
            idle_at: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            read_any: AtomicBool::new(false),
            reclaim: AtomicBool::new(false),
            socket: Mutex::new(None),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.accepted + Duration::from_millis(ms)
    }

    /// Bytes arrived from the client.
    fn on_read(&self, bytes: &[u8]) {
        if !self.read_any.load(Ordering::Relaxed) {
            self.read_any.store(true, Ordering::Relaxed);
            self.h2.store(bytes.starts_with(b"PRI "), Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_at.load(Ordering::Relaxed) == NONE
        {
            self.head_at.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// What to do when the timer fires.
    fn check(&self, limits: &ConnLimits) -> Check {
        let now = Instant::now();
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // Requests in flight are bounded by the targets' timeouts; look again later.
            return Check::Wait(now + limits.idle);
        }
        let h2 = self.h2.load(Ordering::Relaxed);
        let requests = self.requests.load(Ordering::Relaxed);
        let head = self.head_at.load(Ordering::Relaxed);
        let head_deadline = if h2 {
            None
        } else if head != NONE {
            Some(self.at(head) + limits.header_read)
        } else if requests == 0 {
            Some(self.accepted + limits.header_read)
        } else {
            None
        };
        if let Some(deadline) = head_deadline {
            return if now >= deadline {
                Check::HeaderTimeout
            } else {
                Check::Wait(deadline)
            };
        }
        let since = if requests == 0 {
            0
        } else {
            self.idle_at.load(Ordering::Relaxed)
        };
        let deadline = self.at(since) + limits.idle;
        if now >= deadline {
            Check::Idle
        } else {
            Check::Wait(deadline)
        }
    }
}

enum Check {
    Wait(Instant),
    HeaderTimeout,
    Idle,
}

/// A request being served: created when hyper hands the request over, dropped when the
/// response body is done (or the request's future is dropped).
struct InFlight(Arc<Watch>);

impl InFlight {
    fn new(watch: &Arc<Watch>) -> InFlight {
        watch.in_flight.fetch_add(1, Ordering::Relaxed);
        watch.requests.fetch_add(1, Ordering::Relaxed);
        watch.head_at.store(NONE, Ordering::Relaxed);
        InFlight(Arc::clone(watch))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let w = &self.0;
        if w.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            w.idle_at.store(w.now_ms(), Ordering::Relaxed);
            w.head_at.store(NONE, Ordering::Relaxed);
        }
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
pub struct Tracked<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client socket as hyper sees it: reads are noticed by the [`Watch`].
struct WatchedStream {
    stream: Option<TcpStream>,
    watch: Arc<Watch>,
}

impl WatchedStream {
    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

impl Drop for WatchedStream {
    fn drop(&mut self) {
        if self.watch.reclaim.load(Ordering::Relaxed) {
            if let Ok(mut slot) = self.watch.socket.lock() {
                *slot = self.stream.take();
            }
        }
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(this.stream()?).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.on_read(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self.get_mut().stream()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self.get_mut().stream()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_shutdown(cx)
    }
}

/// How a connection ended.
enum End<E> {
    Served(Result<(), E>),
    HeaderTimeout,
    Idle,
}

/// Serve one accepted client connection on its own task under `limits`; `slot` (the
/// connection's place under `max_connections`) is released when it ends.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn<F, Fut, B>(
    builder: &Builder<TokioExecutor>,
    graceful: Option<&GracefulShutdown>,
    stream: TcpStream,
    limits: ConnLimits,
    stats: Arc<ConnStats>,
    slot: Slot,
    what: &'static str,
    handle: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let watch = Arc::new(Watch::new());
    let io = WatchedStream {
        stream: Some(stream),
        watch: Arc::clone(&watch),
    };
    let requests = Arc::clone(&watch);
    let svc = service_fn(move |req| {
        let in_flight = InFlight::new(&requests);
        // A combinator, not an `async` block: the block would keep the handler's future
        // twice (captured, then moved to be awaited) and copy it on its first poll.
        handle(req).map(move |resp| {
            Ok::<_, Infallible>(resp.map(|inner| Tracked {
                inner,
                _in_flight: in_flight,
            }))
        })
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .into_owned();
    match graceful {
        Some(g) => tokio::spawn(finish(
            drive(g.watch(conn), watch, limits),
            stats,
            slot,
            what,
        )),
        None => tokio::spawn(finish(drive(conn, watch, limits), stats, slot, what)),
    };
}

/// Wait for the connection to end, count how, and release its slot.
async fn finish(
    ended: impl Future<Output = Ended>,
    stats: Arc<ConnStats>,
    slot: Slot,
    what: &'static str,
) {
    match ended.await {
        Ended::HeaderTimeout => {
            stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        Ended::Idle => {
            stats.idle_closed.fetch_add(1, Ordering::Relaxed);
        }
        Ended::Error(e) => tracing::debug!("{what} connection: {e}"),
        Ended::Ok => {}
    }
    drop(slot);
}

/// How a connection ended, without the connection's error type.
enum Ended {
    Ok,
    Error(String),
    HeaderTimeout,
    Idle,
}

/// Drive hyper's connection until it ends or a deadline passes; on a header timeout answer
/// `408` on the bare socket (HTTP/1 only) before closing it.
async fn drive<C, E>(conn: C, watch: Arc<Watch>, limits: ConnLimits) -> Ended
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let end = run(conn, &watch, &limits).await;
    match end {
        End::Served(Ok(())) => Ended::Ok,
        End::Served(Err(e)) => Ended::Error(e.to_string()),
        End::Idle => Ended::Idle,
        End::HeaderTimeout => {
            let socket = watch.socket.lock().ok().and_then(|mut s| s.take());
            if let Some(mut socket) = socket {
                if !watch.h2.load(Ordering::Relaxed) {
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        socket.write_all(REQUEST_TIMEOUT).await?;
                        socket.shutdown().await
                    })
                    .await;
                }
            }
            Ended::HeaderTimeout
        }
    }
}

/// Poll the connection until it ends or the watch says a deadline passed. The connection
/// (and with it the socket, reclaimed on a header timeout) is dropped on return.
async fn run<C, E>(conn: C, watch: &Watch, limits: &ConnLimits) -> End<E>
where
    C: Future<Output = Result<(), E>>,
{
    // Any change of state (a request starting or ending, a head's first byte) sets a
    // deadline at least `step` later, so a timer that never sleeps longer than `step`
    // wakes no later than the earliest deadline.
    let step = limits.header_read.min(limits.idle);
    tokio::pin!(conn);
    let timer = tokio::time::sleep_until((watch.accepted + step).into());
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            served = &mut conn => return End::Served(served),
            () = &mut timer => match watch.check(limits) {
                Check::Wait(at) => timer.as_mut().reset(at.min(Instant::now() + step).into()),
                Check::HeaderTimeout => {
                    watch.reclaim.store(true, Ordering::Relaxed);
                    return End::HeaderTimeout;
                }
                Check::Idle => return End::Idle,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(header_read: Duration, idle: Duration) -> ConnLimits {
        ConnLimits {
            header_read,
            idle,
            max: 1,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_silent_or_partial_head_times_out_but_not_a_request_in_flight() {
        let now_expired = limits(Duration::ZERO, HOUR);
        let w = Arc::new(Watch::new());
        assert!(matches!(w.check(&now_expired), Check::HeaderTimeout));
        w.on_read(b"GET / HTTP/1.1\r\n");
        assert!(matches!(w.check(&now_expired), Check::HeaderTimeout));
        let request = InFlight::new(&w);
        assert!(matches!(w.check(&now_expired), Check::Wait(_)));
        drop(request);
        // Idle after a response: the idle deadline applies, not the header one.
        assert!(matches!(w.check(&now_expired), Check::Wait(_)));
        w.on_read(b"GET /next");
        assert!(matches!(w.check(&now_expired), Check::HeaderTimeout));
    }

    #[test]
    fn an_idle_connection_closes_after_its_last_response() {
        let idle_expired = limits(HOUR, Duration::ZERO);
        let w = Arc::new(Watch::new());
        // Before the first request the header deadline applies.
        assert!(matches!(w.check(&idle_expired), Check::Wait(_)));
        drop(InFlight::new(&w));
        assert!(matches!(w.check(&idle_expired), Check::Idle));
    }

    #[test]
    fn h2_connections_get_no_408_only_the_idle_timeout() {
        let w = Arc::new(Watch::new());
        w.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert!(matches!(
            w.check(&limits(Duration::ZERO, HOUR)),
            Check::Wait(_)
        ));
        assert!(matches!(
            w.check(&limits(HOUR, Duration::ZERO)),
            Check::Idle
        ));
    }
}
