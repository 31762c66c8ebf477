//! HTTP/2 on a [`Pool`]: one connection per origin and worker, shared by every request.
//!
//! Owns this worker's HTTP/2 connection of an origin (opened once; concurrent first
//! requests wait for that one dial; replaced when it closed), the HTTP/2 form of a request
//! (absolute URI for `:scheme`/`:authority`/`:path`, no `Host`) and the one retry of a
//! request refused before it was sent, or refused by the server unprocessed (a graceful
//! GOAWAY that excludes its stream, `REFUSED_STREAM`; bodies held in memory only). Responses are [`UpstreamBody`]s with no connection
//! to hand back: the connection is shared, not checked out.

use std::sync::atomic::Ordering;

use http::{Request, Response, Uri, Version, header};
use hyper::client::conn::http2;

use super::connect::Conn;
use super::forward::ForwardBody;
use super::pool::{Pool, UpstreamBody, UpstreamError};

impl Pool {
    /// Send on this worker's shared HTTP/2 connection (`fresh`: one just opened), opening
    /// one when there is none or it closed. A request refused before it was sent (the
    /// connection went away under it) is retried once on a new connection.
    pub(super) async fn send_h2(
        &self,
        mut req: Request<ForwardBody>,
        fresh: Option<http2::SendRequest<ForwardBody>>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        self.h2_form(&mut req)?;
        let mut fresh = fresh;
        let mut retried = false;
        loop {
            let mut tx = match fresh.take() {
                Some(tx) => {
                    *self.h2[self.worker()].lock().await = Some(tx.clone());
                    tx
                }
                None => self.h2_conn(retried).await?,
            };
            if tx.ready().await.is_err() {
                if retried {
                    return Err(UpstreamError::Connect(std::io::Error::other(
                        "the HTTP/2 connection closed before the request was sent",
                    )));
                }
                retried = true;
                continue;
            }
            // Kept to send again should the server refuse the stream unprocessed (nginx
            // sends a graceful GOAWAY after `keepalive_requests`, 1000 by default).
            let copy = if retried { None } else { replayable(&req) };
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = UpstreamBody {
                        inner: body,
                        conn: None,
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) => match (e.take_message(), copy) {
                    (Some(r), _) if !retried => {
                        retried = true;
                        req = r;
                    }
                    (None, Some(c)) if refused_unprocessed(e.error()) => {
                        retried = true;
                        req = c;
                    }
                    _ => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
    }

    /// This worker's HTTP/2 connection, opened when missing, closed, or (`replace`) just
    /// found unusable. Concurrent callers wait for one dial instead of each opening one.
    async fn h2_conn(
        &self,
        replace: bool,
    ) -> Result<http2::SendRequest<ForwardBody>, UpstreamError> {
        let mut slot = self.h2[self.worker()].lock().await;
        if let Some(tx) = slot.as_ref() {
            if !replace && !tx.is_closed() {
                return Ok(tx.clone());
            }
        }
        *slot = None;
        let tx = match Box::pin(self.dialer.dial(None)).await? {
            Conn::H2(tx) => tx,
            // ALPN settled on HTTP/1.1 this time (the origin changed): go back to it.
            Conn::H1(_) => {
                self.h2_known.store(self.dialer.h2c, Ordering::Relaxed);
                return Err(UpstreamError::Connect(std::io::Error::other(
                    "the origin no longer negotiates HTTP/2; retrying over HTTP/1.1",
                )));
            }
        };
        *slot = Some(tx.clone());
        Ok(tx)
    }

    /// HTTP/2 form: absolute URI (`:scheme`, `:authority`, `:path`), no `Host`.
    fn h2_form(&self, req: &mut Request<ForwardBody>) -> Result<(), UpstreamError> {
        let pq = req.uri().path_and_query().cloned();
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = pq;
        *req.uri_mut() = Uri::from_parts(parts).map_err(|e| UpstreamError::Request(e.into()))?;
        *req.version_mut() = Version::HTTP_2;
        req.headers_mut().remove(header::HOST);
        Ok(())
    }
}

/// A copy of `req` to send again; `None` for a streamed body, which cannot be replayed.
fn replayable(req: &Request<ForwardBody>) -> Option<Request<ForwardBody>> {
    let ForwardBody::Full(body) = req.body() else {
        return None;
    };
    let mut copy = Request::new(ForwardBody::Full(body.clone()));
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

/// The server refused the stream without processing it, so it may be sent again whatever
/// its method (RFC 9113 §6.8, §8.7): a graceful GOAWAY (`NO_ERROR`) whose last stream id
/// excludes it, or `REFUSED_STREAM`.
fn refused_unprocessed(e: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<h2::Error>() {
            return h.is_remote()
                && match h.reason() {
                    Some(h2::Reason::NO_ERROR) => h.is_go_away(),
                    Some(h2::Reason::REFUSED_STREAM) => h.is_reset(),
                    _ => false,
                };
        }
        source = s.source();
    }
    false
}
