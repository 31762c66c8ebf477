//! Load-stage gates: the rollback triggers of `[triggers]` decided with statistics on one
//! route's candidate and baseline samples from the same time window. Pure: no I/O, no clock;
//! the bootstrap is seeded from the route's name, so the same samples always give the same
//! verdict (one run or merged partial results alike).
//!
//! Each trigger answers PASS, FAIL or INCONCLUSIVE — never PASS on too little evidence:
//! - **latency_p95** (absolute): the bootstrap interval of the candidate's P95 against
//!   `p95_ms`: FAIL when its lower bound is above, PASS when its upper bound is within.
//! - **latency_increase**: the candidate's P95 against `max(baseline P95 × (1 +
//!   p95_increase_pct/100), baseline P95 + `[`LATENCY_FLOOR_MS`]`)`. FAIL when Mann-Whitney
//!   says the candidate is slower (one-sided p below 1 − confidence) *and* the bootstrap
//!   interval of the candidate's P95 minus that limit lies above 0; PASS when the interval
//!   lies at or below 0.
//! - **latency_p50_overhead** / **latency_p99_overhead** (when configured): the same with
//!   the P50 / P99 and a limit of the baseline's plus the overhead.
//! - **error_rate**: the Wilson interval of the candidate's error proportion (5xx and
//!   transport failures; 4xx too with `errors_include_4xx`): FAIL when its lower bound is
//!   above the limit and above the baseline's own rate, PASS when its upper bound is within
//!   the limit.
//!
//! Every bound is one-sided at `confidence` (the two-sided interval at 2·confidence − 1):
//! each decision asks one question, "above the limit?" or "within it?".
//! Latency triggers need `min_samples` on both sides; below that they are INCONCLUSIVE.

use serde::{Deserialize, Serialize};

use super::gates::LATENCY_FLOOR_MS;
use crate::config::Triggers;
use crate::stats::{self, Bootstrap, Dist, Interval};

/// A trigger of the load stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadTrigger {
    LatencyP95,
    LatencyIncrease,
    LatencyP50Overhead,
    LatencyP99Overhead,
    ErrorRate,
}

impl LoadTrigger {
    pub const ALL: [LoadTrigger; 5] = [
        LoadTrigger::LatencyP95,
        LoadTrigger::LatencyIncrease,
        LoadTrigger::LatencyP50Overhead,
        LoadTrigger::LatencyP99Overhead,
        LoadTrigger::ErrorRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadTrigger::LatencyP95 => "latency_p95",
            LoadTrigger::LatencyIncrease => "latency_increase",
            LoadTrigger::LatencyP50Overhead => "latency_p50_overhead",
            LoadTrigger::LatencyP99Overhead => "latency_p99_overhead",
            LoadTrigger::ErrorRate => "error_rate",
        }
    }
}

/// One trigger's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Pass,
    Inconclusive,
    Fail,
}

/// The run's (or a route's) verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Proceed,
    Rollback,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Proceed => "PROCEED",
            Verdict::Rollback => "ROLLBACK",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// The worst of the decisions: any FAIL rolls back, else any INCONCLUSIVE (or none at
    /// all) is inconclusive.
    pub fn of(decisions: impl IntoIterator<Item = Decision>) -> Verdict {
        let mut any = false;
        let mut worst = Decision::Pass;
        for d in decisions {
            any = true;
            worst = worst.max(d);
        }
        match (any, worst) {
            (false, _) | (true, Decision::Inconclusive) => Verdict::Inconclusive,
            (true, Decision::Pass) => Verdict::Proceed,
            (true, Decision::Fail) => Verdict::Rollback,
        }
    }
}

/// One evaluated trigger with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerResult {
    pub trigger: LoadTrigger,
    pub decision: Decision,
    /// The candidate's figure (ms or %).
    pub value: f64,
    /// The limit it was held to, in the same unit.
    pub limit: f64,
    pub unit: String,
    /// The baseline's figure in the same unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// The confidence interval the decision was taken on (the candidate's quantile, its
    /// excess over the limit, or its error rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// The interval of candidate / baseline for the quantile (latency increase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Interval>,
    /// One-sided Mann-Whitney p-value for "the candidate is slower".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// One sentence with the numbers.
    pub message: String,
}

