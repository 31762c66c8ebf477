//! One request to one target, read to the end (or the cap) → an [`Outcome`].
//!
//! Owns sending one buffered request under the target's timeout, reading the answer up to
//! the capture cap inside an optional memory budget, and turning the result into an
//! [`Outcome`]. Counting is left to an [`Observer`] (the proxy's metrics; `()` for none).
//! This module never streams an answer to anyone: a caller that must answer a client as the
//! bytes arrive (the proxy's primary) uses [`super::pool::Pool::send`] directly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;

use super::budget::{MemoryBudget, over_budget};
use super::cap::connection_capped;
use super::forward::{ForwardBody, Target, classify, classify_hyper, collect_capped, to_headers};
use super::pool::UpstreamError;
use crate::exchange::{Body, Failure, FailureKind, Outcome, OutcomeResult, RecordedResponse};

/// What one [`call`] may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// The most bytes of the answer's body kept; the rest is drained or the connection
    /// closed ([`super::forward::collect_capped`]).
    pub cap: usize,
    /// Where the kept bytes are reserved; `None`: unaccounted.
    pub budget: Option<&'a Arc<MemoryBudget>>,
}

/// Told what a [`call`] does, for counting. Every method has a no-op default; `()` is the
/// observer that counts nothing.
pub trait Observer {
    /// A request is about to be sent to the target with metrics index `target`.
    fn request(&self, _target: usize) {}
    /// Its response head arrived after `ttfb_us`.
    fn latency(&self, _target: usize, _ttfb_us: u64) {}
    /// It failed in transport (connect, TLS, reset, protocol, timeout).
    fn error(&self, _target: usize, _kind: FailureKind) {}
}

impl Observer for () {}

/// Send `req` to `target` and record what happened. The captured body is reserved in
/// `limits.budget`; when the budget cannot hold it the outcome is
/// [`super::budget::over_budget`] (the proxy then drops and counts the exchange). On a
/// target with a connection cap whose connections stay busy until the timeout, the outcome
/// is [`super::cap::connection_capped`] (dropped and counted the same way).
pub async fn call<O: Observer + ?Sized>(
    target: &Target,
    req: Request<ForwardBody>,
    limits: &Limits<'_>,
    observer: &O,
) -> Outcome {
    observer.request(target.index);
    let started = Instant::now();
    let cap = limits.cap;
    let budget = limits.budget;
    // A capped pool's wait for a connection ends at the same deadline as the call; the
    // inner future is polled first, so a wait running out reports the cap, not a timeout.
    let deadline = started + target.timeout;
    let exchange = async {
        let resp = match target.pool.send_until(req, Some(deadline)).await {
            Ok(resp) => resp,
            Err(UpstreamError::ConnectionCap { .. }) => return Ok(Capped::Connection),
            Err(e) => return Err((classify(&e), error_chain(&e))),
        };
        let ttfb_us = micros(started.elapsed());
        observer.latency(target.index, ttfb_us);
        let (parts, body) = resp.into_parts();
        let got = collect_capped(body, cap, budget.map(Arc::clone))
            .await
            .map_err(|e| (classify_hyper(&e), error_chain(&e)))?;
        if got.over_budget {
            return Ok(Capped::Memory);
        }
        Ok::<_, (FailureKind, String)>(Capped::No(RecordedResponse {
            status: parts.status.as_u16(),
            headers: to_headers(&parts.headers),
            body: Body(got.bytes),
            truncated: got.truncated,
            ttfb_us,
            total_us: micros(started.elapsed()),
        }))
    };
    let result = match tokio::time::timeout_at(deadline.into(), exchange).await {
        Ok(Ok(Capped::No(response))) => OutcomeResult::Response(response),
        Ok(Ok(Capped::Memory)) => over_budget(micros(started.elapsed())),
        Ok(Ok(Capped::Connection)) => connection_capped(micros(started.elapsed())),
        Ok(Err((kind, message))) => failure(observer, target, kind, started, message),
        Err(_) => failure(
            observer,
            target,
            FailureKind::Timeout,
            started,
            format!(
                "no complete answer within {} ms",
                target.timeout.as_millis()
            ),
        ),
    };
    Outcome {
        target: target.name.clone(),
        result,
    }
}

/// A call's answer, or the bound that stopped it (neither is a failure of the target).
enum Capped {
    No(RecordedResponse),
    /// The capture did not fit in the memory budget.
    Memory,
    /// No connection was free before the deadline.
    Connection,
}

fn failure<O: Observer + ?Sized>(
    observer: &O,
    target: &Target,
    kind: FailureKind,
    started: Instant,
    message: String,
) -> OutcomeResult {
    observer.error(target.index, kind);
    OutcomeResult::Failure(Failure {
        kind,
        elapsed_us: micros(started.elapsed()),
        message,
    })
}

/// An error and its sources on one line: `client error (Connect): tcp connect error: ...`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
