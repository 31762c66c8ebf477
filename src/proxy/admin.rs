//! The admin listener: `/healthz` and `/metrics` (Prometheus text format).
//!
//! Owns its own small HTTP server on a separate address so scraping never competes with
//! proxied traffic for a connection. Reads counters; never changes proxy state.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::forward::ClientBody;
use super::{Shared, stopped};
use crate::pipeline::{Aggregate, PipelineStats};

/// What `/metrics` reads.
pub struct AdminState {
    pub shared: Arc<Shared>,
    pub aggregate: Arc<Mutex<Aggregate>>,
    pub stats: Arc<PipelineStats>,
}

/// Serve until `stop` turns true.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, mut stop: watch::Receiver<bool>) {
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let state = Arc::clone(&state);
        let svc = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(route(&state, &req)) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

fn route(state: &AdminState, req: &Request<Incoming>) -> Response<ClientBody> {
    let (status, content_type, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "text/plain", "ok".to_string()),
        "/metrics" => {
            let aggregate = match state.aggregate.lock() {
                Ok(a) => a.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            let mut text = state.shared.metrics.render(
                &aggregate,
                &state.stats,
                state.shared.shadows_in_flight(),
            );
            state.shared.memory.render(&mut text);
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