/// What one route's load triggers are decided on: latencies in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct LoadFigures {
    pub route: String,
    pub candidate: Dist,
    pub baseline: Dist,
    /// Candidate requests; 5xx answers plus transport failures; 4xx answers.
    pub candidate_requests: u64,
    pub candidate_errors: u64,
    pub candidate_4xx: u64,
    pub baseline_requests: u64,
    pub baseline_errors: u64,
    pub baseline_4xx: u64,
}

/// Every configured trigger of one route, in a fixed order.
pub fn evaluate(f: &LoadFigures, t: &Triggers) -> Vec<TriggerResult> {
    // Each decision is one-sided ("above the limit?", "within it?"), so each bound of a
    // two-sided interval at 2c - 1 is a one-sided bound at confidence c.
    let boot = Bootstrap {
        seed: seed_of(&f.route),
        confidence: two_sided(t.confidence),
        ..Bootstrap::default()
    };
    let mut out = vec![absolute_p95(f, t, &boot)];
    out.push(relative(
        f,
        t,
        &boot,
        LoadTrigger::LatencyIncrease,
        0.95,
        1.0 + t.p95_increase_pct / 100.0,
        LATENCY_FLOOR_MS,
    ));
    if let Some(ms) = t.p50_overhead_ms {
        out.push(relative(
            f,
            t,
            &boot,
            LoadTrigger::LatencyP50Overhead,
            0.5,
            1.0,
            ms,
        ));
    }
    if let Some(ms) = t.p99_overhead_ms {
        out.push(relative(
            f,
            t,
            &boot,
            LoadTrigger::LatencyP99Overhead,
            0.99,
            1.0,
            ms,
        ));
    }
    out.push(error_rate(f, t));
    out
}

/// The two-sided confidence whose bounds are one-sided bounds at `c`.
fn two_sided(c: f64) -> f64 {
    (2.0 * c - 1.0).clamp(0.0, 0.999_999)
}

