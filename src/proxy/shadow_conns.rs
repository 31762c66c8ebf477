//! The connections of shadow targets as an operator sees them: the cap in force per
//! target (`[proxy] max_shadow_connections_per_target`), connections open now and at the
//! peak, copies that waited for a connection, and waits that ran out (their exchanges are
//! dropped and counted as `cutover_exchanges_dropped_total{reason="shadow_connections"}`).
//!
//! A copy that finds every allowed connection of its target busy waits (within its
//! `shadow_timeout_ms`) for one to come back or close; a wait that runs out means the copy
//! was never sent, so the exchange is dropped and counted — a capacity drop, never a
//! timeout or error of the target. Connections are counted per origin: targets on the same
//! origin and settings share one pool and one cap; the primary's connections are never
//! capped (they follow the client connections).
//!
//! Owns the list of capped shadow targets (candidates and the secondary, one entry per
//! target name) and the `cutover_shadow_connections*` metric families. Reads the pools'
//! counters ([`crate::upstream::cap`]); never opens, closes or waits for a connection.

use std::fmt::Write as _;

use super::metrics::escape;
use crate::exchange::Outcomes;
use crate::upstream::Target;
use crate::upstream::cap::{CapStats, is_connection_capped};

/// One capped shadow target's connection counters, for the shutdown summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShadowConnSummary {
    pub target: String,
    #[serde(flatten)]
    pub stats: CapStats,
}

/// A metric family: name, type, help, and its value from a target's counters.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CapStats) -> u64,
);

/// The capped shadow targets, by name.
#[derive(Debug, Default)]
pub struct ShadowConns {
    targets: Vec<Target>,
    max: usize,
}

/// Whether an exchange has an outcome that waited out its target's connection cap (the
/// exchange is then dropped, not analysed).
pub fn capped(o: &Outcomes) -> bool {
    [Some(&o.primary), o.candidate.as_ref(), o.secondary.as_ref()]
        .into_iter()
        .flatten()
        .any(|o| is_connection_capped(&o.result))
}

impl ShadowConns {
    /// Every capped target among `targets`, each name once; `max`: the configured cap.
    pub fn new<'a>(targets: impl IntoIterator<Item = &'a Target>, max: usize) -> ShadowConns {
        let mut out: Vec<Target> = Vec::new();
        for t in targets {
            if t.pool.cap_stats().is_some() && !out.iter().any(|o| o.name == t.name) {
                out.push(t.clone());
            }
        }
        ShadowConns { targets: out, max }
    }

    /// `max_shadow_connections_per_target`.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Counters per target now.
    pub fn summary(&self) -> Vec<ShadowConnSummary> {
        self.targets
            .iter()
            .filter_map(|t| {
                t.pool.cap_stats().map(|stats| ShadowConnSummary {
                    target: t.name.clone(),
                    stats,
                })
            })
            .collect()
    }

    /// Prometheus families, one sample per capped shadow target each.
    pub fn render(&self, out: &mut String) {
        let rows = self.summary();
        let families: [Family; 5] = [
            (
                "cutover_shadow_connections",
                "gauge",
                "HTTP/1.1 connections open to the shadow target's origin.",
                |s| s.open as u64,
            ),
            (
                "cutover_shadow_connections_peak",
                "gauge",
                "The most connections open to the shadow target's origin at once.",
                |s| s.peak as u64,
            ),
            (
                "cutover_shadow_connections_max",
                "gauge",
                "max_shadow_connections_per_target.",
                |s| s.max as u64,
            ),
            (
                "cutover_shadow_connection_waits_total",
                "counter",
                "Shadow copies that found every allowed connection busy and waited for one.",
                |s| s.waits,
            ),
            (
                "cutover_shadow_connection_waits_expired_total",
                "counter",
                "Waits for a shadow connection that ran out of time (the copy was not sent).",
                |s| s.expired,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for r in &rows {
                let _ = writeln!(
                    out,
                    "{name}{{target=\"{}\"}} {}",
                    escape(&r.target),
                    value(&r.stats)
                );
            }
        }
    }
}
