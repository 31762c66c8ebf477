//! Calls whose answer nobody waits on: shadow copies, and every call in mirror-target mode.
//!
//! Owns sending one buffered request to one target under that target's timeout, reading
//! the answer up to the capture cap, and turning the result into an [`Outcome`]. Always run
//! inside a spawned task holding a shadow permit; never on the client's path.

use std::sync::Arc;
use std::time::Instant;

use http::Request;

use super::budget::{MemoryBudget, over_budget};
use super::capture::micros;
use super::forward::{ForwardBody, Target, classify, classify_hyper, collect_capped, to_headers};
use super::metrics::Metrics;
use crate::exchange::{Body, Failure, FailureKind, Outcome, OutcomeResult, RecordedResponse};

/// Send `req` to `target` and record what happened. The captured body is reserved in
/// `budget`; when the budget cannot hold it the outcome is [`super::budget::over_budget`]
/// (the exchange is then dropped and counted, not analysed).
pub async fn call(
    target: &Target,
    req: Request<ForwardBody>,
    cap: usize,
    budget: &Arc<MemoryBudget>,
    metrics: &Metrics,
    route: Option<usize>,
) -> Outcome {
    metrics.request(route, target.index);
    let started = Instant::now();
    let exchange = async {
        let resp = target
            .pool
            .send(req)
            .await
            .map_err(|e| (classify(&e), error_chain(&e)))?;
        let ttfb_us = micros(started.elapsed());
        metrics.latency(target.index, ttfb_us);
        let (parts, body) = resp.into_parts();
        let got = collect_capped(body, cap, Some(Arc::clone(budget)))
            .await
            .map_err(|e| (classify_hyper(&e), error_chain(&e)))?;
        if got.over_budget {
            return Ok(None);
        }
        Ok::<_, (FailureKind, String)>(Some(RecordedResponse {
            status: parts.status.as_u16(),
            headers: to_headers(&parts.headers),
            body: Body(got.bytes),
            truncated: got.truncated,
            ttfb_us,
            total_us: micros(started.elapsed()),
        }))
    };
    let result = match tokio::time::timeout(target.timeout, exchange).await {
        Ok(Ok(Some(response))) => OutcomeResult::Response(response),
        Ok(Ok(None)) => over_budget(micros(started.elapsed())),
        Ok(Err((kind, message))) => failure(metrics, target, kind, started, message),
        Err(_) => failure(
            metrics,
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

fn failure(
    metrics: &Metrics,
    target: &Target,
    kind: FailureKind,
    started: Instant,
    message: String,
) -> OutcomeResult {
    metrics.error(target.index, kind);
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
