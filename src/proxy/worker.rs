//! The proxy's listener threads: one current-thread runtime per core, each accepting on a
//! duplicate of one shared listening socket and serving its connections with hyper, so a
//! client connection, its upstream connections and its shadow tasks stay on one thread.
//! Owns binding, the accept loop (with the connection cap and rate-limited accept-error
//! logging), graceful connection shutdown and joining the threads without blocking the
//! caller's runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::{Shared, conn, handler, limits, stopped};
use crate::upstream::forward::forwarded_for;
use crate::upstream::pool;

/// Listener threads: one per core.
pub(super) fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// One listener thread: a current-thread runtime serving its own listening socket.
pub(super) struct Worker {
    /// Resolves when the worker stopped accepting and its connections ended.
    pub(super) served: oneshot::Receiver<()>,
    /// Sent (or dropped) to end the worker's runtime; shadows run on it until then.
    release: oneshot::Sender<()>,
    /// Resolves when the worker's runtime has been dropped.
    done: oneshot::Receiver<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Worker {
    /// Start worker `index` accepting on (its duplicate of) the shared listening socket;
    /// returns once its runtime has taken the socket (or failed to).
    pub(super) async fn spawn(
        index: usize,
        listener: std::net::TcpListener,
        shared: &Arc<Shared>,
        stop: watch::Receiver<bool>,
        grace: Duration,
    ) -> std::io::Result<Worker> {
        let (bound_tx, bound) = oneshot::channel::<std::io::Result<()>>();
        let (served_tx, served) = oneshot::channel();
        let (release, release_rx) = oneshot::channel::<()>();
        let (done_tx, done) = oneshot::channel();
        let shared = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name(format!("cutover-proxy-{index}"))
            .spawn(move || {
                pool::set_worker(index);
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = bound_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = bound_tx.send(Ok(()));
                    serve(listener, shared, stop, grace).await;
                    let _ = served_tx.send(());
                    let _ = release_rx.await;
                });
                drop(rt);
                let _ = done_tx.send(());
            })?;
        match bound.await {
            Ok(Ok(())) => Ok(Worker {
                served,
                release,
                done,
                thread,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(std::io::Error::other("proxy worker thread failed")),
        }
    }

    /// End the worker's runtime and wait for its thread without blocking the caller's.
    pub(super) async fn join(self) {
        let _ = self.release.send(());
        let _ = self.done.await;
        let _ = self.thread.join();
    }
}

/// The proxy's listening socket (non-blocking, backlog 1024, `SO_REUSEADDR` as tokio sets
/// it: a restart need not wait for `TIME_WAIT`; a port in use is still an error).
pub(super) fn bind_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accept connections until `stop`, then let open connections finish (up to `grace`).
/// Connections beyond `max_connections` (counted across every worker) are refused at
/// once; each admitted one is served under the header-read and idle deadlines
/// ([`conn::spawn`]).
async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper's own header timeout closes without an answer; `conn` answers 408.
        .header_read_timeout(None)
        .max_headers(shared.max_headers);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = shared.conn_limits;
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning,
                    // and log a count once per interval instead of a line per failure.
                    shared.conns.accept_error("proxy listener", &e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Some(slot) = shared.conns.admit(limits.max) else {
            limits::refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler_shared = Arc::clone(&shared);
        let xff = forwarded_for(peer.ip());
        conn::spawn(
            &builder,
            Some(&graceful),
            stream,
            limits,
            Arc::clone(&shared.conns),
            slot,
            "proxy",
            move |req| handler::handle(Arc::clone(&handler_shared), peer, xff.clone(), req),
        );
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}
