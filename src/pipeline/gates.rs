//! Gates: every pass/fail rule of a run, in one place, evaluated from per-route figures into
//! typed [`GateResult`]s with their numbers. Pure: no I/O, no clock, no formatting beyond
//! the one sentence each result carries for people.
//!
//! The rules (`[triggers]` and each route's `parity_threshold`):
//! - **parity** fails when the route's parity is below its threshold.
//! - **latency_p95** fails when the candidate's P95 exceeds `p95_ms`.
//! - **latency_increase** fails when the candidate's P95 is more than `p95_increase_pct`
//!   *and* more than [`LATENCY_FLOOR_MS`] over the baseline. The baseline is the primary's
//!   P95; when a secondary (the same code as the primary) has at least
//!   [`LATENCY_MIN_SAMPLES`] samples, it is the higher of the primary's and the
//!   secondary's P95 — a rise the secondary shows as well is the machine, not the candidate.
//! - **error_rate** fails when the candidate's error rate (5xx answers plus transport
//!   failures, over its requests) is above `error_rate_pct` *and* above the primary's rate
//!   over the same requests (errors the primary gives too are the monolith's; parity covers
//!   whether the candidate answers them alike).
//!
//! Latency gates are evaluated only with at least [`LATENCY_MIN_SAMPLES`] candidate
//! samples, the error-rate gate only when the candidate had requests.

use serde::{Deserialize, Serialize};

use crate::config::Triggers;

/// Minimum absolute P95 increase before a relative increase counts: below it, loopback
/// jitter on sub-millisecond answers would trip the +20 % trigger on its own.
pub const LATENCY_FLOOR_MS: f64 = 50.0;
/// Fewer candidate samples than this and no latency verdict is given.
pub const LATENCY_MIN_SAMPLES: u64 = 10;

/// Which rule a result is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    Parity,
    LatencyP95,
    LatencyIncrease,
    ErrorRate,
    /// Contract violations (`[contracts] fail_on`); evaluated by the report.
    Contract,
}

impl GateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::Parity => "parity",
            GateKind::LatencyP95 => "latency_p95",
            GateKind::LatencyIncrease => "latency_increase",
            GateKind::ErrorRate => "error_rate",
            GateKind::Contract => "contract",
        }
    }

    pub fn is_latency(self) -> bool {
        matches!(self, GateKind::LatencyP95 | GateKind::LatencyIncrease)
    }
}

/// One evaluated rule with the numbers it was decided on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: GateKind,
    /// True when the rule failed the route.
    pub fired: bool,
    /// The candidate's figure: parity %, P95 ms, error rate %.
    pub value: f64,
    /// The limit it was held to, in the same unit (for `latency_increase`, the P95 the
    /// candidate may reach: the baseline plus the allowed % and at least the 50 ms floor).
    pub limit: f64,
    /// `%` or `ms`.
    pub unit: String,
    /// The primary's figure in the same unit, when there is one (P95, error rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<f64>,
    /// The secondary's figure, when one was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<f64>,
    /// One sentence with the numbers.
    pub message: String,
}

/// What the gates of one route are decided on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteFigures {
    pub parity: f64,
    pub parity_threshold: f64,
    pub compared: u64,
    pub mismatched: u64,
    pub primary_p95_ms: f64,
    pub candidate_p95_ms: f64,
    pub candidate_latency_samples: u64,
    /// The secondary's P95 and sample count (0 without a secondary).
    pub secondary_p95_ms: f64,
    pub secondary_latency_samples: u64,
    /// Candidate outcomes, and of them 5xx answers plus transport failures.
    pub candidate_requests: u64,
    pub candidate_errors: u64,
    /// The primary's outcomes for the same exchanges, and its 5xx plus failures.
    pub primary_requests: u64,
    pub primary_errors: u64,
}

/// Every rule that applies to a route, fired or not, in a fixed order.
pub fn evaluate(f: &RouteFigures, triggers: &Triggers) -> Vec<GateResult> {
    let mut out = vec![parity(f)];
    if f.candidate_latency_samples >= LATENCY_MIN_SAMPLES {
        out.extend(latency(f, triggers));
    }
    if f.candidate_requests > 0 {
        out.push(error_rate(f, triggers));
    }
    out
}

