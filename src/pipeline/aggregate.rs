//! Per-route totals over analysed exchanges: verdict counts, differing paths with examples,
//! suppressed paths with their reasons, the status matrix and latency per target.
//!
//! The same aggregate feeds the proxy's live summary, `/metrics` and the reports. Memory is
//! bounded by the number of distinct routes and paths, not by traffic: examples are capped
//! per path and example values are cut to a fixed size.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::latency::Latency;
use super::{Analysis, Verdict};
use crate::compare::{DiffKind, Difference};
use crate::exchange::{Exchange, Outcome, OutcomeResult};
use crate::redact::{self, Redaction};

/// Examples kept per differing path.
pub const EXAMPLES_PER_PATH: usize = 5;
/// Distinct difference sets kept per route for the final noise decision (memory bound for
/// long runs over list-shaped bodies, whose sets can all differ).
pub const MAX_SIGNATURES: usize = 4096;
/// Example values longer than this (as JSON text) are cut.
const EXAMPLE_VALUE_BYTES: usize = 2048;

#[derive(Debug, Default, Clone)]
pub struct Aggregate {
    pub routes: BTreeMap<String, RouteStats>,
    /// Applied to every example before it is kept: reports never see a secret.
    pub redaction: Redaction,
}

/// A differing place: JSON path (or `status`, `header:x`, ...) and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DiffKey {
    pub path: String,
    pub kind: DiffKind,
}

