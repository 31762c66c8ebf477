//! Building upstream requests: header hygiene, request bodies, capped reading, error kinds.
//!
//! Owns how a client request becomes a request to one target: the URL is ALWAYS the
//! configured target URL (with its optional path prefix) followed by the request's
//! origin-form path and query, never anything derived from the request's `Host` header or an
//! absolute-form URI (no SSRF). Hop-by-hop headers are removed (RFC 9110 §7.6.1),
//! `X-Forwarded-*` are added, `Host` is rewritten. This module never reads or compares
//! response bodies and never touches the pipeline.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

pub use super::pool::UpstreamBody;
use super::pool::UpstreamError;
pub use super::target::Target;
use crate::exchange::{FailureKind, Headers};

/// Marks shadow copies: `candidate` or `secondary`. Never sent to the primary.
pub const SHADOW_HEADER: &str = "x-cutover-shadow";

/// The origin-form part of a request URI (path and query), whatever form the client used.
/// For `GET http://evil.example/x?y` this is `/x?y`. The asterisk-form `*` (`OPTIONS *`)
/// stays `*`; the handler answers it 400 for any other method.
pub fn origin_form(uri: &Uri) -> PathAndQuery {
    match uri.path_and_query() {
        Some(pq) if pq.as_str().starts_with('/') => pq.clone(),
        Some(pq) if pq.as_str() == "*" && uri.authority().is_none() => pq.clone(),
        _ => PathAndQuery::from_static("/"),
    }
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const SHADOW: HeaderName = HeaderName::from_static(SHADOW_HEADER);

/// The well-known hop-by-hop headers (the ones `Connection` names come on top).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// Remove hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and every header it names,
/// plus the well-known ones.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests carry none: one pass over the names instead of eleven lookups.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Most answers carry `Connection: keep-alive` and nothing else: only the names present
    // or listed are removed (each removal hashes its name).
    let listed: Vec<HeaderValue> = match headers.entry(header::CONNECTION) {
        http::header::Entry::Occupied(e) => e.remove_entry_mult().1.collect(),
        http::header::Entry::Vacant(_) => Vec::new(),
    };
    for value in &listed {
        for name in value.as_bytes().split(|b| *b == b',') {
            // An invalid or absent name removes nothing.
            if let Ok(name) = std::str::from_utf8(name.trim_ascii()) {
                headers.remove(name);
            }
        }
    }
    while let Some(name) = headers.keys().find(|n| is_hop_by_hop(n)).cloned() {
        headers.remove(&name);
    }
}

