//! The shadow task of one mirrored request: each copy built (or, with `[translate]`,
//! prepared for its target), sent in its identity's order, the primary's outcome awaited,
//! what the answers teach learned, and one exchange submitted. Never on the client's path:
//! the handler only spawns it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request};

use super::Shared;
use super::handler::{Mirror, dropped};
use crate::exchange::{Exchange, FailureKind, Outcome, OutcomeResult, Outcomes, RecordedRequest};
use crate::upstream;
use crate::upstream::forward::{ForwardBody, build_request};

/// One task per mirrored request: call the shadows, wait for the primary's outcome, submit.
/// With `[translate]`, each copy is prepared for its target inside the task
/// ([`super::translate`]), and what the answers teach is learned before submitting.
pub(super) fn spawn_shadows(
    shared: &Arc<Shared>,
    m: Mirror,
    method: &Method,
    pq: &PathAndQuery,
    headers: &HeaderMap,
    primary: tokio::sync::oneshot::Receiver<OutcomeResult>,
) {
    let shared = Arc::clone(shared);
    let learning = shared.learning.clone();
    // Registered on arrival (no wait): later copies wait for its primary answer.
    let inflight = learning
        .as_ref()
        .filter(|_| !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS))
        .and_then(|l| l.begin(m.seq));
    // Without translation, copies are built here; with it, in the task once prepared.
    let eager = learning.is_none();
    // A route with no candidate is mirrored to the secondary alone (an A/A check).
    let candidate = shared.route_candidates[m.route]
        .as_ref()
        .filter(|_| eager)
        .map(|t| shadow_request(t, method, pq, headers, &m.body, "candidate"));
    let secondary = shared.secondary.as_ref().filter(|_| eager).map(|s| {
        build_request(
            s,
            method,
            pq,
            headers.clone(),
            ForwardBody::full(m.body.clone()),
            Some("secondary"),
        )
    });
    let copy = (!eager).then(|| (method.clone(), pq.clone(), headers.clone()));
    let route_label = format!("{method} {}", pq.path());
    tokio::spawn(async move {
        let Mirror {
            route,
            permit,
            recorded,
            body,
            at,
            seq,
            mut ticket,
            identity,
        } = m;
        let cand_target = shared.route_candidates[route].as_ref();
        let cand_lane = match (ticket.as_mut(), cand_target) {
            (Some(t), Some(c)) => t.take(c.index),
            _ => None,
        };
        let sec_lane = match (ticket.as_mut(), shared.secondary.as_ref()) {
            (Some(t), Some(s)) => t.take(s.index),
            _ => None,
        };
        let (l, c) = (learning.as_deref(), copy.as_ref());
        let cand = async {
            let cand_target = cand_target?;
            // Moved in: dropped once this copy completed, which lets the next one go.
            let mut lane = cand_lane;
            if let Some(l) = lane.as_mut() {
                l.turn().await;
            }
            let (req, tr) = match candidate {
                Some(r) => (r.map_err(|e| dropped(&e.to_string())), None),
                None => prepared(l, c, cand_target, "candidate", &body, seq, route).await,
            };
            let outcome = match req {
                Ok(req) => {
                    upstream::call(cand_target, req, &shared.limits(), &shared.observed(route))
                        .await
                }
                Err(result) => Outcome {
                    target: cand_target.name.clone(),
                    result,
                },
            };
            Some((outcome, tr))
        };
        let sec = async {
            let t = shared.secondary.as_ref()?;
            let mut lane = sec_lane;
            if let Some(l) = lane.as_mut() {
                l.turn().await;
            }
            let (req, tr) = match secondary {
                Some(r) => (r.map_err(|e| dropped(&e.to_string())), None),
                // Boxed: most deployments have no secondary, and an inline slot for its
                // call would sit in every in-flight shadow task.
                None => Box::pin(prepared(l, c, t, "secondary", &body, seq, route)).await,
            };
            let outcome = match req {
                Ok(req) => {
                    Box::pin(upstream::call(
                        t,
                        req,
                        &shared.limits(),
                        &shared.observed(route),
                    ))
                    .await
                }
                Err(result) => Outcome {
                    target: t.name.clone(),
                    result,
                },
            };
            Some((outcome, tr))
        };
        // The primary's answer: what it issued is announced before the write leaves the
        // in-flight set, so a copy presenting it waits until it is learned.
        let primary = async {
            let result = primary.await;
            let announced = match (learning.as_ref(), inflight.as_ref(), result.as_ref()) {
                (Some(l), Some(i), Ok(r)) => Some(l.announce(
                    i.seq(),
                    super::translate::issued_keys(
                        l,
                        &recorded_method(&recorded),
                        path_of(&recorded),
                        r,
                    ),
                )),
                _ => None,
            };
            drop(inflight);
            (result, announced)
        };
        let (candidate, secondary, (primary, announced)) = tokio::join!(cand, sec, primary);
        let primary = Outcome {
            target: shared.primary.name.clone(),
            result: primary.unwrap_or_else(|_| dropped("primary outcome lost")),
        };
        if primary
            .failure()
            .is_some_and(|f| f.kind == FailureKind::ClientAborted)
        {
            shared.drops.client_aborted(route);
        }
        drop(ticket);
        let (candidate, cand_tr) = candidate.map_or((None, None), |(o, t)| (Some(o), t));
        let (secondary, sec_tr) = secondary.map_or((None, None), |(o, t)| (Some(o), t));
        let mut translation: Vec<_> = cand_tr.into_iter().chain(sec_tr).collect();
        if let (Some(l), Some((method, pq, headers))) = (learning.as_deref(), copy.as_ref()) {
            let shadows: Vec<&Outcome> = candidate.iter().chain(secondary.iter()).collect();
            let sent = super::translate::Sent {
                method,
                path: pq.path(),
                headers,
                body: &body,
            };
            super::translate::learn(l, sent, &primary, &shadows, &mut translation);
        }
        // Learned: copies waiting for what this exchange issued may go.
        drop(announced);
        let exchange = Exchange {
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            seq,
            identity,
            at,
            route: route_label,
            request: recorded,
            outcomes: Outcomes {
                primary,
                secondary,
                candidate,
            },
            translation,
        };
        shared.submit(exchange, route);
        drop(permit);
    });
}

