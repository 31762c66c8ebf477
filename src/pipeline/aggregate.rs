//! Per-route totals over analysed exchanges, keyed by [`RouteKey`]: verdict counts,
//! differing paths with examples, suppressed paths with their reasons, the status matrix,
//! latency per target, the candidate's and primary's error counts the error-rate gate reads,
//! and the other analyzers' findings ([`FindingStats`]).
//!
//! The same aggregate feeds the proxy's live summary, `/metrics` and the reports. Memory is
//! bounded by configuration, not by traffic or by what targets send: at most `max_routes`
//! routes (`[grouping] max_routes`; later routes are folded into
//! [`OVERFLOW_ROUTE`] and counted), and per route at most [`MAX_DIFF_KEYS`] differing
//! paths, [`MAX_SUPPRESSED_PATHS`] suppressed paths, [`MAX_STATUS_CELLS`] status pairs and
//! [`MAX_SIGNATURES`] difference sets (past a cap, entries fold into `{other paths}` /
//! `other`); examples are capped per path and cut to a fixed size.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::examples::Example;
use super::examples::example;
use super::findings::FindingStats;
use super::identities::IdentityCounts;
use super::latency::Latency;
use super::{Analysis, RouteKey, Verdict};
use crate::compare::grouping::DEFAULT_MAX_ROUTES;
pub use crate::compare::grouping::OVERFLOW_ROUTE;
use crate::compare::{DiffKind, Difference};
use crate::exchange::{Exchange, Outcome, OutcomeResult};
use crate::redact::Redaction;

/// Examples kept per differing path.
pub const EXAMPLES_PER_PATH: usize = 5;
/// Distinct difference sets kept per route for the final noise decision (memory bound for
/// long runs over list-shaped bodies, whose sets can all differ).
pub const MAX_SIGNATURES: usize = 4096;
/// Difference sets larger than this are not kept (counted by their online verdict).
pub const MAX_SIGNATURE_KEYS: usize = 64;
/// Distinct differing (path, kind) kept per route, for differences and for learned noise;
/// past it, a difference counts under (`{other paths}`, kind).
pub const MAX_DIFF_KEYS: usize = 256;
/// Distinct suppressed paths kept per route; past it, `{other paths}`.
pub const MAX_SUPPRESSED_PATHS: usize = 256;
/// Distinct reasons kept per suppressed path; past it, `other`.
pub const MAX_REASONS: usize = 16;
/// Distinct (primary, candidate) status pairs kept per route; past it, (`other`, `other`).
pub const MAX_STATUS_CELLS: usize = 64;
/// Paths longer than this fold into `{other paths}` (deeply nested bodies).
pub const MAX_PATH_BYTES: usize = 512;
/// Where differences past the per-route caps are counted (the same fold learned noise uses).
pub use crate::compare::noise::OTHER_PATHS;

#[derive(Debug, Clone)]
pub struct Aggregate {
    /// At most `max_routes` routes plus [`OVERFLOW_ROUTE`].
    pub routes: BTreeMap<RouteKey, RouteStats>,
    /// Applied to every example before it is kept: reports never see a secret.
    pub redaction: Redaction,
    /// Routes kept before new ones fold into [`OVERFLOW_ROUTE`] (`[grouping] max_routes`).
    pub max_routes: usize,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate::with_max_routes(DEFAULT_MAX_ROUTES)
    }
}

/// A differing place: JSON path (or `status`, `header:x`, ...) and kind; a status
/// difference also by its pair, so `201 → 200` and `409 → 422` are counted apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DiffKey {
    pub path: String,
    pub kind: DiffKind,
    /// `(primary, other)` statuses of a `status` difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<(u16, u16)>,
}

impl DiffKey {
    pub fn of(d: &Difference) -> DiffKey {
        let code = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
        };
        let status = match d.kind {
            DiffKind::Status => code(d.primary.as_ref()).zip(code(d.candidate.as_ref())),
            _ => None,
        };
        DiffKey {
            path: d.path.clone(),
            kind: d.kind,
            status,
        }
    }

    /// A status difference that changes class (2xx → 5xx, 4xx → 2xx): never noise.
    pub fn changes_status_class(&self) -> bool {
        self.kind == DiffKind::Status && self.status.is_none_or(|(p, c)| p / 100 != c / 100)
    }
}

/// Distinct `primary → secondary` descriptions kept per route for unhealthy baselines.
pub const MAX_UNHEALTHY_KINDS: usize = 16;

