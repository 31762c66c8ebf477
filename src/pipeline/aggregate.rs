//! Per-route totals over analysed exchanges. (Minimal; grows with the parity engine.)

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Analysis, Verdict};
use crate::exchange::Exchange;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Aggregate {
    pub routes: BTreeMap<String, RouteStats>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RouteStats {
    pub total: u64,
    pub matched: u64,
    pub mismatched: u64,
    pub not_compared: u64,
    /// Candidate outcomes that were transport failures.
    pub candidate_errors: u64,
}

impl Aggregate {
    pub fn add(&mut self, exchange: &Exchange, analysis: &Analysis) {
        let stats = self.routes.entry(analysis.route.clone()).or_default();
        stats.total += 1;
        match analysis.verdict {
            Verdict::Match => stats.matched += 1,
            Verdict::Mismatch => stats.mismatched += 1,
            Verdict::NotCompared => stats.not_compared += 1,
        }
        if exchange
            .outcomes
            .candidate
            .as_ref()
            .is_some_and(|c| c.failure().is_some())
        {
            stats.candidate_errors += 1;
        }
    }
}
