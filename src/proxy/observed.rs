//! What a proxy's upstream call carries: the capture cap and memory budget it may hold
//! ([`Shared::limits`]) and the metrics that observe it ([`Observed`]).
//!
//! Owns nothing but that glue between the proxy's state and [`crate::upstream::call`];
//! never sends anything.

use super::Shared;
use super::metrics::Metrics;
use crate::exchange::FailureKind;

impl Shared {
    /// What one upstream call may hold: the capture cap, in the shadow memory budget.
    pub(super) fn limits(&self) -> crate::upstream::Limits<'_> {
        crate::upstream::Limits {
            cap: self.max_body,
            budget: Some(&self.memory),
        }
    }

    /// The metrics, observing a call on `route`.
    pub(super) fn observed(&self, route: usize) -> Observed<'_> {
        Observed {
            metrics: &self.metrics,
            route: Some(route),
        }
    }
}

/// The proxy's metrics as the observer of one upstream call on a route.
pub(crate) struct Observed<'a> {
    pub metrics: &'a Metrics,
    pub route: Option<usize>,
}

impl crate::upstream::Observer for Observed<'_> {
    fn request(&self, target: usize) {
        self.metrics.request(self.route, target);
    }
    fn latency(&self, target: usize, ttfb_us: u64) {
        self.metrics.latency(target, ttfb_us);
    }
    fn error(&self, target: usize, kind: FailureKind) {
        self.metrics.error(target, kind);
    }
}