#[derive(Debug, Default, Clone)]
pub struct RouteStats {
    pub total: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub not_compared: u64,
    /// Exchanges (counted in `not_compared`) whose client went away before the primary
    /// answered; nothing else about them is counted.
    pub client_aborted: u64,
    /// Candidate outcomes that were transport failures (connect, timeout, reset, ...).
    pub candidate_errors: u64,
    /// Candidate answers with a 5xx status.
    pub candidate_5xx: u64,
    /// Candidate outcomes (answers and transport failures): the error rate's denominator.
    pub candidate_requests: u64,
    /// Primary answers with a 5xx status or transport failures.
    pub primary_errors: u64,
    /// Primary outcomes of exchanges that also had a candidate outcome, and how many of
    /// them were 5xx or transport failures: the primary's error rate over the same requests.
    pub primary_paired: u64,
    pub primary_paired_errors: u64,
    /// Findings of kinds other than parity differences (contracts, assertions, triggers),
    /// per analyzer and code; bounded.
    pub findings: FindingStats,
    /// Contract conformance per side and its violations (`[contracts]`); bounded.
    pub conformance: super::conformance::ConformanceStats,
    /// `primary status → candidate status` (`err` for a transport failure) with counts.
    pub status_matrix: BTreeMap<(String, String), u64>,
    /// Per differing status pair (primary ≠ candidate, same keys as `status_matrix`): which
    /// identities saw it.
    pub status_identities: BTreeMap<(String, String), IdentityCounts>,
    /// Differences per path and kind: those that counted and those learned noise
    /// suppressed so far (`r` in Diffy's terms). The report decides over the final counts.
    pub differences: BTreeMap<DiffKey, PathStats>,
    /// Differences classified as noise by rules, normalisers or header policy, per path.
    pub suppressed: BTreeMap<String, SuppressedStats>,
    /// Primary ≠ secondary counts per path and kind (learned noise, `n` in Diffy's terms).
    pub noise: BTreeMap<DiffKey, u64>,
    /// Exchanges compared against a healthy secondary (Diffy's T).
    pub secondary_compared: u64,
    /// Exchanges whose secondary answered another status class than the primary, or
    /// failed: not learned from, per `primary 200 → secondary 500` (bounded; `other`).
    pub unhealthy_baseline: BTreeMap<String, u64>,
    /// Exchanges compared without a healthy secondary (the T of volatility learning).
    pub self_compared: u64,
    /// Of those: repeats of an earlier identical request that were comparable.
    pub repeats: u64,
    /// Per JSON path: repeats that showed it changing on its own (bounded by
    /// [`MAX_DIFF_KEYS`]; further paths are not counted, never folded).
    pub volatile: BTreeMap<String, u64>,
    /// Exchanges compared primary vs secondary because the route names no candidate (A/A).
    pub secondary_only: u64,
    /// How many exchanges showed exactly this set of (counted or learned-noise) differences,
    /// as indexes into `keys` (read with [`RouteStats::signatures`]). Bounded: past
    /// [`MAX_SIGNATURES`] distinct sets, or for sets over [`MAX_SIGNATURE_KEYS`], exchanges
    /// are counted in `unsigned_*` by their online verdict instead.
    signatures: HashMap<Vec<u16>, u64>,
    /// The difference keys signatures refer to (≤ [`MAX_DIFF_KEYS`] + one per kind).
    keys: Vec<DiffKey>,
    key_ids: HashMap<DiffKey, u16>,
    /// Exchanges past the signature bound that matched / mismatched when analysed.
    pub unsigned_matched: u64,
    pub unsigned_mismatched: u64,
    /// Translated and untranslated exchanges (`[translate]`); bounded.
    pub translation: super::translation::TranslationStats,
    pub latency_primary: Latency,
    pub latency_candidate: Latency,
    pub latency_secondary: Latency,
}

#[derive(Debug, Default, Clone)]
pub struct PathStats {
    pub count: u64,
    pub examples: Vec<Example>,
    /// Which identities the exchanges showing it came from.
    pub identities: IdentityCounts,
}

#[derive(Debug, Default, Clone)]
pub struct SuppressedStats {
    pub count: u64,
    pub reasons: BTreeMap<String, u64>,
}

impl Aggregate {
    /// An empty aggregate keeping at most `max_routes` routes (at least 1) plus the overflow.
    pub fn with_max_routes(max_routes: usize) -> Aggregate {
        Aggregate {
            routes: BTreeMap::new(),
            redaction: Redaction::default(),
            max_routes: max_routes.max(1),
        }
    }

    /// An empty aggregate with the configuration's route cap (`[grouping] max_routes`).
    pub fn for_config(config: &crate::config::Config) -> Aggregate {
        Aggregate {
            redaction: Redaction::for_config(&config.file),
            ..Aggregate::with_max_routes(config.file.grouping.limits().max_routes)
        }
    }

