//! The report's `baseline` section: what learned noise on a route was decided against (a
//! healthy secondary, or the primary's own repeated identical requests) and how often the
//! secondary was an unhealthy baseline. Built from the aggregate's counters; renders nothing.

use serde::{Deserialize, Serialize};

use super::model::ReasonCount;
use crate::pipeline::aggregate::RouteStats;

/// The baseline learned noise was decided against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BaselineReport {
    /// `secondary` (Diffy's r/n rule against a second primary instance), `primary`
    /// (volatility learned from the primary's repeated identical requests), or `none`
    /// (nothing compared yet).
    pub source: String,
    /// Exchanges compared against a healthy secondary (Diffy's T).
    pub secondary_compared: u64,
    /// Exchanges whose secondary answered another status class than the primary, or
    /// failed: an unhealthy baseline, never learned from.
    pub unhealthy: u64,
    /// `primary 200 → secondary 500` with counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy_pairs: Vec<ReasonCount>,
    /// Without a healthy secondary: comparable repeats of identical requests seen.
    pub repeats: u64,
}

impl BaselineReport {
    /// One sentence about an unhealthy secondary, when there is one.
    pub fn unhealthy_sentence(&self) -> Option<String> {
        (self.unhealthy > 0).then(|| {
            let pairs: Vec<String> = self
                .unhealthy_pairs
                .iter()
                .map(|p| format!("{} ×{}", p.reason, p.count))
                .collect();
            format!(
                "Unhealthy baseline: the secondary answered another status class than the \
                 primary (or failed) on {} exchanges ({}); nothing was learned from them.",
                self.unhealthy,
                pairs.join(", ")
            )
        })
    }
}

/// Exchanges showing one non-parity finding.
pub(super) fn baseline_report(stats: &RouteStats) -> Option<BaselineReport> {
    let unhealthy: u64 = stats.unhealthy_baseline.values().sum();
    let source = if stats.secondary_compared > 0 {
        "secondary"
    } else if stats.self_compared > 0 {
        "primary"
    } else if unhealthy == 0 {
        return None;
    } else {
        "none"
    };
    Some(BaselineReport {
        source: source.into(),
        secondary_compared: stats.secondary_compared,
        unhealthy,
        unhealthy_pairs: stats
            .unhealthy_baseline
            .iter()
            .map(|(reason, count)| ReasonCount {
                reason: reason.clone(),
                count: *count,
            })
            .collect(),
        repeats: stats.repeats,
    })
}
