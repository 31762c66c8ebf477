//! The request handler: the hot path.
//!
//! Per request it does as little as possible: route lookup and the mirroring decision,
//! header hygiene, spawning one task for the shadow work, and streaming the primary's
//! answer back. It never compares bodies, never waits on a shadow, and never blocks on the
//! pipeline (submission is a non-blocking `try_send`). Requests at the edges of HTTP
//! (CONNECT, bad Host, upgrades) are left to [`super::edge`].
//!
//! A client that goes away before the primary's answer is complete makes hyper drop this
//! handler's future; the primary's outcome is then reported to the shadow task as
//! [`FailureKind::ClientAborted`] (by [`PrimarySender`]'s `Drop`), so the exchange is
//! analysed as not compared instead of as a mismatch. A client leaving after the head is
//! different: the response body's tee drains the rest, and the outcome stays comparable.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::Utc;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::capture::{Buffered, Capture, ClientBody, TeeBody, buffer_request, micros};
use super::logs::{mirror_note, route_pattern};
use super::metrics::NotMirrored;
use super::order::Ticket;
use super::{Shared, edge};
use crate::config::ProxyMode;
use crate::exchange::{Body, Failure, FailureKind, OutcomeResult, RecordedRequest};
use crate::upstream::error_chain;
use crate::upstream::forward::{
    ForwardBody, build_request, classify, origin_form, strip_hop_by_hop, to_headers,
    upstream_headers,
};

/// Entry point for every client request. Not `async`: the future returned is the chosen
/// path's own (inline, mirror-target, a boxed tunnel, or a ready answer), so hyper moves
/// no more than the largest of them, and the request is not kept twice in it.
pub fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    xff: HeaderValue,
    req: Request<Incoming>,
) -> impl Future<Output = Response<ClientBody>> + Send {
    use futures_util::future::{Either, Ready, ready};
    type Tunnel = Pin<Box<dyn Future<Output = Response<ClientBody>> + Send>>;
    let done = |r: Response<ClientBody>| -> Either<Ready<Response<ClientBody>>, Tunnel> {
        Either::Left(ready(r))
    };
    if let Some(answer) = edge::refuse(&req) {
        return Either::Left(done(answer));
    }
    if edge::is_upgrade(&req) {
        let route = shared.route_index(req.uri().path());
        return Either::Left(match shared.mode {
            // Boxed: the tunnel's state is large (~4 kB) and rare.
            ProxyMode::Inline => {
                Either::Right(Box::pin(edge::tunnel(shared, peer, xff, req, route)))
            }
            ProxyMode::MirrorTarget => {
                if let Some(r) = route {
                    shared.metrics.not_mirrored(r, NotMirrored::Upgrade);
                }
                done(no_content())
            }
        });
    }
    Either::Right(match shared.mode {
        ProxyMode::Inline => Either::Left(inline(shared, peer, xff, req)),
        ProxyMode::MirrorTarget => {
            Either::Right(super::mirror_target::mirror_target(shared, peer, xff, req))
        }
    })
}

/// The primary's outcome on its way to the shadow task. Dropped unsent, i.e. when hyper
/// drops the request's future because the client went away before the primary answered,
/// it reports a client abort.
struct PrimarySender {
    tx: Option<tokio::sync::oneshot::Sender<OutcomeResult>>,
    since: Instant,
}

impl PrimarySender {
    fn new(tx: tokio::sync::oneshot::Sender<OutcomeResult>) -> PrimarySender {
        PrimarySender {
            tx: Some(tx),
            since: Instant::now(),
        }
    }

    fn send(mut self, result: OutcomeResult) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }

    /// Hand the channel to the response body's capture, which always finishes it.
    fn into_inner(mut self) -> Option<tokio::sync::oneshot::Sender<OutcomeResult>> {
        self.tx.take()
    }
}

impl Drop for PrimarySender {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(OutcomeResult::Failure(Failure {
                kind: FailureKind::ClientAborted,
                elapsed_us: micros(self.since.elapsed()),
                message: "the client went away before the primary answered".into(),
            }));
        }
    }
}

/// What the shadow task needs to know about the request.
pub(super) struct Mirror {
    pub(super) route: usize,
    pub(super) permit: OwnedSemaphorePermit,
    pub(super) recorded: RecordedRequest,
    pub(super) body: bytes::Bytes,
    /// When the request arrived.
    pub(super) at: chrono::DateTime<Utc>,
    /// Arrival sequence number (`Exchange::seq`).
    pub(super) seq: u64,
    /// The request's places in its identity's queues (`None`: unordered).
    pub(super) ticket: Option<Ticket>,
    /// The identity label (`Exchange::identity`).
    pub(super) identity: Option<String>,
}

