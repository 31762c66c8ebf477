//! The load report (`cutover.load/v1`): the verdict, each route's figures per side, every
//! trigger with its numbers, the latency distributions side by side and the timeline — built
//! once from a [`LoadResult`] (a run or merged parts); the renderers only format it.

use serde::{Deserialize, Serialize};

use super::collect::{LoadResult, Side, counts_of};
use crate::config::Triggers;
use crate::pipeline::load_gates::{
    self, Decision, LoadFigures, LoadTrigger, TriggerResult, Verdict,
};

pub const REPORT_FORMAT: &str = "cutover.load/v1";
/// Bars in each route's side-by-side latency distribution.
const BARS: usize = 16;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub format: String,
    pub run_id: String,
    pub verdict: Verdict,
    /// 0 PROCEED, 1 ROLLBACK, 3 INCONCLUSIVE.
    pub exit_code: u8,
    /// Why, one sentence each: every FAIL, then every INCONCLUSIVE.
    pub reasons: Vec<String>,
    pub calibrate: bool,
    pub baseline: String,
    pub candidates: Vec<String>,
    pub workload: String,
    pub users: usize,
    #[serde(default)]
    pub rate: Option<usize>,
    pub duration_s: f64,
    /// How many result files this report was merged from (1 for a plain run).
    pub parts: usize,
    pub config_digest: String,
    pub triggers: TriggerSettings,
    pub routes: Vec<RouteReport>,
    pub timeline: Vec<TimelinePoint>,
    /// With `--calibrate`: per trigger, how often it fired on the A/A comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<CalibrationRow>,
    /// Scenario step runs not sent because a variable they need was never set.
    #[serde(default)]
    pub not_sent: u64,
}

/// The limits in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerSettings {
    pub p95_ms: f64,
    pub p95_increase_pct: f64,
    pub latency_floor_ms: f64,
    #[serde(default)]
    pub p50_overhead_ms: Option<f64>,
    #[serde(default)]
    pub p99_overhead_ms: Option<f64>,
    pub error_rate_pct: f64,
    pub errors_include_4xx: bool,
    pub min_samples: u64,
    pub confidence: f64,
}

impl From<&Triggers> for TriggerSettings {
    fn from(t: &Triggers) -> Self {
        TriggerSettings {
            p95_ms: t.p95_ms,
            p95_increase_pct: t.p95_increase_pct,
            latency_floor_ms: crate::pipeline::gates::LATENCY_FLOOR_MS,
            p50_overhead_ms: t.p50_overhead_ms,
            p99_overhead_ms: t.p99_overhead_ms,
            error_rate_pct: t.error_rate_pct,
            errors_include_4xx: t.errors_include_4xx,
            min_samples: t.min_samples,
            confidence: t.confidence,
        }
    }
}

impl TriggerSettings {
    /// The triggers these settings were taken from.
    pub fn to_triggers(&self) -> Triggers {
        Triggers {
            p95_ms: self.p95_ms,
            p95_increase_pct: self.p95_increase_pct,
            error_rate_pct: self.error_rate_pct,
            p50_overhead_ms: self.p50_overhead_ms,
            p99_overhead_ms: self.p99_overhead_ms,
            min_samples: self.min_samples,
            confidence: self.confidence,
            errors_include_4xx: self.errors_include_4xx,
        }
    }
}

/// One route: both sides' figures and every trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteReport {
    pub route: String,
    pub verdict: Verdict,
    pub baseline: SideStats,
    pub candidate: SideStats,
    pub triggers: Vec<TriggerResult>,
    /// The latency distributions side by side (log-spaced bars).
    pub distribution: Vec<Bar>,
}

/// One side of a route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideStats {
    pub target: String,
    pub requests: u64,
    pub rps: f64,
    /// 5xx answers plus transport failures.
    pub errors: u64,
    pub transport_errors: u64,
    pub status_4xx: u64,
    pub error_pct: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// With a rate (`--rate`): the percentiles corrected for coordinated omission. Reported
    /// beside the raw ones; the gates decide on the raw samples (see docs/load-stage.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<Percentiles>,
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// One bar of a distribution: samples in `(from_ms, to_ms]`, as % of each side's samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub from_ms: f64,
    pub to_ms: f64,
    pub baseline_pct: f64,
    pub candidate_pct: f64,
}

/// One timeline window of one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    pub side: Side,
    pub start_s: u64,
    pub requests: u64,
    pub rps: f64,
    pub error_pct: f64,
    pub p95_ms: f64,
}

/// How often one trigger fired on an A/A run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    pub trigger: LoadTrigger,
    pub routes: usize,
    pub fired: usize,
    pub inconclusive: usize,
    pub false_alarm_pct: f64,
}

