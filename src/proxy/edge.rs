//! Requests at the edges of HTTP that are answered by cutover itself or passed through
//! unmirrored: `CONNECT` (405: cutover is not a forward proxy), a missing, repeated or
//! invalid `Host` (400, RFC 9112 §3.2), asterisk-form on anything but `OPTIONS` (400), and
//! protocol upgrades (WebSocket, ...), tunnelled to the primary over a dedicated
//! connection once both sides switched protocols.
//!
//! Owns those decisions and the tunnel. Never mirrors: an upgraded connection's bytes are
//! not HTTP exchanges, and copying a WebSocket to a candidate would duplicate its side
//! effects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::Shared;
use super::capture::ClientBody;
use super::handler::error_response;
use super::metrics::NotMirrored;
use crate::upstream::error_chain;
use crate::upstream::forward::{
    ForwardBody, build_request, origin_form, strip_hop_by_hop, upstream_headers,
};
use crate::upstream::pool::UpstreamBody;

/// Methods listed in `Allow` when `CONNECT` is refused.
const ALLOWED: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// An answer cutover gives itself instead of forwarding, when the request is one it must
/// not forward.
pub(super) fn refuse(req: &Request<Incoming>) -> Option<Response<ClientBody>> {
    if req.method() == Method::CONNECT {
        let mut resp = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is not supported",
            "cutover forwards requests to its configured targets; it does not open tunnels",
        );
        let h = resp.headers_mut();
        h.insert(header::ALLOW, HeaderValue::from_static(ALLOWED));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(resp);
    }
    if let Some(problem) = host_problem(req) {
        let mut resp = error_response(StatusCode::BAD_REQUEST, "bad Host header", problem);
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(resp);
    }
    if is_asterisk(req) && req.method() != Method::OPTIONS {
        return Some(error_response(
            StatusCode::BAD_REQUEST,
            "bad request target",
            "the asterisk-form `*` is only defined for OPTIONS",
        ));
    }
    None
}

/// RFC 9112 §3.2: an HTTP/1.1 request without `Host`, any request with more than one, or
/// one whose value is not `host[:port]`, is answered 400. HTTP/2 carries `:authority`.
fn host_problem(req: &Request<Incoming>) -> Option<&'static str> {
    if req.version() >= Version::HTTP_2 {
        return None;
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if req.version() == Version::HTTP_11 => {
            Some("an HTTP/1.1 request must carry exactly one Host header (RFC 9112 §3.2)")
        }
        (None, _) => None,
        (Some(_), Some(_)) => Some("more than one Host header (RFC 9112 §3.2)"),
        (Some(v), None) => (!valid_host(v.as_bytes()))
            .then_some("the Host header is not a valid host[:port] (RFC 9112 §3.2)"),
    }
}

/// `uri-host [ ":" port ]`, or empty (allowed when the target URI has no authority).
fn valid_host(v: &[u8]) -> bool {
    v.is_empty()
        || (!v.contains(&b'@')
            && http::uri::Authority::try_from(v).is_ok_and(|a| a.as_str().len() == v.len()))
}

fn is_asterisk(req: &Request<Incoming>) -> bool {
    req.uri().authority().is_none() && req.uri().path_and_query().map(|p| p.as_str()) == Some("*")
}

/// A request to switch protocols (`Connection: upgrade` + `Upgrade`) over HTTP/1.1. `h2c`
/// is not tunnelled: cutover speaks h2c itself (prior knowledge), and RFC 9113 retired
/// the upgrade.
pub(super) fn is_upgrade(req: &Request<Incoming>) -> bool {
    if req.version() != Version::HTTP_11 {
        return false;
    }
    let Some(protocol) = req.headers().get(header::UPGRADE) else {
        return false;
    };
    if protocol.as_bytes().eq_ignore_ascii_case(b"h2c") {
        return false;
    }
    req.headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Pass an upgrade request to the primary on a connection of its own. On `101` both
/// sides are upgraded and bytes are copied both ways until either side closes; any other
/// answer is passed back as is. Never mirrored (counted as `not_mirrored{reason="upgrade"}`
/// on a route, and in `cutover_upgrades_total`).
pub(super) async fn tunnel(
    shared: Arc<Shared>,
    peer: SocketAddr,
    xff: HeaderValue,
    mut req: Request<Incoming>,
    route: Option<usize>,
) -> Response<ClientBody> {
    if let Some(r) = route {
        shared.metrics.not_mirrored(r, NotMirrored::Upgrade);
    }
    shared.metrics.request(route, shared.primary.index);
    let client_side = hyper::upgrade::on(&mut req);
    let (mut parts, body) = req.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    let pq = origin_form(&parts.uri);
    let mut headers = upstream_headers(std::mem::take(&mut parts.headers), &parts.uri, &xff);
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(p) = protocol {
        headers.insert(header::UPGRADE, p);
    }
    let primary = &shared.primary;
    let upstream_req = match build_request(
        primary,
        &parts.method,
        &pq,
        headers,
        ForwardBody::stream(body),
        None,
    ) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "bad request", &e.to_string()),
    };
    let pool = std::sync::Arc::clone(&primary.pool);
    let sent = tokio::time::timeout(primary.timeout, async move {
        let mut tx = pool
            .connect_upgradable()
            .await
            .map_err(|e| error_chain(&e))?;
        tx.send_request(upstream_req)
            .await
            .map_err(|e| error_chain(&e))
    })
    .await;
    let mut resp = match sent {
        Ok(Ok(resp)) => resp,
        Ok(Err(message)) => {
            return error_response(
                StatusCode::BAD_GATEWAY,
                "primary unavailable",
                &format!("{}: {message}", primary.name),
            );
        }
        Err(_) => {
            return error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "primary timed out",
                &format!(
                    "{}: no answer within {} ms",
                    primary.name,
                    primary.timeout.as_millis()
                ),
            );
        }
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        return Response::from_parts(parts, ClientBody::Plain(UpstreamBody::unpooled(body)));
    }
    let upstream_side = hyper::upgrade::on(&mut resp);
    let slot = shared.conns.hold();
    shared.conns.upgrades.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let _slot = slot;
        let (client, upstream) = tokio::join!(client_side, upstream_side);
        let (Ok(client), Ok(upstream)) = (client, upstream) else {
            tracing::debug!("upgrade from {peer} did not complete on both sides");
            return;
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!("tunnel for {peer}: {e}");
        }
    });
    let (mut parts, _) = resp.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(p) = protocol {
        parts.headers.insert(header::UPGRADE, p);
    }
    Response::from_parts(parts, ClientBody::empty())
}

#[cfg(test)]
mod tests {
    use super::valid_host;

    #[test]
    fn host_values() {
        for ok in [
            "",
            "example.com",
            "example.com:8080",
            "127.0.0.1:1",
            "[::1]:80",
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in ["user@example.com", "a b", "example.com/x", "exa mple"] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }
}