/// The client's address as an `X-Forwarded-For` value: built once per connection and
/// cloned per request (a reference count) instead of formatted per request.
pub fn forwarded_for(peer: IpAddr) -> HeaderValue {
    HeaderValue::try_from(peer.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Headers every upstream copy shares: hop-by-hop removed, `Host` and any client-sent
/// shadow marker removed, `X-Forwarded-For/-Proto/-Host` added (`peer` from
/// [`forwarded_for`]). Takes the client's headers by value and edits them in place (no copy
/// of the map).
pub fn upstream_headers(mut headers: HeaderMap, uri: &Uri, peer: &HeaderValue) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    let host = headers.remove(header::HOST).or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    headers.remove(SHADOW);
    let xff = match headers.get(&X_FORWARDED_FOR).map(|v| v.as_bytes()) {
        Some(prev) if !prev.trim_ascii().is_empty() => {
            HeaderValue::from_bytes(&[prev, b", ", peer.as_bytes()].concat()).ok()
        }
        _ => Some(peer.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if let Some(host) = host {
        if !headers.contains_key(&X_FORWARDED_HOST) {
            headers.insert(X_FORWARDED_HOST, host);
        }
    }
    headers
}

/// Build the request to one target from headers prepared by [`upstream_headers`].
/// `shadow` is the value of `x-cutover-shadow` for copies.
pub fn build_request(
    target: &Target,
    method: &Method,
    path_and_query: &PathAndQuery,
    mut headers: HeaderMap,
    body: ForwardBody,
    shadow: Option<&'static str>,
) -> Result<Request<ForwardBody>, http::Error> {
    let uri = target.uri(path_and_query)?;
    headers.insert(header::HOST, target.host.clone());
    if let Some(role) = shadow {
        headers.insert(SHADOW, HeaderValue::from_static(role));
    }
    let mut req = Request::new(body);
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Ok(req)
}

/// Header list in the exchange model: lower-case names, values lossily decoded.
pub fn to_headers(map: &HeaderMap) -> Headers {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Map an upstream client error to the exchange model's failure kinds.
pub fn classify(err: &UpstreamError) -> FailureKind {
    match err {
        // A TLS failure is a failure to connect: nothing was sent.
        UpstreamError::Connect(_) | UpstreamError::Tls(_) => FailureKind::Connect,
        UpstreamError::Request(_) | UpstreamError::ConnectionCap { .. } => FailureKind::Dropped,
        UpstreamError::Http(h) => classify_chain(h),
    }
}

/// Map a body-read error (hyper) to a failure kind.
pub fn classify_hyper(err: &hyper::Error) -> FailureKind {
    classify_chain(err)
}

fn classify_chain(h: &hyper::Error) -> FailureKind {
    if h.is_timeout() {
        FailureKind::Timeout
    } else if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
        FailureKind::Protocol
    } else {
        // incomplete message, closed, canceled, io errors: the peer went away.
        FailureKind::Reset
    }
}

/// The body sent upstream: a buffered copy, or a buffered prefix followed by the rest of
/// the client's stream (requests over the capture cap, and unmirrored requests).
pub enum ForwardBody {
    Full(Option<Bytes>),
    /// Boxed: a request waits in each upstream connection's queue, whose slots are sized
    /// by the largest variant (a smaller request saves ~2 kB per connection).
    Chain {
        prefix: Option<Bytes>,
        rest: Box<Incoming>,
    },
}

impl ForwardBody {
    pub fn full(bytes: Bytes) -> ForwardBody {
        ForwardBody::Full(if bytes.is_empty() { None } else { Some(bytes) })
    }
    pub fn stream(rest: Incoming) -> ForwardBody {
        // A request without a body (most GETs) needs no stream, and no allocation.
        if rest.is_end_stream() {
            return ForwardBody::Full(None);
        }
        ForwardBody::Chain {
            prefix: None,
            rest: Box::new(rest),
        }
    }
}

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ForwardBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ForwardBody::Chain { prefix, rest } => {
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                Pin::new(&mut **rest).poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ForwardBody::Full(b) => b.is_none(),
            ForwardBody::Chain { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ForwardBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ForwardBody::Chain { prefix, rest } => {
                let p = prefix.as_ref().map_or(0, |b| b.len() as u64);
                let r = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(r.lower() + p);
                if let Some(u) = r.upper() {
                    hint.set_upper(u + p);
                }
                hint
            }
        }
    }
}

/// After a capture reached its cap, at most this much more of a shadow body is read (and
/// thrown away) so that its keep-alive connection can be reused; a longer body closes the
/// connection instead.
pub const DRAIN_BYTES: u64 = 64 * 1024;
/// ... and for at most this long.
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(100);

/// What [`collect_capped`] kept.
#[derive(Debug)]
pub struct Collected {
    pub bytes: Bytes,
    /// More arrived (or was announced) than was kept.
    pub truncated: bool,
    /// The shadow memory budget could not hold the capture: nothing is kept.
    pub over_budget: bool,
}

/// Read a shadow body keeping at most `cap` bytes, reserved in `budget`. Past the cap the
/// body is drained only while the rest is small ([`DRAIN_BYTES`], [`DRAIN_TIME`]);
/// otherwise it is dropped unread, which closes its connection (a connection goes back to
/// the pool only when its body was read to the end). An endless body therefore costs at
/// most `cap + DRAIN_BYTES` bytes of reading.
pub async fn collect_capped<B>(
    mut body: B,
    cap: usize,
    budget: Option<Arc<super::budget::MemoryBudget>>,
) -> Result<Collected, B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    use super::budget::{CappedBuf, Pushed};
    let declared = body.size_hint().exact();
    let mut buf = CappedBuf::new(cap, budget);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            match buf.push(&data, declared) {
                Pushed::Kept => {}
                Pushed::Full => break,
                Pushed::OverBudget => {
                    return Ok(Collected {
                        bytes: Bytes::new(),
                        truncated: true,
                        over_budget: true,
                    });
                }
            }
        }
    }
    if buf.is_full() && !body.is_end_stream() {
        drain_small_rest(body).await;
    }
    let truncated = buf.is_full();
    Ok(Collected {
        bytes: buf.freeze(),
        truncated,
        over_budget: false,
    })
}