/// Build the report of a result under `triggers`.
pub fn build(result: &LoadResult, triggers: &Triggers, parts: usize) -> LoadReport {
    let secs = result.duration_s.max(0.001);
    let mut routes = Vec::new();
    let mut names: Vec<&str> = result.series.iter().map(|s| s.key.route.as_str()).collect();
    names.dedup();
    let mut seen = Vec::new();
    for route in names {
        if seen.contains(&route) {
            continue;
        }
        seen.push(route);
        let find = |side: Side| {
            result
                .series
                .iter()
                .find(|s| s.key.route == route && s.key.side == side)
        };
        let (Some(b), Some(c)) = (find(Side::Baseline), find(Side::Candidate)) else {
            continue;
        };
        let (bc, cc) = (counts_of(&b.counts), counts_of(&c.counts));
        let figures = LoadFigures {
            route: route.to_string(),
            candidate: cc.dist_ms(),
            baseline: bc.dist_ms(),
            candidate_requests: cc.requests,
            candidate_errors: cc.errors(),
            candidate_4xx: cc.status_4xx,
            baseline_requests: bc.requests,
            baseline_errors: bc.errors(),
            baseline_4xx: bc.status_4xx,
        };
        let results = load_gates::evaluate(&figures, triggers);
        routes.push(RouteReport {
            route: route.to_string(),
            verdict: Verdict::of(results.iter().map(|r| r.decision)),
            baseline: side_stats(&b.key.target, &bc, secs),
            candidate: side_stats(&c.key.target, &cc, secs),
            distribution: bars(&figures),
            triggers: results,
        });
    }
    let verdict = Verdict::of(
        routes
            .iter()
            .flat_map(|r| r.triggers.iter().map(|t| t.decision)),
    );
    let mut reasons = Vec::new();
    for want in [Decision::Fail, Decision::Inconclusive] {
        for r in &routes {
            for t in r.triggers.iter().filter(|t| t.decision == want) {
                reasons.push(format!(
                    "{} {} ({}): {}",
                    r.route,
                    t.trigger.as_str(),
                    if want == Decision::Fail {
                        "FAIL"
                    } else {
                        "INCONCLUSIVE"
                    },
                    t.message
                ));
            }
        }
    }
    if routes.is_empty() {
        reasons.push("no route was measured on both sides".into());
    }
    let calibration = if result.meta.calibrate {
        calibrate_rows(&routes)
    } else {
        Vec::new()
    };
    LoadReport {
        format: REPORT_FORMAT.into(),
        run_id: result.meta.run_id.clone(),
        exit_code: match verdict {
            Verdict::Proceed => 0,
            Verdict::Rollback => 1,
            Verdict::Inconclusive => 3,
        },
        verdict,
        reasons,
        calibrate: result.meta.calibrate,
        baseline: result.meta.baseline.clone(),
        candidates: result.meta.candidates.clone(),
        workload: result.meta.workload.clone(),
        users: result.meta.users,
        rate: result.meta.rate,
        duration_s: result.duration_s,
        parts,
        config_digest: result.meta.config_digest.clone(),
        triggers: TriggerSettings::from(triggers),
        routes,
        timeline: timeline(result),
        calibration,
        not_sent: result.not_sent,
    }
}

fn side_stats(target: &str, c: &super::collect::Counts, secs: f64) -> SideStats {
    let d = c.dist_ms();
    SideStats {
        target: target.to_string(),
        requests: c.requests,
        rps: c.requests as f64 / secs,
        errors: c.errors(),
        transport_errors: c.transport,
        status_4xx: c.status_4xx,
        error_pct: pct(c.errors(), c.requests),
        p50_ms: d.quantile(0.5),
        p95_ms: d.quantile(0.95),
        p99_ms: d.quantile(0.99),
        max_ms: d.quantile(1.0),
        corrected: c.corrected_ms().map(|d| Percentiles {
            p50_ms: d.quantile(0.5),
            p95_ms: d.quantile(0.95),
            p99_ms: d.quantile(0.99),
        }),
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

/// Log-spaced bars from the smaller minimum to the larger P99.9 of both sides.
fn bars(f: &LoadFigures) -> Vec<Bar> {
    let (b, c) = (&f.baseline, &f.candidate);
    if b.is_empty() && c.is_empty() {
        return Vec::new();
    }
    let lo = [b, c]
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.quantile(0.0))
        .fold(f64::INFINITY, f64::min)
        .max(0.001);
    let hi = [b, c]
        .iter()
        .map(|d| d.quantile(0.999))
        .fold(0.0, f64::max)
        .max(lo * 1.01);
    let step = (hi / lo).powf(1.0 / BARS as f64);
    let shares = |d: &crate::stats::Dist| {
        let mut counts = [0u64; BARS];
        for &(v, c) in d.points() {
            let i = ((v.max(lo) / lo).ln() / step.ln()).floor().max(0.0) as usize;
            counts[i.min(BARS - 1)] += c;
        }
        counts.map(|n| pct(n, d.len()))
    };
    let (bs, cs) = (shares(b), shares(c));
    (0..BARS)
        .map(|i| Bar {
            from_ms: lo * step.powi(i as i32),
            to_ms: lo * step.powi(i as i32 + 1),
            baseline_pct: bs[i],
            candidate_pct: cs[i],
        })
        .collect()
}

fn timeline(result: &LoadResult) -> Vec<TimelinePoint> {
    let w = result.window_s.max(1);
    let mut out = Vec::new();
    for t in &result.timeline {
        for (i, win) in t.windows.iter().enumerate() {
            let c = counts_of(win);
            out.push(TimelinePoint {
                side: t.side,
                start_s: i as u64 * w,
                requests: c.requests,
                rps: c.requests as f64 / w as f64,
                error_pct: pct(c.errors(), c.requests),
                p95_ms: c.dist_ms().quantile(0.95),
            });
        }
    }
    out
}

fn calibrate_rows(routes: &[RouteReport]) -> Vec<CalibrationRow> {
    LoadTrigger::ALL
        .iter()
        .filter_map(|&trigger| {
            let all: Vec<&TriggerResult> = routes
                .iter()
                .flat_map(|r| r.triggers.iter().filter(move |t| t.trigger == trigger))
                .collect();
            (!all.is_empty()).then(|| {
                let fired = all.iter().filter(|t| t.decision == Decision::Fail).count();
                CalibrationRow {
                    trigger,
                    routes: all.len(),
                    fired,
                    inconclusive: all
                        .iter()
                        .filter(|t| t.decision == Decision::Inconclusive)
                        .count(),
                    false_alarm_pct: pct(fired as u64, all.len() as u64),
                }
            })
        })
        .collect()
}
