//! The load stage's direct client: requests over cutover's own keep-alive pool
//! (`upstream::pool`, the proxy's client) instead of Goose's reqwest client.
//!
//! Used when Goose's HTML report is not written (`--no-goose-report`, `--worker` parts):
//! Goose still runs the users, their weights, set-up and run time, but nothing would read
//! Goose's per-request metrics, and reqwest re-parses the URL of every answer
//! (`benches/load.sh`: 45 % of wrk's rate through Goose's client, 110 % direct). Owns
//! resolving the attack's targets once and sending one request under the target's
//! timeout, its answer read to the end. Knows nothing of Goose.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::BodyExt as _;

use super::attack::TargetRef;
use crate::config::Config;
use crate::upstream::error_chain;
use crate::upstream::forward::{ForwardBody, build_request};
use crate::upstream::{Pools, Target};

/// The attack's targets by name, resolved before it starts (targets on one origin share
/// their pool).
#[derive(Debug, Default, Clone)]
pub struct Upstreams {
    by_name: HashMap<String, Target>,
    https: bool,
}

/// An answer as the load stage needs it: the status, and the head and body when asked.
pub struct Answered {
    pub status: u16,
    pub kept: Option<(HeaderMap, Bytes)>,
}

impl Upstreams {
    /// Resolve every target (by name; the first URL given for a name wins) with
    /// `timeout` as each request's limit, answer read to the end included. A target
    /// `config` names with the same URL keeps its settings (`tls_ca_file`, `insecure`,
    /// `protocol`); any other (the in-process proxy) is resolved from its URL alone.
    pub fn resolve<'a>(
        targets: impl IntoIterator<Item = &'a TargetRef>,
        timeout: Duration,
        config: Option<&Config>,
    ) -> Result<Upstreams, String> {
        let mut up = Upstreams::default();
        up.add(targets, timeout, config)?;
        Ok(up)
    }

    /// These and `extra` (the `--through-proxy` proxy), when given.
    pub fn and(mut self, extra: Option<&TargetRef>, timeout: Duration) -> Result<Self, String> {
        self.add(extra, timeout, None)?;
        Ok(self)
    }

    fn add<'a>(
        &mut self,
        targets: impl IntoIterator<Item = &'a TargetRef>,
        timeout: Duration,
        config: Option<&Config>,
    ) -> Result<(), String> {
        let timeout_ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut pools = Pools::new(1);
        for t in targets {
            if self.by_name.contains_key(&t.name) {
                continue;
            }
            let configured = config
                .and_then(|c| c.file.targets.get(&t.name))
                .filter(|c| c.url.get_ref().trim_end_matches('/') == t.url);
            let target = match configured {
                Some(c) => {
                    // The load stage's request timeout, not the proxy's.
                    let mut c = c.clone();
                    c.timeout_ms = Some(timeout_ms);
                    Target::new(&t.name, 0, &c, timeout_ms, &mut pools)?
                }
                None => {
                    crate::scenario::deployment::target(&t.name, &t.url, timeout_ms, &mut pools)?
                }
            };
            self.https |= t
                .url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
            self.by_name.insert(t.name.clone(), target);
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Target> {
        self.by_name.get(name)
    }

    /// Whether a target is `https://` (Goose's own client speaks plain HTTP only here).
    pub fn any_https(&self) -> bool {
        self.https
    }
}

/// Headers from name/value pairs; `None` when one is not a valid header (the request
/// cannot be sent, as with Goose's client).
pub fn headers_of(pairs: &[(String, String)]) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    Some(map)
}

/// Send one request to `target` and read its answer to the end, within the target's
/// timeout; `keep` keeps the head and the body. `None`: not sent, failed or timed out
/// (a transport error to the load stage).
pub async fn send(
    target: &Target,
    method: &Method,
    pq: &PathAndQuery,
    headers: HeaderMap,
    body: Bytes,
    keep: bool,
) -> Option<Answered> {
    let sent = async {
        let req = build_request(target, method, pq, headers, ForwardBody::full(body), None).ok()?;
        let (parts, mut body) = target.pool.send(req).await.ok()?.into_parts();
        let status = parts.status.as_u16();
        if keep {
            let bytes = body.collect().await.ok()?.to_bytes();
            return Some(Answered {
                status,
                kept: Some((parts.headers, bytes)),
            });
        }
        while let Some(frame) = body.frame().await {
            frame.ok()?;
        }
        Some(Answered { status, kept: None })
    };
    tokio::time::timeout(target.timeout, sent)
        .await
        .ok()
        .flatten()
}

/// What [`fetch`] keeps of an answer.
pub const FETCH_MAX_BYTES: usize = 1 << 20;

/// Send one request to `target` and keep its answer, up to [`FETCH_MAX_BYTES`]
/// (pre-flight and set-up): the error says what failed, for a message that names the
/// target.
pub async fn fetch(
    target: &Target,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(u16, HeaderMap, Bytes), String> {
    let pq = PathAndQuery::try_from(path).map_err(|e| format!("{path}: {e}"))?;
    let sent = async {
        let req = build_request(target, &method, &pq, headers, ForwardBody::full(body), None)
            .map_err(|e| e.to_string())?;
        let resp = target.pool.send(req).await.map_err(|e| error_chain(&e))?;
        let (parts, mut body) = resp.into_parts();
        // A pre-flight page or a log-in answer: what is past the cap is not read (the
        // connection is dropped), whatever the target sends.
        let mut kept = bytes::BytesMut::new();
        while kept.len() < FETCH_MAX_BYTES {
            let Some(frame) = body.frame().await else {
                break;
            };
            if let Ok(data) = frame.map_err(|e| error_chain(&e))?.into_data() {
                kept.extend_from_slice(&data);
            }
        }
        kept.truncate(FETCH_MAX_BYTES);
        Ok((parts.status.as_u16(), parts.headers, kept.freeze()))
    };
    tokio::time::timeout(target.timeout, sent)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer within {} ms",
                target.timeout.as_millis()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_repeats_and_refuse_what_cannot_be_sent() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let map = headers_of(&pairs(&[("x-a", "1"), ("X-A", "2"), ("accept", "*/*")]))
            .expect("valid headers");
        let a: Vec<_> = map.get_all("x-a").iter().collect();
        assert_eq!(a, ["1", "2"]);
        assert!(headers_of(&pairs(&[("bad name", "1")])).is_none());
        assert!(headers_of(&pairs(&[("x-a", "line\nbreak")])).is_none());
    }

    /// A target answering an endless body: `fetch` keeps the cap and returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fetch_keeps_at_most_the_cap_of_an_endless_answer() {
        use http_body_util::StreamBody;
        use hyper::body::Frame;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                        let endless = futures_util::stream::repeat_with(move || {
                            Ok::<_, std::convert::Infallible>(Frame::data(chunk.clone()))
                        });
                        Ok::<_, std::convert::Infallible>(http::Response::new(StreamBody::new(
                            endless,
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let url = format!("http://{addr}");
        let mut pools = Pools::new(1);
        let target =
            crate::scenario::deployment::target("t", &url, 10_000, &mut pools).expect("target");
        let (status, _, body) = fetch(&target, Method::GET, "/", HeaderMap::new(), Bytes::new())
            .await
            .expect("answered");
        assert_eq!(status, 200);
        assert_eq!(body.len(), FETCH_MAX_BYTES);
    }
}
