//! The report model: one structured document built from an [`Aggregate`], rendered by
//! every writer (JSON, Markdown, HTML, JUnit). Writers never look at the aggregate; they
//! format this model. Pass/fail comes from `pipeline::gates` (one result per rule, with its
//! numbers); this module only gathers the figures the gates decide on. Its JSON form is the documented `cutover.report/v1` schema
//! (`docs/report-schema.md`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::compare::DiffKind;
use crate::compare::noise::{Decision, NoiseCounts, decide};
use crate::compare::spec::NoiseSpec;
use crate::config::Config;
use crate::pipeline::aggregate::{DiffKey, Example, RouteStats};
use crate::pipeline::findings::FindingExample;
use crate::pipeline::gates::{self, GateResult, RouteFigures};
use crate::pipeline::latency::LatencySummary;
use crate::pipeline::{Aggregate, RouteKey};

pub use crate::pipeline::gates::{LATENCY_FLOOR_MS, LATENCY_MIN_SAMPLES};

pub const SCHEMA: &str = "cutover.report/v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: String,
    pub run: RunInfo,
    pub verdict: Gate,
    pub totals: Totals,
    pub routes: Vec<RouteReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// Run identifier (also the report folder's name).
    pub id: String,
    pub generated_at: DateTime<Utc>,
    /// What produced the exchanges: `demo`, `proxy`, `recording`.
    pub source: String,
    /// Divergences switched on in the reference system (demo runs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub divergences: Vec<String>,
    /// Recording files the report was built from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recordings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    Pass,
    Fail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub exchanges: u64,
    pub compared: u64,
    pub matched: u64,
    pub mismatched: u64,
    /// matched / compared, 1.0 when nothing was compared.
    pub parity: f64,
    pub routes_failing: usize,
    /// Present when the route cap was reached and later routes were folded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
    /// Contract conformance over every route (present when contracts were checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contracts: Option<super::contracts::ContractTotals>,
}

/// Routes past `[grouping] max_routes`, folded into one row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overflow {
    /// The row they were folded into (`* {overflow}`).
    pub route: String,
    /// Exchanges counted in that row.
    pub exchanges: u64,
    /// The cap that was reached.
    pub max_routes: usize,
}

