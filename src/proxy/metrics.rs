//! The proxy's counters and latency histograms, and their Prometheus text rendering.
//!
//! Owns lock-free counters indexed by route and target (label sets are fixed at start-up
//! from the configuration, so the hot path only does atomic adds; the latency histograms are
//! 15 fixed buckets per target, whatever the traffic). Rendering reads the shared
//! [`Aggregate`] (by reference, under its lock: never cloned) and [`PipelineStats`] too;
//! per-route series are bounded by `[grouping] max_routes` + 1 (the overflow route). This
//! module never does I/O and never sees a request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::exchange::FailureKind;
use crate::pipeline::{Aggregate, PipelineStats};

/// Why a request that matched a route was not mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMirrored {
    /// Lost the per-route `sample` draw.
    SampledOut,
    /// A write method on a route without `mirror_writes`.
    Method,
    /// Request body over `max_body_bytes`.
    BodyTooLarge,
    /// `max_in_flight_shadows` reached.
    Capacity,
    /// The request is itself a shadow copy (`x-cutover-shadow`): mirroring it again could
    /// loop, e.g. when a candidate URL points back at a cutover.
    ShadowCopy,
    /// A protocol upgrade (WebSocket, ...): tunnelled to the primary, never mirrored.
    Upgrade,
    /// The client identity already had `[identity] max_queued_per_identity` ordered copies
    /// waiting or in flight.
    IdentityQueueFull,
    /// `[identity] max_identities` identities already had ordered copies waiting or in
    /// flight.
    IdentitiesFull,
}

impl NotMirrored {
    pub const ALL: [NotMirrored; 8] = [
        NotMirrored::SampledOut,
        NotMirrored::Method,
        NotMirrored::BodyTooLarge,
        NotMirrored::Capacity,
        NotMirrored::ShadowCopy,
        NotMirrored::Upgrade,
        NotMirrored::IdentityQueueFull,
        NotMirrored::IdentitiesFull,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            NotMirrored::SampledOut => "sampled_out",
            NotMirrored::Method => "method",
            NotMirrored::BodyTooLarge => "body_too_large",
            NotMirrored::Capacity => "capacity",
            NotMirrored::ShadowCopy => "shadow_copy",
            NotMirrored::Upgrade => "upgrade",
            NotMirrored::IdentityQueueFull => "identity_queue_full",
            NotMirrored::IdentitiesFull => "identities_full",
        }
    }
}

const KINDS: [FailureKind; 6] = [
    FailureKind::Connect,
    FailureKind::Timeout,
    FailureKind::Reset,
    FailureKind::Protocol,
    FailureKind::Dropped,
    FailureKind::ClientAborted,
];

fn kind_index(k: FailureKind) -> usize {
    match k {
        FailureKind::Connect => 0,
        FailureKind::Timeout => 1,
        FailureKind::Reset => 2,
        FailureKind::Protocol => 3,
        FailureKind::Dropped => 4,
        FailureKind::ClientAborted => 5,
        // Never an upstream call's outcome; counted with `dropped` should one appear.
        FailureKind::Untranslated => 4,
    }
}

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// A Prometheus histogram with fixed buckets and atomic counts.
#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        let i = BUCKETS_US.partition_point(|&b| b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// All proxy counters.
#[derive(Debug)]
pub struct Metrics {
    /// Route patterns; index `routes.len()` is "no route".
    routes: Vec<String>,
    targets: Vec<String>,
    requests: Vec<AtomicU64>,
    mirrored: Vec<AtomicU64>,
    not_mirrored: Vec<AtomicU64>,
    errors: Vec<AtomicU64>,
    latency: Vec<Histogram>,
    /// Exchanges dropped because their captures did not fit the shadow memory budget.
    dropped_shadow_memory: AtomicU64,
    /// Exchanges dropped because a shadow found no free connection before its deadline.
    dropped_shadow_connections: AtomicU64,
}