    pub fn add(&mut self, exchange: &Exchange, analysis: &Analysis) {
        let regular = self.routes.len() - usize::from(self.routes.contains_key(OVERFLOW_ROUTE));
        let stats = if self.routes.contains_key(&analysis.route) || regular < self.max_routes {
            self.routes.entry(analysis.route.clone()).or_default()
        } else {
            self.routes.entry(RouteKey::overflow()).or_default()
        };
        stats.add(exchange, analysis, &self.redaction);
    }

    pub fn total(&self) -> u64 {
        self.routes.values().map(|r| r.total).sum()
    }

    /// Exchanges folded into [`OVERFLOW_ROUTE`] because the route cap was reached.
    pub fn overflow_exchanges(&self) -> u64 {
        self.routes.get(OVERFLOW_ROUTE).map_or(0, |r| r.total)
    }
}

impl RouteStats {
    fn add(&mut self, exchange: &Exchange, analysis: &Analysis, redaction: &Redaction) {
        self.total += 1;
        match analysis.verdict {
            Verdict::Match => self.matched += 1,
            Verdict::Mismatch => self.mismatched += 1,
            Verdict::NotCompared => self.not_compared += 1,
        }
        if exchange.client_aborted() {
            // No primary answer: no latency, status or difference to learn from.
            self.client_aborted += 1;
            return;
        }
        self.translation.add(exchange, analysis);
        let outcomes = &exchange.outcomes;
        record_latency(&mut self.latency_primary, Some(&outcomes.primary));
        if !exchange.untranslated() {
            record_latency(&mut self.latency_candidate, outcomes.candidate.as_ref());
        }
        record_latency(&mut self.latency_secondary, outcomes.secondary.as_ref());
        if is_error(&outcomes.primary) {
            self.primary_errors += 1;
        }
        // The compared side: the candidate, or the secondary on an A/A route.
        let other = match (&outcomes.candidate, &outcomes.secondary) {
            // Not sent for want of a learned credential: neither a request nor an error.
            (Some(_), _) if exchange.untranslated() => None,
            (Some(c), _) => Some(c),
            (None, Some(s)) if analysis.verdict != Verdict::NotCompared => {
                self.secondary_only += 1;
                Some(s)
            }
            _ => None,
        };
        if let Some(candidate) = other {
            self.candidate_requests += 1;
            self.primary_paired += 1;
            if is_error(&outcomes.primary) {
                self.primary_paired_errors += 1;
            }
            match &candidate.result {
                OutcomeResult::Failure(_) => self.candidate_errors += 1,
                OutcomeResult::Response(r) if r.status >= 500 => self.candidate_5xx += 1,
                OutcomeResult::Response(_) => {}
            }
            let mut cell = (status_label(&outcomes.primary), status_label(candidate));
            if self.status_matrix.len() >= MAX_STATUS_CELLS
                && !self.status_matrix.contains_key(&cell)
            {
                cell = ("other".to_string(), "other".to_string());
            }
            if cell.0 != cell.1 {
                self.status_identities
                    .entry(cell.clone())
                    .or_default()
                    .add(exchange.identity.as_deref());
            }
            *self.status_matrix.entry(cell).or_default() += 1;
        }
        // Counted differences and those learned noise suppressed so far both enter the
        // per-path counts and the signature: the report decides again over final counts.
        for (kind, note) in analysis.notes() {
            self.findings.add(kind, note, exchange.id, redaction);
        }
        if !analysis.contracts.is_empty() {
            self.conformance.add(&analysis.contracts, exchange.id);
        }
        let learned = analysis.suppressed().filter(|s| s.learned);
        let eligible = analysis.differences().chain(learned.map(|s| &s.difference));
        let mut signature = Vec::new();
        let mut folded: Vec<DiffKind> = Vec::new();
        for d in eligible {
            let key = bounded_key(&self.differences, DiffKey::of(d));
            if key.path == OTHER_PATHS && d.path != OTHER_PATHS {
                // Count a fold once per exchange, like any other (path, kind).
                if folded.contains(&key.kind) {
                    continue;
                }
                folded.push(key.kind);
            }
            let path = self.differences.entry(key.clone()).or_default();
            path.count += 1;
            path.identities.add(exchange.identity.as_deref());
            if path.examples.len() < EXAMPLES_PER_PATH {
                path.examples.push(example(exchange, d, redaction));
            }
            signature.push(self.key_id(key));
        }
        signature.sort_unstable();
        signature.dedup();
        if analysis.verdict != Verdict::NotCompared {
            if signature.len() <= MAX_SIGNATURE_KEYS
                && (self.signatures.len() < MAX_SIGNATURES
                    || self.signatures.contains_key(&signature))
            {
                *self.signatures.entry(signature).or_default() += 1;
            } else if analysis.verdict == Verdict::Match {
                self.unsigned_matched += 1;
            } else {
                self.unsigned_mismatched += 1;
            }
        }
        for s in analysis.suppressed().filter(|s| !s.learned) {
            let path = &s.difference.path;
            let path = if path.len() > MAX_PATH_BYTES
                || (self.suppressed.len() >= MAX_SUPPRESSED_PATHS
                    && !self.suppressed.contains_key(path))
            {
                OTHER_PATHS
            } else {
                path.as_str()
            };
            let entry = self.suppressed.entry(path.to_string()).or_default();
            entry.count += 1;
            let reason =
                if entry.reasons.len() >= MAX_REASONS && !entry.reasons.contains_key(&s.reason) {
                    "other"
                } else {
                    s.reason.as_str()
                };
            *entry.reasons.entry(reason.to_string()).or_default() += 1;
        }
        if let Some(why) = &analysis.unhealthy_baseline {
            let why = if self.unhealthy_baseline.len() >= MAX_UNHEALTHY_KINDS
                && !self.unhealthy_baseline.contains_key(why)
            {
                "other"
            } else {
                why.as_str()
            };
            *self.unhealthy_baseline.entry(why.to_string()).or_default() += 1;
        }
        let compared = analysis.verdict != Verdict::NotCompared;
        if compared
            && outcomes.candidate.is_some()
            && outcomes.secondary.is_some()
            && analysis.unhealthy_baseline.is_none()
        {
            self.secondary_compared += 1;
        } else if compared {
            self.self_compared += 1;
        }
        if analysis.repeat {
            self.repeats += 1;
        }
        if let Some(d) = &analysis.volatile {
            if let Some(n) = self.volatile.get_mut(&d.path) {
                *n += 1;
            } else if self.volatile.len() < MAX_DIFF_KEYS && d.path.len() <= MAX_PATH_BYTES {
                self.volatile.insert(d.path.clone(), 1);
            }
        }
        let mut seen = Vec::with_capacity(analysis.noise.len());
        for d in &analysis.noise {
            let key = bounded_key(&self.noise, DiffKey::of(d));
            if !seen.contains(&key) {
                *self.noise.entry(key.clone()).or_default() += 1;
                seen.push(key);
            }
        }
    }