/// Read (and discard) what is left of `body` when it is small and quick; dropping it
/// otherwise closes its connection.
async fn drain_small_rest<B>(mut body: B)
where
    B: Body<Data = Bytes> + Unpin,
{
    if body.size_hint().lower() > DRAIN_BYTES {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > DRAIN_BYTES {
                    return;
                }
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        let cfg: crate::config::TargetConfig =
            toml::from_str(&format!("url = \"{url}\"")).expect("config");
        Target::new("t", 0, &cfg, 1_000, &mut super::super::Pools::new(1)).expect("target")
    }

    #[test]
    fn upstream_uri_is_the_target_plus_origin_form() {
        let absolute: Uri = "http://evil.example/x/y?q=1".parse().expect("uri");
        let pq = origin_form(&absolute);
        assert_eq!(pq.as_str(), "/x/y?q=1");
        let uri = target("http://127.0.0.1:9").uri(&pq).expect("uri");
        assert_eq!(uri.to_string(), "/x/y?q=1");
        let uri = target("http://127.0.0.1:9/base/").uri(&pq).expect("uri");
        assert_eq!(uri.to_string(), "/base/x/y?q=1");
        let star: Uri = "*".parse().expect("uri");
        assert_eq!(origin_form(&star).as_str(), "*");
        let uri = target("http://127.0.0.1:9/base/")
            .uri(&origin_form(&star))
            .expect("uri");
        assert_eq!(uri.to_string(), "*");
    }

    #[test]
    fn hop_by_hop_headers_are_removed_with_those_connection_names() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::ACCEPT));

        // Several `Connection` lines, names in any case, junk tokens, and the well-known
        // ones present without being listed.
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("close, X-One"));
        h.append(
            header::CONNECTION,
            HeaderValue::from_static(" x-two ,, bad name,"),
        );
        h.append(
            header::CONNECTION,
            HeaderValue::from_bytes(b"x-\xff").expect("obs-text"),
        );
        for (n, v) in [
            ("x-one", "1"),
            ("x-two", "2"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("x-three", "3"),
        ] {
            h.insert(n, HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        assert_eq!(left, ["x-three"]);
    }

    #[test]
    fn x_forwarded_for_appends_the_peer_built_once_per_connection() {
        let peer = forwarded_for("::1".parse().expect("ip"));
        let uri: Uri = "/x".parse().expect("uri");
        let with = |prev: Option<&'static str>| {
            let mut h = HeaderMap::new();
            if let Some(p) = prev {
                h.insert(X_FORWARDED_FOR, HeaderValue::from_static(p));
            }
            let out = upstream_headers(h, &uri, &peer);
            out.get(X_FORWARDED_FOR).map(|v| v.as_bytes().to_vec())
        };
        assert_eq!(with(None).as_deref(), Some(&b"::1"[..]));
        assert_eq!(with(Some("  ")).as_deref(), Some(&b"::1"[..]));
        assert_eq!(
            with(Some("10.0.0.1, 10.0.0.2")).as_deref(),
            Some(&b"10.0.0.1, 10.0.0.2, ::1"[..])
        );
    }
}