fn zeros(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Metrics {
    pub fn new(routes: Vec<String>, targets: Vec<String>) -> Metrics {
        let r = routes.len() + 1;
        let t = targets.len();
        Metrics {
            requests: zeros(r * t),
            mirrored: zeros(r),
            not_mirrored: zeros(r * NotMirrored::ALL.len()),
            errors: zeros(t * KINDS.len()),
            latency: (0..t).map(|_| Histogram::default()).collect(),
            dropped_shadow_memory: AtomicU64::new(0),
            dropped_shadow_connections: AtomicU64::new(0),
            routes,
            targets,
        }
    }

    /// Index used for requests that matched no route.
    pub fn no_route(&self) -> usize {
        self.routes.len()
    }

    fn route_slot(&self, route: Option<usize>) -> usize {
        route.unwrap_or(self.routes.len()).min(self.routes.len())
    }

    pub fn request(&self, route: Option<usize>, target: usize) {
        let i = self.route_slot(route) * self.targets.len() + target;
        if let Some(c) = self.requests.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn mirrored(&self, route: usize) {
        if let Some(c) = self.mirrored.get(route) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn not_mirrored(&self, route: usize, reason: NotMirrored) {
        let r = NotMirrored::ALL
            .iter()
            .position(|x| *x == reason)
            .unwrap_or(0);
        if let Some(c) = self.not_mirrored.get(route * NotMirrored::ALL.len() + r) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn error(&self, target: usize, kind: FailureKind) {
        if let Some(c) = self.errors.get(target * KINDS.len() + kind_index(kind)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An exchange dropped because a capture did not fit `max_shadow_memory_bytes`.
    pub fn dropped_shadow_memory(&self) {
        self.dropped_shadow_memory.fetch_add(1, Ordering::Relaxed);
    }

    /// Exchanges dropped for lack of shadow memory so far.
    pub fn dropped_for_memory(&self) -> u64 {
        self.dropped_shadow_memory.load(Ordering::Relaxed)
    }

    /// An exchange dropped because a shadow waited out `max_shadow_connections_per_target`.
    pub fn dropped_shadow_connections(&self) -> u64 {
        1 + self
            .dropped_shadow_connections
            .fetch_add(1, Ordering::Relaxed)
    }

    /// Exchanges dropped for lack of a shadow connection so far.
    pub fn dropped_for_connections(&self) -> u64 {
        self.dropped_shadow_connections.load(Ordering::Relaxed)
    }

    /// Time from sending a request to its response head.
    pub fn latency(&self, target: usize, us: u64) {
        if let Some(h) = self.latency.get(target) {
            h.observe(us);
        }
    }

    fn get(v: &[AtomicU64], i: usize) -> u64 {
        v.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Per-route counters for the shutdown summary.
    pub fn route_counts(&self, route: usize) -> (u64, u64, BTreeMap<&'static str, u64>) {
        let requests = (0..self.targets.len())
            .map(|t| Self::get(&self.requests, route * self.targets.len() + t))
            .max()
            .unwrap_or(0);
        let mirrored = Self::get(&self.mirrored, route);
        let not = NotMirrored::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.as_str(),
                    Self::get(&self.not_mirrored, route * NotMirrored::ALL.len() + i),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        (requests, mirrored, not)
    }

    pub fn errors_of(&self, target: usize) -> u64 {
        (0..KINDS.len())
            .map(|k| Self::get(&self.errors, target * KINDS.len() + k))
            .sum()
    }

    pub fn route_names(&self) -> &[String] {
        &self.routes
    }

    fn route_label(&self, i: usize) -> &str {
        self.routes.get(i).map_or("none", |s| s.as_str())
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(
        &self,
        aggregate: &Aggregate,
        stats: &PipelineStats,
        shadows_in_flight: usize,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let t = self.targets.len();
        let families: [(&str, &str, &str); 7] = [
            (
                "cutover_requests_total",
                "counter",
                "Requests sent to each target, per route (route=\"none\": matched no route).",
            ),
            (
                "cutover_mirrored_total",
                "counter",
                "Requests mirrored to the route's shadows.",
            ),
            (
                "cutover_not_mirrored_total",
                "counter",
                "Requests that matched a route but were not mirrored, by reason.",
            ),
            (
                "cutover_exchanges_dropped_total",
                "counter",
                "Exchanges not analysed, by reason.",
            ),
            (
                "cutover_upstream_errors_total",
                "counter",
                "Transport failures per target and kind.",
            ),
            (
                "cutover_comparisons_total",
                "counter",
                "Analysed exchanges per route and verdict (match, mismatch, not_compared).",
            ),
            (
                "cutover_shadows_in_flight",
                "gauge",
                "Exchanges whose shadow work is still running.",
            ),
        ];
        let header = |out: &mut String, i: usize| {
            let (name, kind, help) = families[i];
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(&mut out, 0);
        for r in 0..=self.routes.len() {
            for (ti, target) in self.targets.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "cutover_requests_total{{route=\"{}\",target=\"{}\"}} {}",
                    escape(self.route_label(r)),
                    escape(target),
                    Self::get(&self.requests, r * t + ti)
                );
            }
        }
        header(&mut out, 1);
        for r in 0..self.routes.len() {
            let _ = writeln!(
                out,
                "cutover_mirrored_total{{route=\"{}\"}} {}",
                escape(self.route_label(r)),
                Self::get(&self.mirrored, r)
            );
        }
        header(&mut out, 2);
        for r in 0..self.routes.len() {
            for (i, reason) in NotMirrored::ALL.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "cutover_not_mirrored_total{{route=\"{}\",reason=\"{}\"}} {}",
                    escape(self.route_label(r)),
                    reason.as_str(),
                    Self::get(&self.not_mirrored, r * NotMirrored::ALL.len() + i)
                );
            }
        }
        header(&mut out, 3);
        let _ = writeln!(
            out,
            "cutover_exchanges_dropped_total{{reason=\"analysis_queue_full\"}} {}",
            stats.dropped_queue_full.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "cutover_exchanges_dropped_total{{reason=\"analysis_queue_bytes\"}} {}\n\
             cutover_exchanges_dropped_total{{reason=\"shadow_memory\"}} {}\n\
             cutover_exchanges_dropped_total{{reason=\"shadow_connections\"}} {}",
            stats.dropped_queue_bytes.load(Ordering::Relaxed),
            self.dropped_for_memory(),
            self.dropped_for_connections()
        );
        header(&mut out, 4);
        for (ti, target) in self.targets.iter().enumerate() {
            for (k, kind) in KINDS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "cutover_upstream_errors_total{{target=\"{}\",kind=\"{}\"}} {}",
                    escape(target),
                    kind.as_str(),
                    Self::get(&self.errors, ti * KINDS.len() + k)
                );
            }
        }
        header(&mut out, 5);
        for (route, s) in &aggregate.routes {
            for (verdict, n) in [
                ("match", s.matched),
                ("mismatch", s.mismatched),
                ("not_compared", s.not_compared),
            ] {
                let _ = writeln!(
                    out,
                    "cutover_comparisons_total{{route=\"{}\",verdict=\"{verdict}\"}} {n}",
                    escape(route.as_str())
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cutover_candidate_errors_total Candidate answers with a 5xx status \
             (kind=\"5xx\") and transport failures (kind=\"transport\"), per route.\n\
             # TYPE cutover_candidate_errors_total counter"
        );
        for (route, s) in &aggregate.routes {
            for (kind, n) in [("5xx", s.candidate_5xx), ("transport", s.candidate_errors)] {
                let _ = writeln!(
                    out,
                    "cutover_candidate_errors_total{{route=\"{}\",kind=\"{kind}\"}} {n}",
                    escape(route.as_str())
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cutover_baseline_unhealthy_total Exchanges whose secondary answered another \
             status class than the primary (or failed): not used to learn noise.\n\
             # TYPE cutover_baseline_unhealthy_total counter"
        );
        for (route, s) in &aggregate.routes {
            let n: u64 = s.unhealthy_baseline.values().sum();
            if n > 0 {
                let _ = writeln!(
                    out,
                    "cutover_baseline_unhealthy_total{{route=\"{}\"}} {n}",
                    escape(route.as_str())
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cutover_routes Routes in the live aggregate (the overflow route included); \
             at most max_routes + 1.\n# TYPE cutover_routes gauge\ncutover_routes {}",
            aggregate.routes.len()
        );
        let _ = writeln!(
            out,
            "# HELP cutover_routes_max The route cap ([grouping] max_routes).\n\
             # TYPE cutover_routes_max gauge\ncutover_routes_max {}",
            aggregate.max_routes
        );
        let _ = writeln!(
            out,
            "# HELP cutover_route_overflow_exchanges_total Exchanges folded into the route \
             \"{}\" because max_routes was reached.\n\
             # TYPE cutover_route_overflow_exchanges_total counter\n\
             cutover_route_overflow_exchanges_total {}",
            crate::pipeline::aggregate::OVERFLOW_ROUTE,
            aggregate.overflow_exchanges()
        );
        header(&mut out, 6);
        let _ = writeln!(out, "cutover_shadows_in_flight {shadows_in_flight}");
        let _ = writeln!(
            out,
            "# HELP cutover_pipeline_analysed_total Exchanges analysed by the pipeline.\n\
             # TYPE cutover_pipeline_analysed_total counter\n\
             cutover_pipeline_analysed_total {}",
            stats.analysed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cutover_upstream_latency_seconds Time from sending a request to the \
             target's response head.\n# TYPE cutover_upstream_latency_seconds histogram"
        );
        for (ti, target) in self.targets.iter().enumerate() {
            let Some(h) = self.latency.get(ti) else {
                continue;
            };
            let target = escape(target);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS_US.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "cutover_upstream_latency_seconds_bucket{{target=\"{target}\",le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            cumulative += h.buckets[BUCKETS_US.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "cutover_upstream_latency_seconds_bucket{{target=\"{target}\",le=\"+Inf\"}} {cumulative}\n\
                 cutover_upstream_latency_seconds_sum{{target=\"{target}\"}} {}\n\
                 cutover_upstream_latency_seconds_count{{target=\"{target}\"}} {cumulative}",
                h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
        out
    }
}

/// Escape a label value (backslash, double quote, newline).
pub(super) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