/// True when any result fired.
pub fn failed(results: &[GateResult]) -> bool {
    results.iter().any(|r| r.fired)
}

fn parity(f: &RouteFigures) -> GateResult {
    let fired = f.parity < f.parity_threshold;
    let message = if fired {
        format!(
            "parity {:.1}% is below the route's threshold {:.1}% ({} of {} compared exchanges differ)",
            f.parity * 100.0,
            f.parity_threshold * 100.0,
            f.mismatched,
            f.compared
        )
    } else {
        format!(
            "parity {:.1}% meets the route's threshold {:.1}% ({} compared)",
            f.parity * 100.0,
            f.parity_threshold * 100.0,
            f.compared
        )
    };
    GateResult {
        gate: GateKind::Parity,
        fired,
        value: f.parity * 100.0,
        limit: f.parity_threshold * 100.0,
        unit: "%".into(),
        primary: None,
        secondary: None,
        message,
    }
}

fn latency(f: &RouteFigures, t: &Triggers) -> [GateResult; 2] {
    let (p, c) = (f.primary_p95_ms, f.candidate_p95_ms);
    let secondary =
        (f.secondary_latency_samples >= LATENCY_MIN_SAMPLES).then_some(f.secondary_p95_ms);
    let absolute = GateResult {
        gate: GateKind::LatencyP95,
        fired: c > t.p95_ms,
        value: c,
        limit: t.p95_ms,
        unit: "ms".into(),
        primary: Some(p),
        secondary,
        message: if c > t.p95_ms {
            format!(
                "latency: candidate P95 {c:.1} ms exceeds the {:.0} ms limit",
                t.p95_ms
            )
        } else {
            format!(
                "latency: candidate P95 {c:.1} ms is within the {:.0} ms limit",
                t.p95_ms
            )
        },
    };
    // A rise the secondary (same code as the primary) shows too is the machine's.
    let baseline = secondary.map_or(p, |s| s.max(p));
    // Both conditions at once: more than the allowed % and more than the floor.
    let limit = (baseline * (1.0 + t.p95_increase_pct / 100.0)).max(baseline + LATENCY_FLOOR_MS);
    let fired = c > limit;
    let increase = (c / baseline.max(0.001) - 1.0) * 100.0;
    let against = match secondary {
        Some(s) if s > p => format!("the secondary's {s:.1} ms (primary {p:.1} ms)"),
        _ => format!("the primary's {p:.1} ms"),
    };
    let relative = GateResult {
        gate: GateKind::LatencyIncrease,
        fired,
        value: c,
        limit,
        unit: "ms".into(),
        primary: Some(p),
        secondary,
        message: if fired {
            format!(
                "latency: candidate P95 {c:.1} ms is {increase:+.0}% over {against} (limit +{:.0}%)",
                t.p95_increase_pct
            )
        } else {
            format!(
                "latency: candidate P95 {c:.1} ms vs {against}: within +{:.0}% or {LATENCY_FLOOR_MS:.0} ms",
                t.p95_increase_pct
            )
        },
    };
    [absolute, relative]
}

fn error_rate(f: &RouteFigures, t: &Triggers) -> GateResult {
    let rate = pct(f.candidate_errors, f.candidate_requests);
    let primary = pct(f.primary_errors, f.primary_requests);
    let fired = rate > t.error_rate_pct && rate > primary;
    let numbers = format!(
        "candidate error rate {rate:.1}% ({} of {} requests: 5xx or transport failures), \
         primary {primary:.1}% ({} of {})",
        f.candidate_errors, f.candidate_requests, f.primary_errors, f.primary_requests
    );
    GateResult {
        gate: GateKind::ErrorRate,
        fired,
        value: rate,
        limit: t.error_rate_pct,
        unit: "%".into(),
        primary: Some(primary),
        secondary: None,
        message: if fired {
            format!(
                "errors: {numbers} is above the {:.1}% limit",
                t.error_rate_pct
            )
        } else {
            format!(
                "errors: {numbers} is within the {:.1}% limit",
                t.error_rate_pct
            )
        },
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;
