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
use crate::upstream::forward::{ForwardBody, build_request};
use crate::upstream::{Pools, Target};

/// The attack's targets by name, resolved before it starts (targets on one origin share
/// their pool).
#[derive(Debug, Default)]
pub struct Upstreams {
    by_name: HashMap<String, Target>,
}

/// An answer as the load stage needs it: the status, and the head and body when asked.
pub struct Answered {
    pub status: u16,
    pub kept: Option<(HeaderMap, Bytes)>,
}

impl Upstreams {
    /// Resolve every target (by name; the first URL given for a name wins) with
    /// `timeout` as each request's limit, answer read to the end included.
    pub fn resolve<'a>(
        targets: impl IntoIterator<Item = &'a TargetRef>,
        timeout: Duration,
    ) -> Result<Upstreams, String> {
        let timeout_ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut pools = Pools::new(1);
        let mut by_name = HashMap::new();
        for t in targets {
            if by_name.contains_key(&t.name) {
                continue;
            }
            let target =
                crate::scenario::deployment::target(&t.name, &t.url, timeout_ms, &mut pools)?;
            by_name.insert(t.name.clone(), target);
        }
        Ok(Upstreams { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Target> {
        self.by_name.get(name)
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
}
