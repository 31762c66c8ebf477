//! Mirror-target mode (behind NGINX `mirror`): every request is already a copy, so cutover
//! answers `204` at once and calls every target — the primary included — from a task.
//! In this mode the primary's call is ordered per identity like the shadows' ([`super::order`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use super::Shared;
use super::capture::{Buffered, ClientBody, buffer_request};
use super::handler::{Mirror, dropped, no_content, record_request};
use super::logs::{mirror_note, route_pattern};
use super::metrics::NotMirrored;
use super::shadow::spawn_shadows;
use crate::exchange::OutcomeResult;
use crate::upstream;
use crate::upstream::forward::{ForwardBody, build_request, origin_form, upstream_headers};

/// Mirror-target mode: answer 204 at once, then call every target from a task.
pub(super) async fn mirror_target(
    shared: Arc<Shared>,
    peer: SocketAddr,
    xff: HeaderValue,
    req: Request<Incoming>,
) -> Response<ClientBody> {
    let at = Utc::now();
    let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
    let (mut parts, body) = req.into_parts();
    let route = shared.route_index(parts.uri.path());
    let log = |note: &str| {
        let pq = origin_form(&parts.uri);
        let pattern = route_pattern(&shared, route);
        shared
            .logs
            .request(&parts.method, pq.as_str(), pattern, 204, 0, note);
    };
    let decided = shared
        .decide(route, &parts.method, &parts.headers, 2)
        .and_then(|(r, permit)| {
            let (ticket, identity) = shared.admit(r, &parts.headers, peer, true)?;
            Ok((r, permit, ticket, identity))
        });
    let (r, permit, mut ticket, identity) = match decided {
        Ok(x) => x,
        Err(reason) => {
            if let Some(r) = route {
                shared.metrics.not_mirrored(r, reason);
            }
            log(mirror_note(route, reason));
            return no_content();
        }
    };
    let bytes = match buffer_request(body, shared.max_body).await {
        Ok(Buffered::Complete(b)) => b,
        Ok(Buffered::Overflow { .. }) => {
            shared.metrics.not_mirrored(r, NotMirrored::BodyTooLarge);
            log(NotMirrored::BodyTooLarge.as_str());
            return no_content();
        }
        Err(_) => {
            log("bad_request_body");
            return no_content();
        }
    };
    shared.metrics.mirrored(r);
    log("yes");
    let pq = origin_form(&parts.uri);
    let recorded = record_request(&parts.method, &pq, &parts.headers, bytes.clone());
    let headers = upstream_headers(std::mem::take(&mut parts.headers), &parts.uri, &xff);
    let (tx, rx) = tokio::sync::oneshot::channel::<OutcomeResult>();
    let primary_req = build_request(
        &shared.primary,
        &parts.method,
        &pq,
        headers.clone(),
        ForwardBody::full(bytes.clone()),
        None,
    );
    let task_shared = Arc::clone(&shared);
    let primary_lane = ticket.as_mut().and_then(|t| t.take(shared.primary.index));
    tokio::spawn(async move {
        let s = &task_shared;
        let mut lane = primary_lane;
        if let Some(l) = lane.as_mut() {
            l.turn().await;
        }
        let result = match primary_req {
            Ok(req) => {
                upstream::call(&s.primary, req, &s.limits(), &s.observed(r))
                    .await
                    .result
            }
            Err(e) => dropped(&e.to_string()),
        };
        drop(lane);
        let _ = tx.send(result);
    });
    let m = Mirror {
        route: r,
        permit,
        recorded,
        body: bytes,
        at,
        seq,
        ticket,
        identity,
    };
    spawn_shadows(&shared, m, &parts.method, &pq, &headers, rx);
    no_content()
}
