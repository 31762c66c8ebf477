//! The admin listener: `/healthz` and `/metrics` (Prometheus text format).
//!
//! Owns its own small HTTP server on a separate address so scraping never competes with
//! proxied traffic for a connection. Reads counters; never changes proxy state.

use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::capture::ClientBody;
use super::{Shared, conn, stopped};
use crate::pipeline::{Aggregate, PipelineStats};

/// What `/metrics` reads.
pub struct AdminState {
    pub shared: Arc<Shared>,
    pub aggregate: Arc<Mutex<Aggregate>>,
    pub stats: Arc<PipelineStats>,
}

/// Serve until `stop` turns true.
/// Connections are capped ([`ADMIN_MAX_CONNECTIONS`](super::limits::ADMIN_MAX_CONNECTIONS),
/// within the descriptors the proxy listener leaves free) and closed after the same
/// header-read and idle deadlines as proxy connections, so `/healthz` keeps answering
/// while the proxy listener is saturated.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, mut stop: watch::Receiver<bool>) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    let limits = state.shared.admin_limits();
    let stats = Arc::clone(&state.shared.admin_conns);
    loop {
        let stream = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    stats.accept_error("admin listener", &e);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Some(slot) = stats.admit(limits.max) else {
            super::limits::refuse(stream);
            continue;
        };
        let state = Arc::clone(&state);
        let handle = move |req: Request<Incoming>| std::future::ready(route(&state, &req));
        conn::spawn(
            &builder,
            None,
            stream,
            limits,
            Arc::clone(&stats),
            slot,
            "admin",
            handle,
        );
    }
}

fn route(state: &AdminState, req: &Request<Incoming>) -> Response<ClientBody> {
    let (status, content_type, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "text/plain", "ok".to_string()),
        "/metrics" => {
            // Rendered under the lock, never cloned: the aggregate holds at most
            // `[grouping] max_routes` + 1 routes, so this is a bounded, short hold.
            let aggregate = match state.aggregate.lock() {
                Ok(a) => a,
                Err(poisoned) => poisoned.into_inner(),
            };
            let mut text = state.shared.metrics.render(
                &aggregate,
                &state.stats,
                state.shared.shadows_in_flight(),
            );
            drop(aggregate);
            state.shared.render_connections(&mut text);
            state.shared.memory.render(&mut text);
            state.shared.shadow_conns.render(&mut text);
            (StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /healthz or /metrics".to_string(),
        ),
    };
    let mut resp = Response::new(ClientBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}
