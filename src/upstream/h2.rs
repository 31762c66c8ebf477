//! HTTP/2 on a [`Pool`]: one connection per origin and worker, shared by every request.
//!
//! Owns this worker's HTTP/2 connection of an origin (opened once; concurrent first
//! requests wait for that one dial; replaced when it closed), the HTTP/2 form of a request
//! (absolute URI for `:scheme`/`:authority`/`:path`, no `Host`) and the one retry of a
//! request refused before it was sent. Responses are [`UpstreamBody`]s with no connection
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
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = UpstreamBody {
                        inner: body,
                        conn: None,
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    Some(r) if !retried => {
                        retried = true;
                        req = r;
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