/// The copy of a request for `target`, prepared by [`super::translate::prepare_copy`].
async fn prepared(
    learning: Option<&super::learn::Learning>,
    copy: Option<&(Method, PathAndQuery, HeaderMap)>,
    target: &upstream::Target,
    role: &'static str,
    body: &bytes::Bytes,
    seq: u64,
    route: usize,
) -> (
    Result<Request<ForwardBody>, OutcomeResult>,
    Option<crate::exchange::TargetTranslation>,
) {
    match (learning, copy) {
        (Some(l), Some((method, pq, headers))) => {
            super::translate::prepare_copy(l, target, role, method, pq, headers, body, seq, route)
                .await
        }
        _ => (Err(dropped("no copy was built")), None),
    }
}

fn recorded_method(r: &RecordedRequest) -> Method {
    Method::from_bytes(r.method.as_bytes()).unwrap_or(Method::GET)
}

fn path_of(r: &RecordedRequest) -> &str {
    r.uri.split(['?', '#']).next().unwrap_or("")
}

fn shadow_request(
    target: &upstream::Target,
    method: &Method,
    pq: &PathAndQuery,
    headers: &HeaderMap,
    body: &bytes::Bytes,
    role: &'static str,
) -> Result<Request<ForwardBody>, http::Error> {
    build_request(
        target,
        method,
        pq,
        headers.clone(),
        ForwardBody::full(body.clone()),
        Some(role),
    )
}