async fn inline(
    shared: Arc<Shared>,
    peer: SocketAddr,
    xff: HeaderValue,
    req: Request<Incoming>,
) -> Response<ClientBody> {
    let (mut parts, body) = req.into_parts();
    let pq = origin_form(&parts.uri);
    let route = shared.route_index(parts.uri.path());
    let mut note = "yes";
    // Nothing is copied or recorded for a request that is not mirrored.
    let (mirror, body) = match shared.decide(route, &parts.method, &parts.headers, 1) {
        Err(reason) => {
            note = mirror_note(route, reason);
            if let Some(r) = route {
                shared.metrics.not_mirrored(r, reason);
            }
            (None, ForwardBody::stream(body))
        }
        Ok((r, permit)) => match shared.admit(r, &parts.headers, peer, false) {
            Err(reason) => {
                note = reason.as_str();
                shared.metrics.not_mirrored(r, reason);
                (None, ForwardBody::stream(body))
            }
            Ok((ticket, identity)) => {
                let at = Utc::now();
                let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
                match buffer_request(body, shared.max_body).await {
                    Ok(Buffered::Complete(bytes)) => {
                        shared.metrics.mirrored(r);
                        let recorded =
                            record_request(&parts.method, &pq, &parts.headers, bytes.clone());
                        let mirror = Mirror {
                            route: r,
                            permit,
                            recorded,
                            body: bytes.clone(),
                            at,
                            seq,
                            ticket,
                            identity,
                        };
                        (Some(mirror), ForwardBody::full(bytes))
                    }
                    Ok(Buffered::Overflow { prefix, rest }) => {
                        shared.metrics.not_mirrored(r, NotMirrored::BodyTooLarge);
                        note = NotMirrored::BodyTooLarge.as_str();
                        (
                            None,
                            ForwardBody::Chain {
                                prefix: Some(prefix),
                                rest: Box::new(rest),
                            },
                        )
                    }
                    Err(e) => {
                        return error_response(
                            StatusCode::BAD_REQUEST,
                            "bad request body",
                            &e.to_string(),
                        );
                    }
                }
            }
        },
    };
    let headers = upstream_headers(std::mem::take(&mut parts.headers), &parts.uri, &xff);
    let shadows = mirror.map(|m| {
        let (tx, rx) = tokio::sync::oneshot::channel::<OutcomeResult>();
        super::shadow::spawn_shadows(&shared, m, &parts.method, &pq, &headers, rx);
        PrimarySender::new(tx)
    });
    let req = match build_request(&shared.primary, &parts.method, &pq, headers, body, None) {
        Ok(r) => r,
        Err(e) => {
            if let Some(tx) = shadows {
                tx.send(dropped(&e.to_string()));
            }
            return error_response(StatusCode::BAD_REQUEST, "bad request", &e.to_string());
        }
    };
    shared.metrics.request(route, shared.primary.index);
    let started = Instant::now();
    let result = tokio::time::timeout(shared.primary.timeout, shared.primary.pool.send(req)).await;
    let ttfb_us = micros(started.elapsed());
    let (status, message, kind) = match result {
        Ok(Ok(resp)) => {
            shared.metrics.latency(shared.primary.index, ttfb_us);
            shared.logs.request(
                &parts.method,
                pq.as_str(),
                route_pattern(&shared, route),
                resp.status().as_u16(),
                ttfb_us,
                note,
            );
            let (mut parts, body) = resp.into_parts();
            let body = match shadows.and_then(PrimarySender::into_inner) {
                None => ClientBody::Plain(body),
                Some(tx) => {
                    let capture = Capture::new(
                        tx,
                        shared.max_body,
                        &shared.memory,
                        started,
                        ttfb_us,
                        parts.status.as_u16(),
                        to_headers(&parts.headers),
                        shared.drain_limit,
                    );
                    ClientBody::Tee(TeeBody::new(body, capture))
                }
            };
            strip_hop_by_hop(&mut parts.headers);
            return Response::from_parts(parts, body);
        }
        Ok(Err(e)) => (StatusCode::BAD_GATEWAY, error_chain(&e), classify(&e)),
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            format!("no answer within {} ms", shared.primary.timeout.as_millis()),
            FailureKind::Timeout,
        ),
    };
    shared.metrics.error(shared.primary.index, kind);
    let failure = Failure {
        kind,
        elapsed_us: ttfb_us,
        message,
    };
    shared.logs.upstream_failure(&shared.primary.name, &failure);
    shared.logs.request(
        &parts.method,
        pq.as_str(),
        route_pattern(&shared, route),
        status.as_u16(),
        ttfb_us,
        note,
    );
    let message = failure.message.clone();
    if let Some(tx) = shadows {
        tx.send(OutcomeResult::Failure(failure));
    }
    let title = if status == StatusCode::GATEWAY_TIMEOUT {
        "primary timed out"
    } else {
        "primary unavailable"
    };
    error_response(
        status,
        title,
        &format!("{}: {message}", shared.primary.name),
    )
}

pub(super) fn record_request(
    method: &Method,
    pq: &PathAndQuery,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> RecordedRequest {
    RecordedRequest {
        method: method.as_str().to_string(),
        uri: pq.as_str().to_string(),
        headers: to_headers(headers),
        body: Body(body),
        truncated: false,
    }
}

pub(super) fn dropped(message: &str) -> OutcomeResult {
    OutcomeResult::Failure(Failure {
        kind: FailureKind::Dropped,
        elapsed_us: 0,
        message: message.to_string(),
    })
}

pub(super) fn no_content() -> Response<ClientBody> {
    let mut resp = Response::new(ClientBody::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// A short JSON error produced by cutover itself (502, 504, 400).
pub(super) fn error_response(
    status: StatusCode,
    error: &str,
    detail: &str,
) -> Response<ClientBody> {
    let body =
        serde_json::json!({ "error": error, "detail": detail, "source": "cutover" }).to_string();
    let mut resp = Response::new(ClientBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, D, F: std::future::Future>(_: &impl Fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// hyper moves each request's handler future into place: its size is copied for every
    /// request, so rarely taken paths are boxed.
    #[test]
    fn the_handler_future_stays_small() {
        let size = future_size(&handle);
        eprintln!(
            "handle {size} B, inline {} B, mirror_target {} B, ClientBody {} B, Response {} B",
            future_size(&inline),
            future_size(&super::super::mirror_target::mirror_target),
            std::mem::size_of::<ClientBody>(),
            std::mem::size_of::<Response<ClientBody>>()
        );
        // 5.6 kB before the tunnel was boxed and `handle` returned its path's future.
        assert!(size <= 2304, "handle future is {size} bytes");
    }
}
