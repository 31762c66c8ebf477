//! The proxy's log lines for an operator: what is in force at start-up (info), one line
//! per request and per mirrored exchange (debug), and rate-limited warnings for upstream
//! failures and exchanges dropped before analysis ([`crate::ratelog`]).
//!
//! Owns the wording and the redaction of those lines: every URI and message goes through
//! [`crate::redact`], target URLs lose their userinfo, nothing from a body or a header is
//! logged. Never counts anything (the metrics do) and never decides what the proxy does.

use std::net::SocketAddr;

use http::Method;

use super::Shared;
use super::budget::is_over_budget;
use super::metrics::NotMirrored;
use crate::config::Config;
use crate::config::{ProxyMode, Role};
use crate::exchange::{Exchange, Failure, FailureKind, Outcome, OutcomeResult};
use crate::pipeline::PipelineStats;
use crate::ratelog::{Emit, KeyedRateLimit, RateLimit};
use crate::redact::{self, Redaction};

/// Rate limits and redaction rules for the proxy's log lines.
#[derive(Debug)]
pub struct ProxyLogs {
    redaction: Redaction,
    /// Per target name and failure kind.
    upstream: KeyedRateLimit<(String, FailureKind)>,
    queue: RateLimit,
    memory: RateLimit,
}

impl ProxyLogs {
    pub fn new(redaction: Redaction) -> ProxyLogs {
        ProxyLogs {
            redaction,
            upstream: KeyedRateLimit::default(),
            queue: RateLimit::default(),
            memory: RateLimit::default(),
        }
    }

    /// The start-up lines: listeners, targets, routes, bounds and grouping limits.
    pub fn startup(
        &self,
        config: &Config,
        listen: SocketAddr,
        admin: Option<SocketAddr>,
        workers: usize,
    ) {
        let p = &config.file.proxy;
        let mode = match p.mode {
            ProxyMode::Inline => "inline",
            ProxyMode::MirrorTarget => "mirror-target",
        };
        tracing::info!(
            "proxy listening on http://{listen} (mode {mode}, {workers} worker threads)"
        );
        match admin {
            Some(a) => tracing::info!("admin listening on http://{a}/metrics"),
            None => tracing::info!("admin listener disabled (`[proxy] admin_enabled = false`)"),
        }
        for (name, t) in &config.file.targets {
            let timeout = t.timeout_ms.unwrap_or(match t.role {
                Role::Primary => p.primary_timeout_ms,
                _ => p.shadow_timeout_ms,
            });
            tracing::info!(
                "target {name}: role {}, url {}, timeout {timeout} ms",
                role(t.role),
                url_for_log(t.url.get_ref(), &self.redaction)
            );
        }
        for r in config.routes.iter() {
            tracing::info!(
                "route {}: candidate {}, sample {}, mirror_writes {}, parity_threshold {}",
                r.pattern,
                r.candidate
                    .as_deref()
                    .unwrap_or("none (secondary only: A/A)"),
                r.sample,
                r.mirror_writes,
                r.parity_threshold
            );
        }
        if config.routes.is_empty() {
            tracing::warn!("no [[routes]]: every request goes to the primary, nothing is mirrored");
        }
        tracing::info!(
            "shadow bounds: max_in_flight_shadows {}, max_body_bytes {}, max_shadow_memory_bytes {}",
            p.max_in_flight_shadows,
            p.max_body_bytes,
            p.max_shadow_memory_bytes
        );
        let g = config.file.grouping.limits();
        tracing::info!(
            "grouping: param_after {}, max_routes {}",
            g.param_after,
            g.max_routes
        );
    }