    /// The interned id of a key (keys are bounded by [`MAX_DIFF_KEYS`] plus one fold per
    /// kind, far below `u16::MAX`).
    fn key_id(&mut self, key: DiffKey) -> u16 {
        if let Some(id) = self.key_ids.get(&key) {
            return *id;
        }
        let id = u16::try_from(self.keys.len()).unwrap_or(u16::MAX);
        self.keys.push(key.clone());
        self.key_ids.insert(key, id);
        id
    }

    /// Each distinct set of differences (counted or learned noise) with its exchange count.
    pub fn signatures(&self) -> impl Iterator<Item = (Vec<&DiffKey>, u64)> + '_ {
        self.signatures.iter().map(|(ids, count)| {
            let keys = ids
                .iter()
                .filter_map(|i| self.keys.get(usize::from(*i)))
                .collect();
            (keys, *count)
        })
    }

    /// How many distinct difference sets are kept.
    pub fn signature_count(&self) -> usize {
        self.signatures.len()
    }

    /// Fraction of compared exchanges that matched (1.0 when nothing was compared).
    pub fn parity(&self) -> f64 {
        let compared = self.matched + self.mismatched;
        if compared == 0 {
            1.0
        } else {
            self.matched as f64 / compared as f64
        }
    }
}

/// `key`, or (`{other paths}`, kind) when the map is full or the path is overlong.
fn bounded_key<V>(map: &BTreeMap<DiffKey, V>, key: DiffKey) -> DiffKey {
    if key.path.len() <= MAX_PATH_BYTES && (map.len() < MAX_DIFF_KEYS || map.contains_key(&key)) {
        key
    } else {
        DiffKey {
            path: OTHER_PATHS.to_string(),
            kind: key.kind,
            status: None,
        }
    }
}

fn record_latency(latency: &mut Latency, outcome: Option<&Outcome>) {
    if let Some(o) = outcome {
        latency.record_us(o.elapsed_us());
    }
}

fn is_error(o: &Outcome) -> bool {
    match &o.result {
        OutcomeResult::Failure(_) => true,
        OutcomeResult::Response(r) => r.status >= 500,
    }
}

fn status_label(o: &Outcome) -> String {
    match &o.result {
        OutcomeResult::Response(r) => r.status.to_string(),
        OutcomeResult::Failure(f) => f.kind.as_str().to_string(),
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
