//! Naming every way work is lost: client aborts per route (counted here), and the
//! end-of-run summary table with one line per drop reason (analysis queue full, late
//! exchanges, shadow capacity, client aborts, refused connections, timeouts).
//!
//! Owns the per-route client-abort counters, the [`ProxySummary`] taken from the proxy's
//! counters, and its rendering. Reads the aggregate; never changes proxy state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Shared;
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
            // 5xx answers are candidate errors as much as transport failures.
            slot.candidate_errors += stats.candidate_errors + stats.candidate_5xx;
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
    let reason = |name: &str| -> u64 {
        summary
            .routes
            .iter()
            .filter_map(|r| r.not_mirrored.get(name))
            .sum()
    };
    let capacity = reason("capacity");
    let _ = writeln!(
        out,
        "exchanges not analysed: analysis_queue_full={}, analysis_queue_bytes={}, shadow_memory={}, shadow_connections={}, late={}, client_aborted={}; copies not made: shadow_capacity={}, identity_queue_full={}, identities_full={}",
        summary.analysis_queue_full,
        summary.analysis_queue_bytes,
        summary.dropped_shadow_memory,
        summary.dropped_shadow_connections,
        summary.late_exchanges,
        summary.client_aborted,
        capacity,
        reason("identity_queue_full"),
        reason("identities_full")
    );
    let _ = writeln!(
        out,
        "shadow memory: peak {} bytes",
        summary.peak_shadow_memory_bytes
    );
    for c in &summary.shadow_connections {
        let _ = writeln!(
            out,
            "shadow connections to {}: peak {} of {} (max_shadow_connections_per_target), waits={}, waits_expired={}",
            c.target, c.stats.peak, c.stats.max, c.stats.waits, c.stats.expired
        );
    }
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

/// Per-route counters at shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RouteSummary {
    /// The route's pattern (`/auth/**`), or `none` for requests matching no route.
    pub route: String,
    /// Requests that reached cutover on this route.
    pub requests: u64,
    pub mirrored: u64,
    /// Requests on the route that were not mirrored, by reason (`sampled_out`, `method`,
    /// `body_too_large`, `capacity`, `shadow_copy`, `upgrade`, `identity_queue_full`,
    /// `identities_full`).
    pub not_mirrored: BTreeMap<String, u64>,
    /// Mirrored requests whose client went away before the primary answered.
    pub client_aborted: u64,
}

/// What the proxy did, as counted when it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxySummary {
    pub routes: Vec<RouteSummary>,
    /// Transport failures of the primary.
    pub primary_errors: u64,
    /// Shadow permits still held when the grace period ended.
    pub unfinished_shadows: usize,
    /// Exchanges completed after the pipeline handle was released (not analysed).
    pub late_exchanges: u64,
    /// Exchanges dropped because the analysis queue was full (not analysed).
    pub analysis_queue_full: u64,
    /// Mirrored exchanges whose client went away before the primary answered.
    pub client_aborted: u64,
    /// Client connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// The cap in force (configured or derived from the descriptor limit).
    pub max_connections: usize,
    /// Client connections closed because no complete request head arrived in time.
    pub header_timeouts: u64,
    /// Keep-alive client connections closed after the idle timeout.
    pub idle_closed: u64,
    /// Failed accepts on the proxy listener.
    pub accept_errors: u64,
    /// Upgraded connections tunnelled to the primary.
    pub upgrades: u64,
    /// Exchanges dropped because the analysis queue held `max_queued_bytes` already.
    pub analysis_queue_bytes: u64,
    /// Exchanges dropped because their captures did not fit in `max_shadow_memory_bytes`.
    pub dropped_shadow_memory: u64,
    /// The most bytes shadow captures and queued exchanges held at once.
    pub peak_shadow_memory_bytes: u64,
    /// Exchanges dropped because a shadow found no free connection before its deadline.
    pub dropped_shadow_connections: u64,
    /// Per capped shadow target: connections (peak, cap), waits, waits that ran out.
    pub shadow_connections: Vec<super::shadow_conns::ShadowConnSummary>,
}

pub(super) fn summary(shared: &Shared, unfinished_shadows: usize) -> ProxySummary {
    let m = &shared.metrics;
    let mut names: Vec<String> = m.route_names().to_vec();
    names.push("none".into());
    let routes = names
        .into_iter()
        .enumerate()
        .map(|(i, route)| {
            let (requests, mirrored, not) = m.route_counts(i);
            RouteSummary {
                route,
                requests,
                mirrored,
                not_mirrored: not.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                client_aborted: shared.drops.get(i),
            }
        })
        .collect();
    let c = &shared.conns;
    ProxySummary {
        routes,
        primary_errors: m.errors_of(shared.primary.index),
        unfinished_shadows,
        late_exchanges: shared.late.load(Ordering::Relaxed),
        analysis_queue_full: shared
            .pipeline_stats
            .dropped_queue_full
            .load(Ordering::Relaxed),
        client_aborted: shared.drops.total(),
        connections_refused: c.refused.load(Ordering::Relaxed),
        max_connections: shared.conn_limits.max,
        header_timeouts: c.header_timeouts.load(Ordering::Relaxed),
        idle_closed: c.idle_closed.load(Ordering::Relaxed),
        accept_errors: c.accept_errors.load(Ordering::Relaxed),
        upgrades: c.upgrades.load(Ordering::Relaxed),
        analysis_queue_bytes: shared
            .pipeline_stats
            .dropped_queue_bytes
            .load(Ordering::Relaxed),
        dropped_shadow_memory: m.dropped_for_memory(),
        peak_shadow_memory_bytes: shared.memory.peak(),
        dropped_shadow_connections: m.dropped_for_connections(),
        shadow_connections: shared.shadow_conns.summary(),
    }
}