    /// One request answered to the client (debug). `mirrored` is `yes` or why not.
    pub fn request(
        &self,
        method: &Method,
        uri: &str,
        route: Option<&str>,
        status: u16,
        ttfb_us: u64,
        mirrored: &str,
    ) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        tracing::debug!(
            request = %redact::display_request(method.as_str(), uri, &self.redaction),
            route = %route.unwrap_or("none"),
            status,
            ttfb_ms = ms(ttfb_us),
            mirrored = %mirrored,
            "request"
        );
    }

    /// One mirrored exchange, complete and about to be analysed (debug).
    pub fn exchange(&self, exchange: &Exchange, route: &str) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let req = &exchange.request;
        let o = &exchange.outcomes;
        tracing::debug!(
            id = exchange.id,
            request = %redact::display_request(&req.method, &req.uri, &self.redaction),
            route = %route,
            primary = %outcome(&o.primary),
            candidate = %o.candidate.as_ref().map_or_else(|| "-".to_string(), outcome),
            secondary = %o.secondary.as_ref().map_or_else(|| "-".to_string(), outcome),
            "exchange"
        );
    }

    /// A mirrored exchange of route `route` is complete: its line (debug), and its
    /// upstream failures (rate-limited). The primary's failures are logged where the
    /// client is answered, except in mirror-target mode where cutover calls it itself.
    pub(super) fn submitted(&self, shared: &Shared, exchange: &Exchange, route: usize) {
        self.exchange(
            exchange,
            route_pattern(shared, Some(route)).unwrap_or("none"),
        );
        let o = &exchange.outcomes;
        let primary = (shared.mode == ProxyMode::MirrorTarget).then_some(&o.primary);
        for outcome in primary
            .into_iter()
            .chain(o.candidate.as_ref())
            .chain(o.secondary.as_ref())
        {
            if let Some(f) = outcome
                .failure()
                .filter(|_| !is_over_budget(&outcome.result))
            {
                self.upstream_failure(&outcome.target, f);
            }
        }
    }

    /// An upstream call failed: the first failure of each target and kind is logged with
    /// its message, then at most one line per interval with the count.
    pub fn upstream_failure(&self, target: &str, failure: &Failure) {
        if matches!(
            failure.kind,
            FailureKind::ClientAborted | FailureKind::Untranslated
        ) {
            // Not the upstream's doing; untranslated copies are counted in /metrics.
            return;
        }
        let Some(emit) = self.upstream.hit((target.to_string(), failure.kind)) else {
            return;
        };
        let message = redact::redact_text(&failure.message, &self.redaction)
            .unwrap_or_else(|| failure.message.clone());
        let kind = failure.kind.as_str();
        match emit {
            Emit::First => tracing::warn!(
                target_name = target,
                kind,
                "upstream {target}: {kind} failure: {message} (further ones are counted, one line per {} s)",
                self.upstream.interval().as_secs()
            ),
            Emit::Summary { count } => tracing::warn!(
                target_name = target,
                kind,
                count,
                "upstream {target}: {count} {kind} failure(s) since the last line; latest: {message}"
            ),
        }
    }

    /// The pipeline refused an exchange (queue full, or queue bytes at their limit).
    pub fn queue_drop(&self, stats: &PipelineStats) {
        let Some(emit) = self.queue.hit() else {
            return;
        };
        let full = stats
            .dropped_queue_full
            .load(std::sync::atomic::Ordering::Relaxed);
        let bytes = stats
            .dropped_queue_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            dropped_queue_full = full,
            dropped_queue_bytes = bytes,
            "{} the analysis queue is full: exchanges dropped, not analysed (so far {full} for its length, {bytes} for `[proxy] max_shadow_memory_bytes`); at most one line per {} s",
            lead(emit),
            self.queue.interval().as_secs()
        );
    }

    /// An exchange was dropped because its captures did not fit in the memory budget.
    pub fn memory_drop(&self, dropped_total: u64, limit: u64) {
        let Some(emit) = self.memory.hit() else {
            return;
        };
        tracing::warn!(
            dropped_shadow_memory = dropped_total,
            "{} shadow captures did not fit in `[proxy] max_shadow_memory_bytes` = {limit}: exchanges dropped, not analysed ({dropped_total} so far); at most one line per {} s",
            lead(emit),
            self.memory.interval().as_secs()
        );
    }
}

/// The pattern of route `route`, for a log line.
pub(super) fn route_pattern(shared: &Shared, route: Option<usize>) -> Option<&str> {
    route
        .and_then(|r| shared.routes.get(r))
        .map(|r| r.pattern.as_str())
}

/// Why a request was not mirrored, for a log line (`no_route` when no route matched).
pub(super) fn mirror_note(route: Option<usize>, reason: NotMirrored) -> &'static str {
    match route {
        None => "no_route",
        Some(_) => reason.as_str(),
    }
}

fn lead(emit: Emit) -> String {
    match emit {
        Emit::First => "first drop:".to_string(),
        Emit::Summary { count } => format!("{count} drop(s) since the last line:"),
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary",
        Role::Secondary => "secondary",
        Role::Candidate => "candidate",
    }
}

fn ms(us: u64) -> f64 {
    (us as f64 / 100.0).round() / 10.0
}

fn outcome(o: &Outcome) -> String {
    match &o.result {
        OutcomeResult::Response(r) => format!(
            "{} {} in {} ms (first byte {} ms)",
            o.target,
            r.status,
            ms(r.total_us),
            ms(r.ttfb_us)
        ),
        OutcomeResult::Failure(f) => {
            format!(
                "{} {} after {} ms",
                o.target,
                f.kind.as_str(),
                ms(f.elapsed_us)
            )
        }
    }
}

/// A target URL for a log line: no userinfo at all, secret query parameters replaced.
pub fn url_for_log(url: &str, redaction: &Redaction) -> String {
    let stripped = match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{tail}")
        }
        None => url.to_string(),
    };
    redact::redact_uri(&stripped, redaction).unwrap_or(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_lose_userinfo_and_secret_query_parameters() {
        let r = Redaction::default();
        assert_eq!(
            url_for_log("http://user:hunter2@10.0.0.1:80/base?token=abc123&x=1", &r),
            format!(
                "http://10.0.0.1:80/base?token={}&x=1",
                redact::redact_uri("/?token=abc123", &r)
                    .unwrap_or_default()
                    .trim_start_matches("/?token=")
            )
        );
        assert_eq!(url_for_log("http://h:1", &r), "http://h:1");
        assert!(!url_for_log("http://a@h:1/p", &r).contains('@'));
    }
}