impl DiffKey {
    pub fn of(d: &Difference) -> DiffKey {
        DiffKey {
            path: d.path.clone(),
            kind: d.kind,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct RouteStats {
    pub total: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub not_compared: u64,
    /// Candidate outcomes that were transport failures (connect, timeout, reset, ...).
    pub candidate_errors: u64,
    /// Candidate answers with a 5xx status.
    pub candidate_5xx: u64,
    /// Primary answers with a 5xx status or transport failures.
    pub primary_errors: u64,
    /// `primary status → candidate status` (`err` for a transport failure) with counts.
    pub status_matrix: BTreeMap<(String, String), u64>,
    /// Differences per path and kind: those that counted and those learned noise
    /// suppressed so far (`r` in Diffy's terms). The report decides over the final counts.
    pub differences: BTreeMap<DiffKey, PathStats>,
    /// Differences classified as noise by rules, normalisers or header policy, per path.
    pub suppressed: BTreeMap<String, SuppressedStats>,
    /// Primary ≠ secondary counts per path and kind (learned noise, `n` in Diffy's terms).
    pub noise: BTreeMap<DiffKey, u64>,
    /// Exchanges compared against a secondary.
    pub secondary_compared: u64,
    /// How many exchanges showed exactly this set of (counted or learned-noise) differences.
    /// Bounded: past [`MAX_SIGNATURES`] distinct sets, exchanges are counted in
    /// `unsigned_*` by their online verdict instead.
    pub signatures: HashMap<Vec<DiffKey>, u64>,
    /// Exchanges past the signature bound that matched / mismatched when analysed.
    pub unsigned_matched: u64,
    pub unsigned_mismatched: u64,
    pub latency_primary: Latency,
    pub latency_candidate: Latency,
    pub latency_secondary: Latency,
}

#[derive(Debug, Default, Clone)]
pub struct PathStats {
    pub count: u64,
    pub examples: Vec<Example>,
}

/// One exchange showing a difference, enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub exchange: u64,
    /// `METHOD /uri` as received.
    pub request: String,
    /// Redacted request body (cut), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct SuppressedStats {
    pub count: u64,
    pub reasons: BTreeMap<String, u64>,
}

impl Aggregate {
    pub fn add(&mut self, exchange: &Exchange, analysis: &Analysis) {
        let stats = self.routes.entry(analysis.route.clone()).or_default();
        stats.add(exchange, analysis, &self.redaction);
    }

    pub fn total(&self) -> u64 {
        self.routes.values().map(|r| r.total).sum()
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
        let outcomes = &exchange.outcomes;
        record_latency(&mut self.latency_primary, Some(&outcomes.primary));
        record_latency(&mut self.latency_candidate, outcomes.candidate.as_ref());
        record_latency(&mut self.latency_secondary, outcomes.secondary.as_ref());
        if is_error(&outcomes.primary) {
            self.primary_errors += 1;
        }
        if let Some(candidate) = &outcomes.candidate {
            match &candidate.result {
                OutcomeResult::Failure(_) => self.candidate_errors += 1,
                OutcomeResult::Response(r) if r.status >= 500 => self.candidate_5xx += 1,
                OutcomeResult::Response(_) => {}
            }
            *self
                .status_matrix
                .entry((status_label(&outcomes.primary), status_label(candidate)))
                .or_default() += 1;
        }
        // Counted differences and those learned noise suppressed so far both enter the
        // per-path counts and the signature: the report decides again over final counts.
        let learned = analysis.suppressed.iter().filter(|s| s.learned);
        let eligible = analysis
            .differences
            .iter()
            .chain(learned.map(|s| &s.difference));
        let mut signature = Vec::with_capacity(analysis.differences.len());
        for d in eligible {
            let key = DiffKey::of(d);
            let path = self.differences.entry(key.clone()).or_default();
            path.count += 1;
            if path.examples.len() < EXAMPLES_PER_PATH {
                path.examples.push(example(exchange, d, redaction));
            }
            signature.push(key);
        }
        signature.sort();
        signature.dedup();
        if analysis.verdict != Verdict::NotCompared {
            if self.signatures.len() < MAX_SIGNATURES || self.signatures.contains_key(&signature) {
                *self.signatures.entry(signature).or_default() += 1;
            } else if analysis.verdict == Verdict::Match {
                self.unsigned_matched += 1;
            } else {
                self.unsigned_mismatched += 1;
            }
        }
        for s in analysis.suppressed.iter().filter(|s| !s.learned) {
            let entry = self
                .suppressed
                .entry(s.difference.path.clone())
                .or_default();
            entry.count += 1;
            *entry.reasons.entry(s.reason.clone()).or_default() += 1;
        }
        if outcomes.secondary.is_some() {
            self.secondary_compared += 1;
        }
        let mut seen = Vec::with_capacity(analysis.noise.len());
        for d in &analysis.noise {
            let key = DiffKey::of(d);
            if !seen.contains(&key) {
                *self.noise.entry(key.clone()).or_default() += 1;
                seen.push(key);
            }
        }
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

fn example(exchange: &Exchange, d: &Difference, redaction: &Redaction) -> Example {
    let request = &exchange.request;
    let mut body = request.body.clone();
    redact::redact_body_in(&mut body, &request.headers, redaction);
    let mut d = d.clone();
    redact::redact_difference(&mut d, redaction);
    Example {
        exchange: exchange.id,
        request: redact::display_request(&request.method, &request.uri, redaction),
        request_body: (!body.is_empty()).then(|| {
            cut(
                &String::from_utf8_lossy(body.as_bytes()),
                EXAMPLE_VALUE_BYTES,
            )
        }),
        primary: d.primary.as_ref().map(cut_value),
        candidate: d.candidate.as_ref().map(cut_value),
        detail: d.detail.as_ref().map(|s| cut(s, EXAMPLE_VALUE_BYTES * 4)),
    }
}

fn cut_value(v: &Value) -> Value {
    match v {
        Value::Array(_) | Value::Object(_) | Value::String(_) => {
            let text = v.to_string();
            if text.len() > EXAMPLE_VALUE_BYTES {
                Value::String(format!(
                    "{} … ({} bytes)",
                    cut(&text, EXAMPLE_VALUE_BYTES),
                    text.len()
                ))
            } else {
                v.clone()
            }
        }
        _ => v.clone(),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Body, Outcomes, RecordedRequest, RecordedResponse};

    fn exchange() -> Exchange {
        let outcome = |target: &str| Outcome {
            target: target.into(),
            result: OutcomeResult::Response(RecordedResponse {
                status: 200,
                headers: Vec::new(),
                body: Body::default(),
                truncated: false,
                ttfb_us: 1,
                total_us: 1,
            }),
        };
        Exchange {
            id: 1,
            at: chrono::Utc::now(),
            route: "GET /x".into(),
            request: RecordedRequest {
                method: "GET".into(),
                uri: "/x".into(),
                headers: Vec::new(),
                body: Body::default(),
                truncated: false,
            },
            outcomes: Outcomes {
                primary: outcome("p"),
                secondary: None,
                candidate: Some(outcome("c")),
            },
        }
    }

    #[test]
    fn signatures_are_bounded_and_nothing_is_lost() {
        let ex = exchange();
        let mut agg = Aggregate::default();
        let n = MAX_SIGNATURES + 500;
        for i in 0..n {
            let analysis = Analysis {
                route: "GET /x".into(),
                verdict: Verdict::Mismatch,
                differences: vec![Difference {
                    path: format!("/{i}/id"),
                    kind: DiffKind::TypeChanged,
                    primary: None,
                    candidate: None,
                    detail: None,
                }],
                suppressed: Vec::new(),
                noise: Vec::new(),
            };
            agg.add(&ex, &analysis);
        }
        let r = &agg.routes["GET /x"];
        assert_eq!(r.signatures.len(), MAX_SIGNATURES);
        assert_eq!(r.unsigned_mismatched, 500);
        assert_eq!(
            r.signatures.values().sum::<u64>() + r.unsigned_mismatched,
            n as u64
        );
    }
}