impl Overflow {
    /// One sentence for people.
    pub fn sentence(&self) -> String {
        format!(
            "More than {} routes: {} exchanges on further routes were folded into `{}` \
             (raise [grouping] max_routes, or add [grouping] templates).",
            self.max_routes, self.exchanges, self.route
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteReport {
    /// `METHOD /path/{template}`.
    pub route: String,
    /// Candidate target, when a configured route covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    pub total: u64,
    pub compared: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub not_compared: u64,
    /// Of `not_compared`: exchanges whose client went away before the primary answered.
    #[serde(default)]
    pub client_aborted: u64,
    pub candidate_errors: u64,
    pub parity: f64,
    pub parity_threshold: f64,
    pub gate: Gate,
    /// Why the gate failed, one sentence each (the fired [`RouteReport::gates`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Every rule evaluated for this route, fired or not, with its numbers.
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// Findings of analyzers other than parity (contracts, assertions, triggers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingReport>,
    /// Contract conformance per side and each violation (present when contracts were
    /// checked; a route no contract covers says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contracts: Option<super::contracts::RouteContracts>,
    pub differences: Vec<PathReport>,
    pub suppressed: Vec<SuppressedReport>,
    pub status_matrix: Vec<StatusCell>,
    pub latency: LatencyReport,
}

/// Exchanges showing one non-parity finding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindingReport {
    /// `contract_violation`, `assertion_failed` or `trigger`.
    pub kind: String,
    pub analyzer: String,
    pub code: String,
    pub count: u64,
    pub examples: Vec<FindingExample>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathReport {
    pub path: String,
    pub kind: DiffKind,
    /// Exchanges showing this difference.
    pub count: u64,
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuppressedReport {
    pub path: String,
    pub count: u64,
    pub reasons: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusCell {
    pub primary: String,
    pub candidate: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyReport {
    pub primary: LatencySummary,
    pub candidate: LatencySummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<LatencySummary>,
    /// The latency trigger that tripped, if any (its [`GateResult`] message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
}

/// What the report needs besides the aggregate.
pub struct ReportContext<'a> {
    pub config: &'a Config,
    pub run: RunInfo,
}

impl Report {
    pub fn build(aggregate: &Aggregate, ctx: &ReportContext<'_>) -> Report {
        let routes: Vec<RouteReport> = aggregate
            .routes
            .iter()
            .map(|(name, stats)| route_report(name, stats, ctx.config))
            .collect();
        let matched: u64 = routes.iter().map(|r| r.matched).sum();
        let mismatched: u64 = routes.iter().map(|r| r.mismatched).sum();
        let compared = matched + mismatched;
        let routes_failing = routes.iter().filter(|r| r.gate == Gate::Fail).count();
        Report {
            schema: SCHEMA.to_string(),
            run: ctx.run.clone(),
            verdict: if routes_failing == 0 {
                Gate::Pass
            } else {
                Gate::Fail
            },
            totals: Totals {
                exchanges: routes.iter().map(|r| r.total).sum(),
                compared,
                matched,
                mismatched,
                parity: ratio(matched, compared),
                routes_failing,
                overflow: (aggregate.overflow_exchanges() > 0).then(|| Overflow {
                    route: crate::pipeline::aggregate::OVERFLOW_ROUTE.to_string(),
                    exchanges: aggregate.overflow_exchanges(),
                    max_routes: aggregate.max_routes,
                }),
                contracts: super::contracts::totals(routes.iter().map(|r| r.contracts.as_ref())),
            },
            routes,
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn route_report(key: &RouteKey, stats: &RouteStats, config: &Config) -> RouteReport {
    let route = config.routes.lookup(key.template());
    let threshold = route.map(|r| r.parity_threshold).unwrap_or(1.0);
    let spec = route
        .map(|r| &r.rules.noise)
        .unwrap_or(&config.file.compare.noise);
    let learned = learned_noise(stats, spec);
    // An exchange matches when every difference it showed is finally noise.
    let (mut matched, mut mismatched) = (stats.unsigned_matched, stats.unsigned_mismatched);
    for (signature, count) in stats.signatures() {
        if signature.iter().all(|k| learned.contains_key(*k)) {
            matched += count;
        } else {
            mismatched += count;
        }
    }
    let compared = matched + mismatched;
    let parity = ratio(matched, compared);
    let mut differences: Vec<PathReport> = stats
        .differences
        .iter()
        .filter(|(key, _)| !learned.contains_key(*key))
        .map(|(key, p)| PathReport {
            path: key.path.clone(),
            kind: key.kind,
            count: p.count,
            examples: p.examples.clone(),
        })
        .collect();
    differences.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    let mut suppressed: BTreeMap<&str, SuppressedReport> = BTreeMap::new();
    for (path, s) in &stats.suppressed {
        suppressed.insert(
            path,
            SuppressedReport {
                path: path.clone(),
                count: s.count,
                reasons: s
                    .reasons
                    .iter()
                    .map(|(reason, count)| ReasonCount {
                        reason: reason.clone(),
                        count: *count,
                    })
                    .collect(),
            },
        );
    }
    for (key, reason) in &learned {
        let count = stats.differences.get(key).map(|p| p.count).unwrap_or(0);
        let entry = suppressed
            .entry(key.path.as_str())
            .or_insert_with(|| SuppressedReport {
                path: key.path.clone(),
                count: 0,
                reasons: Vec::new(),
            });
        entry.count += count;
        entry.reasons.push(ReasonCount {
            reason: format!("{reason} ({})", key.kind.as_str()),
            count,
        });
    }
    let suppressed: Vec<SuppressedReport> = suppressed.into_values().collect();
    let status_matrix = stats
        .status_matrix
        .iter()
        .map(|((p, c), count)| StatusCell {
            primary: p.clone(),
            candidate: c.clone(),
            count: *count,
        })
        .collect();
    let (primary, candidate) = (
        stats.latency_primary.summary(),
        stats.latency_candidate.summary(),
    );
    let secondary =
        (stats.latency_secondary.count() > 0).then(|| stats.latency_secondary.summary());
    let figures = RouteFigures {
        parity,
        parity_threshold: threshold,
        compared,
        mismatched,
        primary_p95_ms: primary.p95_ms,
        candidate_p95_ms: candidate.p95_ms,
        candidate_latency_samples: stats.latency_candidate.count(),
        secondary_p95_ms: secondary.as_ref().map_or(0.0, |s| s.p95_ms),
        secondary_latency_samples: stats.latency_secondary.count(),
        candidate_requests: stats.candidate_requests,
        candidate_errors: stats.candidate_errors + stats.candidate_5xx,
        primary_requests: stats.primary_paired,
        primary_errors: stats.primary_paired_errors,
    };
    let mut gates = gates::evaluate(&figures, &config.file.triggers);
    let contracts = super::contracts::route_contracts(&stats.conformance);
    gates.extend(super::contracts::gate(contracts.as_ref(), config));
    let latency = LatencyReport {
        primary,
        candidate,
        secondary,
        finding: gates
            .iter()
            .find(|g| g.fired && g.gate.is_latency())
            .map(|g| g.message.clone()),
    };
    let failures: Vec<String> = gates
        .iter()
        .filter(|g| g.fired)
        .map(|g| g.message.clone())
        .collect();
    let findings = stats
        .findings
        .counts
        .iter()
        .map(|(k, c)| FindingReport {
            kind: k.kind.clone(),
            analyzer: k.analyzer.clone(),
            code: k.code.clone(),
            count: c.count,
            examples: c.examples.clone(),
        })
        .collect();
    RouteReport {
        route: key.to_string(),
        candidate: route.map(|r| r.candidate.clone()),
        total: stats.total,
        compared,
        matched,
        mismatched,
        not_compared: stats.not_compared,
        client_aborted: stats.client_aborted,
        candidate_errors: stats.candidate_errors,
        parity,
        parity_threshold: threshold,
        gate: if failures.is_empty() {
            Gate::Pass
        } else {
            Gate::Fail
        },
        failures,
        gates,
        findings,
        contracts,
        differences,
        suppressed,
        status_matrix,
        latency,
    }
}

/// Diffy's decision over the final counts: for each differing (path, kind), `r` exchanges
/// where primary ≠ candidate, `n` where primary ≠ secondary, over the `T` exchanges that had
/// a secondary. Returns the keys that are noise, with the reason. Without a secondary every
/// difference counts (the normalisers carry the load).
fn learned_noise(stats: &RouteStats, spec: &NoiseSpec) -> BTreeMap<DiffKey, String> {
    let mut out = BTreeMap::new();
    if stats.secondary_compared == 0 {
        return out;
    }
    for (key, p) in &stats.differences {
        let n = stats.noise.get(key).copied().unwrap_or(0);
        let counts = NoiseCounts { r: p.count, n };
        if let Decision::Noise(reason) = decide(counts, stats.secondary_compared, spec) {
            out.insert(key.clone(), reason.to_string());
        }
    }
    out
}
