//! Naming every way work is lost: client aborts per route (counted here), and the
//! end-of-run summary table with one line per drop reason (analysis queue full, late
//! exchanges, shadow capacity, client aborts, refused connections, timeouts).
//!
//! Owns the per-route client-abort counters and the rendering of [`ProxySummary`]. Reads
//! the aggregate; never changes proxy state.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ProxySummary;
use crate::config::Config;
use crate::pipeline::Aggregate;
use crate::pipeline::aggregate::RouteStats;

/// Mirrored exchanges whose client went away before the primary answered, per configured
/// route (index `routes` is "no route", unused: only mirrored requests are counted).
#[derive(Debug)]
pub struct ClientAborts(Vec<AtomicU64>);

impl ClientAborts {
    pub fn new(routes: usize) -> ClientAborts {
        ClientAborts((0..=routes).map(|_| AtomicU64::new(0)).collect())
    }

    pub fn client_aborted(&self, route: usize) {
        if let Some(c) = self.0.get(route) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, route: usize) -> u64 {
        self.0.get(route).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `cutover_client_aborts_total{route=...}` for every configured route.
    pub fn render(&self, out: &mut String, routes: &[String]) {
        let _ = writeln!(
            out,
            "# HELP cutover_client_aborts_total Mirrored exchanges whose client went away before the primary answered (not compared, never a mismatch).\n\
             # TYPE cutover_client_aborts_total counter"
        );
        for (i, route) in routes.iter().enumerate() {
            let route = route
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = writeln!(
                out,
                "cutover_client_aborts_total{{route=\"{route}\"}} {}",
                self.get(i)
            );
        }
    }
}

/// The end-of-run table: per route, requests / mirrored / matched / mismatched / not
/// mirrored / client aborts / candidate errors, then every drop reason by name.
pub fn render_summary(config: &Config, summary: &ProxySummary, aggregate: &Aggregate) -> String {
    // The aggregate is keyed by grouped routes; fold them onto the configured routes.
    let mut per_route: Vec<RouteStats> = vec![RouteStats::default(); summary.routes.len()];
    for (key, stats) in &aggregate.routes {
        let path = key.template();
        let i = config
            .routes
            .iter()
            .position(|r| r.matches(path))
            .unwrap_or(summary.routes.len().saturating_sub(1));
        if let Some(slot) = per_route.get_mut(i) {
            slot.matched += stats.matched;
            slot.mismatched += stats.mismatched;
            slot.candidate_errors += stats.candidate_errors;
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>8} {:>10} {:>9} {:>8} {:>11}",
        "route",
        "requests",
        "mirrored",
        "matched",
        "mismatched",
        "not mirr.",
        "aborted",
        "cand.errors"
    );
    for (r, stats) in summary.routes.iter().zip(&per_route) {
        if r.requests == 0 && r.mirrored == 0 {
            continue;
        }
        let not_mirrored: u64 = r.not_mirrored.values().sum();
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>8} {:>10} {:>9} {:>8} {:>11}",
            r.route,
            r.requests,
            r.mirrored,
            stats.matched,
            stats.mismatched,
            not_mirrored,
            r.client_aborted,
            stats.candidate_errors
        );
        if !r.not_mirrored.is_empty() {
            let reasons: Vec<String> = r
                .not_mirrored
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "{:<24} not mirrored: {}", "", reasons.join(", "));
        }
    }
    if summary.primary_errors > 0 {
        let _ = writeln!(out, "primary transport errors: {}", summary.primary_errors);
    }
    let capacity: u64 = summary
        .routes
        .iter()
        .filter_map(|r| r.not_mirrored.get("capacity"))
        .sum();
    let _ = writeln!(
        out,
        "exchanges not analysed: analysis_queue_full={}, analysis_queue_bytes={}, shadow_memory={}, late={}, client_aborted={}; copies not made: shadow_capacity={}",
        summary.analysis_queue_full,
        summary.analysis_queue_bytes,
        summary.dropped_shadow_memory,
        summary.late_exchanges,
        summary.client_aborted,
        capacity
    );
    let _ = writeln!(
        out,
        "shadow memory: peak {} bytes",
        summary.peak_shadow_memory_bytes
    );
    let _ = writeln!(
        out,
        "connections: refused={} (max_connections {}), header_timeouts={}, idle_closed={}, accept_errors={}, upgrades={}",
        summary.connections_refused,
        summary.max_connections,
        summary.header_timeouts,
        summary.idle_closed,
        summary.accept_errors,
        summary.upgrades
    );
    if summary.unfinished_shadows > 0 {
        let _ = writeln!(
            out,
            "shadows unfinished at shutdown: {}",
            summary.unfinished_shadows
        );
    }
    out
}
