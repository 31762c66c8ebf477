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
use crate::compare::volatile;
use crate::config::Config;
use crate::pipeline::aggregate::{DiffKey, Example, RouteStats};
use crate::pipeline::findings::FindingExample;
use crate::pipeline::gates::{self, GateResult, RouteFigures};
pub use crate::pipeline::identities::{IdentityReport, LabelCount};
use crate::pipeline::latency::LatencySummary;
use crate::pipeline::{Aggregate, RouteKey};

pub use super::baseline::BaselineReport;
use super::baseline::baseline_report;
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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
    /// The cutover version that wrote the report (set by [`Report::build`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// Wall-clock time of the run, from its start to the report (set by the run builder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `sha256:<hex>` of the analysis configuration, as in a recording's header
    /// ([`crate::record::config_digest`]; set by [`Report::build`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
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
    /// Candidate target, when a configured route covers it and names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// What was compared: `primary_candidate`, or `primary_secondary` on a route that names
    /// no candidate (an A/A check of two primary instances).
    #[serde(default = "primary_candidate")]
    pub pair: String,
    pub total: u64,
    pub compared: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub not_compared: u64,
    /// Of `not_compared`: exchanges whose client went away before the primary answered.
    #[serde(default)]
    pub client_aborted: u64,
    /// Candidate answers with a 5xx status plus transport failures (what the error-rate
    /// gate counts).
    pub candidate_errors: u64,
    /// Of `candidate_errors`: answers with a 5xx status.
    #[serde(default)]
    pub candidate_5xx: u64,
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
    /// Where learned noise came from on this route, and how healthy the baseline was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineReport>,
    /// Learned credential and id translation (`[translate]`); absent when none happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<super::translation::TranslationReport>,
}

fn primary_candidate() -> String {
    "primary_candidate".into()
}

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
    /// A `status` difference's pair: each pair is its own finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusPair>,
    /// Exchanges showing this difference.
    pub count: u64,
    pub examples: Vec<Example>,
    /// Which identities it appeared for (absent when no exchange carried an identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<IdentityReport>,
    /// The status (or transport) difference this one appeared with in every exchange that
    /// showed it: renderers fold it beneath that headline. Absent for headlines themselves
    /// and for differences that also appeared without a status change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusPair {
    pub primary: u16,
    pub candidate: u16,
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
    /// For a status change: which identities it appeared for (absent when none was
    /// labelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<IdentityReport>,
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
    /// The report over `aggregate`: routes worst first ([`super::order::sort_routes`]),
    /// each route's status changes first with the differences they explain folded beneath.
    pub fn build(aggregate: &Aggregate, ctx: &ReportContext<'_>) -> Report {
        let mut routes: Vec<RouteReport> = aggregate
            .routes
            .iter()
            .map(|(name, stats)| route_report(name, stats, ctx.config))
            .collect();
        super::order::sort_routes(&mut routes);
        let mut run = ctx.run.clone();
        run.tool_version = Some(env!("CARGO_PKG_VERSION").to_string());
        run.config_digest = Some(crate::record::config_digest(ctx.config));
        let matched: u64 = routes.iter().map(|r| r.matched).sum();
        let mismatched: u64 = routes.iter().map(|r| r.mismatched).sum();
        let compared = matched + mismatched;
        let routes_failing = routes.iter().filter(|r| r.gate == Gate::Fail).count();
        Report {
            schema: SCHEMA.to_string(),
            run,
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
    let baseline = baseline_report(stats);
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
            status: key
                .status
                .map(|(primary, candidate)| StatusPair { primary, candidate }),
            count: p.count,
            examples: p.examples.clone(),
            identities: p.identities.report(),
            headline: None,
        })
        .collect();
    super::order::lead_with_status(&mut differences, stats);
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
            identities: stats
                .status_identities
                .get(&(p.clone(), c.clone()))
                .and_then(|i| i.report()),
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
        candidate: route.and_then(|r| r.candidate.clone()),
        pair: if stats.secondary_only > 0 && stats.secondary_only == stats.candidate_requests {
            "primary_secondary".into()
        } else {
            primary_candidate()
        },
        total: stats.total,
        compared,
        matched,
        mismatched,
        not_compared: stats.not_compared,
        client_aborted: stats.client_aborted,
        candidate_errors: stats.candidate_errors + stats.candidate_5xx,
        candidate_5xx: stats.candidate_5xx,
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
        baseline,
        translation: super::translation::route_translation(&stats.translation),
    }
}

/// The learned-noise decision over the final counts. With a healthy secondary, Diffy's: for
/// each differing (path, kind), `r` exchanges where primary ≠ candidate, `n` where
/// primary ≠ secondary, over the `T` exchanges compared against a healthy secondary.
/// Without one, volatility learned from the primary's repeated identical requests
/// (`compare::volatile`). Returns the keys that are noise, with the reason. A status class
/// change is never noise.
fn learned_noise(stats: &RouteStats, spec: &NoiseSpec) -> BTreeMap<DiffKey, String> {
    let mut out = BTreeMap::new();
    if stats.secondary_compared == 0 {
        for key in stats.differences.keys() {
            let changed = stats.volatile.get(&key.path).copied().unwrap_or(0);
            let decision =
                volatile::decide(key.kind, changed, stats.repeats, stats.self_compared, spec);
            if let Decision::Noise(reason) = decision {
                out.insert(key.clone(), reason.to_string());
            }
        }
        return out;
    }
    for (key, p) in &stats.differences {
        if key.changes_status_class() {
            continue;
        }
        let n = stats.noise.get(key).copied().unwrap_or(0);
        let counts = NoiseCounts { r: p.count, n };
        if let Decision::Noise(reason) = decide(counts, stats.secondary_compared, spec) {
            out.insert(key.clone(), reason.to_string());
        }
    }
    out
}