/// FNV-1a of the route name: a stable seed per route.
fn seed_of(route: &str) -> u64 {
    route.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn too_few(f: &LoadFigures, need: u64) -> Option<String> {
    let (c, b) = (f.candidate.len(), f.baseline.len());
    (c < need || b < need).then(|| {
        format!("too few samples to decide: candidate {c}, baseline {b}, need {need} each")
    })
}

fn inconclusive(trigger: LoadTrigger, unit: &str, limit: f64, message: String) -> TriggerResult {
    TriggerResult {
        trigger,
        decision: Decision::Inconclusive,
        value: 0.0,
        limit,
        unit: unit.into(),
        baseline: None,
        interval: None,
        ratio: None,
        p_value: None,
        message,
    }
}

fn absolute_p95(f: &LoadFigures, t: &Triggers, boot: &Bootstrap) -> TriggerResult {
    let trigger = LoadTrigger::LatencyP95;
    let need = t.min_samples;
    let (n, limit) = (f.candidate.len(), t.p95_ms);
    let Some(ci) = stats::quantile_interval(&f.candidate, 0.95, boot).filter(|_| n >= need) else {
        let m = format!("latency: too few candidate samples to decide ({n}, need {need})");
        return inconclusive(trigger, "ms", limit, m);
    };
    let decision = if ci.lower > limit {
        Decision::Fail
    } else if ci.upper <= limit {
        Decision::Pass
    } else {
        Decision::Inconclusive
    };
    let verb = match decision {
        Decision::Fail => "exceeds",
        Decision::Pass => "is within",
        Decision::Inconclusive => "may exceed",
    };
    TriggerResult {
        trigger,
        decision,
        value: ci.estimate,
        limit,
        unit: "ms".into(),
        baseline: Some(f.baseline.quantile(0.95)),
        interval: Some(ci),
        ratio: None,
        p_value: None,
        message: format!(
            "latency: candidate P95 {:.1} ms ({:.0}% bounds {:.1}–{:.1}) {verb} the {limit:.0} ms limit ({n} samples)",
            ci.estimate,
            t.confidence * 100.0,
            ci.lower,
            ci.upper
        ),
    }
}

fn relative(
    f: &LoadFigures,
    t: &Triggers,
    boot: &Bootstrap,
    trigger: LoadTrigger,
    q: f64,
    ratio: f64,
    add: f64,
) -> TriggerResult {
    let label = format!("P{:.0}", q * 100.0);
    let need = t.min_samples.max(if q > 0.98 { 100 } else { 0 });
    let checked = stats::compare_quantile(&f.candidate, &f.baseline, q, ratio, add, boot);
    let mw = stats::mann_whitney(&f.candidate, &f.baseline);
    let (Some(check), Some(mw), None) = (checked, mw, too_few(f, need)) else {
        let m = too_few(f, need).unwrap_or_else(|| "no samples".into());
        return inconclusive(trigger, "ms", 0.0, format!("latency {label}: {m}"));
    };
    let slower = mw.p_value < 1.0 - t.confidence;
    let decision = if slower && check.excess.lower > 0.0 {
        Decision::Fail
    } else if check.excess.upper <= 0.0 {
        Decision::Pass
    } else {
        Decision::Inconclusive
    };
    let (c, b) = (f.candidate.quantile(q), f.baseline.quantile(q));
    let rule = if trigger == LoadTrigger::LatencyIncrease {
        format!(
            "limit {:.1} ms = baseline {label} × {ratio:.2}, at least +{add:.0} ms",
            check.limit
        )
    } else {
        format!(
            "limit {:.1} ms = baseline {label} + {add:.0} ms",
            check.limit
        )
    };
    let verdict = match decision {
        Decision::Fail => "over the limit",
        Decision::Pass => "within the limit",
        Decision::Inconclusive => "not decided",
    };
    TriggerResult {
        trigger,
        decision,
        value: c,
        limit: check.limit,
        unit: "ms".into(),
        baseline: Some(b),
        interval: Some(check.excess),
        ratio: Some(check.ratio),
        p_value: Some(mw.p_value),
        message: format!(
            "latency {label}: candidate {c:.1} ms vs baseline {b:.1} ms (×{:.2}, {:.0}% bounds ×{:.2}–×{:.2}; {rule}; Mann-Whitney p={:.3}): {verdict}",
            check.ratio.estimate,
            t.confidence * 100.0,
            check.ratio.lower,
            check.ratio.upper,
            mw.p_value
        ),
    }
}

fn error_rate(f: &LoadFigures, t: &Triggers) -> TriggerResult {
    let trigger = LoadTrigger::ErrorRate;
    let limit = t.error_rate_pct;
    let (ce, be) = if t.errors_include_4xx {
        (
            f.candidate_errors + f.candidate_4xx,
            f.baseline_errors + f.baseline_4xx,
        )
    } else {
        (f.candidate_errors, f.baseline_errors)
    };
    let Some(w) = stats::wilson(ce, f.candidate_requests, two_sided(t.confidence)) else {
        return inconclusive(
            trigger,
            "%",
            limit,
            "errors: the candidate answered no requests".into(),
        );
    };
    let base = if f.baseline_requests == 0 {
        0.0
    } else {
        be as f64 / f.baseline_requests as f64
    };
    let decision = if w.lower * 100.0 > limit && w.lower > base {
        Decision::Fail
    } else if w.upper * 100.0 <= limit {
        Decision::Pass
    } else {
        Decision::Inconclusive
    };
    let verb = match decision {
        Decision::Fail => "is above",
        Decision::Pass => "is within",
        Decision::Inconclusive => "cannot be told apart from",
    };
    TriggerResult {
        trigger,
        decision,
        value: w.rate * 100.0,
        limit,
        unit: "%".into(),
        baseline: Some(base * 100.0),
        interval: Some(Interval {
            estimate: w.rate * 100.0,
            lower: w.lower * 100.0,
            upper: w.upper * 100.0,
        }),
        ratio: None,
        p_value: None,
        message: format!(
            "errors: candidate {:.2}% ({ce} of {} requests; {:.0}% bounds {:.2}–{:.2}%) {verb} the {limit}% limit; baseline {:.2}% ({be} of {})",
            w.rate * 100.0,
            f.candidate_requests,
            t.confidence * 100.0,
            w.lower * 100.0,
            w.upper * 100.0,
            base * 100.0,
            f.baseline_requests
        ),
    }
}

#[cfg(test)]
#[path = "load_gates_tests.rs"]
mod tests;
