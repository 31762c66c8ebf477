//! The proxy's shared state built from the configuration at start-up: target pools (shadow
//! targets capped per origin), routes, metrics, connection limits, ordered shadows and the
//! learned translation. Runs once, before the listeners accept; never on a request's path.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::drops::ClientAborts;
use super::limits::{self, ConnLimits, ConnStats};
use super::metrics::Metrics;
use super::{ProxyError, Shared, learn, logs, order, shadow_conns};
use crate::config::{Config, Route};
use crate::identity::configured::ConfiguredIdentities;
use crate::pipeline::{PipelineHandle, PipelineStats};
use crate::upstream::{Pools, Target, budget};

pub(super) fn shared(
    config: &Config,
    handle: PipelineHandle,
    workers: usize,
    pipeline_stats: Arc<PipelineStats>,
    configured: Option<Arc<ConfiguredIdentities>>,
) -> Result<Shared, ProxyError> {
    let p = &config.file.proxy;
    let names: Vec<String> = config.file.targets.keys().cloned().collect();
    let mut pools = Pools::new(workers);
    let cap = Some(p.max_shadow_connections_per_target);
    let mut target = |name: &str, timeout_ms: u64, cap| -> Result<Target, ProxyError> {
        let cfg = config
            .target(name)
            .ok_or_else(|| ProxyError::Target(format!("no target named `{name}`")))?;
        let index = names.iter().position(|n| n == name).unwrap_or(0);
        Target::with_cap(name, index, cfg, timeout_ms, &mut pools, cap).map_err(ProxyError::Target)
    };
    let (primary_name, _) = config.primary();
    let primary = target(primary_name, p.primary_timeout_ms, None)?;
    let secondary = match config.secondary() {
        Some((name, _)) => Some(target(name, p.shadow_timeout_ms, cap)?),
        None => None,
    };
    let routes: Vec<Route> = config.routes.iter().cloned().collect();
    let routes_len = routes.len();
    let route_candidates = routes
        .iter()
        .map(|r| {
            r.candidate
                .as_deref()
                .map(|c| target(c, p.shadow_timeout_ms, cap))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = Metrics::new(routes.iter().map(|r| r.pattern.clone()).collect(), names);
    // Client connections are capped below the descriptor limit (raised to its hard limit
    // first), leaving room for upstream connections, the admin listener and files.
    let fd_limit = limits::raise_fd_limit();
    let conn_limits = ConnLimits {
        header_read: Duration::from_millis(p.header_read_timeout_ms),
        idle: Duration::from_millis(p.idle_timeout_ms),
        max: limits::max_connections(p.max_connections, fd_limit, p.max_in_flight_shadows),
    };
    tracing::info!(
        "client connections capped at {} (file-descriptor limit {}; `[proxy] max_connections`)",
        conn_limits.max,
        fd_limit.map_or_else(|| "unknown".to_string(), |n| n.to_string())
    );
    let shadows = route_candidates.iter().flatten().chain(&secondary);
    let shadow_conns = shadow_conns::ShadowConns::new(shadows, p.max_shadow_connections_per_target);
    Ok(Shared {
        mode: p.mode,
        routes,
        route_candidates,
        primary,
        secondary,
        shadows: Arc::new(Semaphore::new(p.max_in_flight_shadows)),
        max_shadows: p.max_in_flight_shadows,
        max_body: p.max_body_bytes,
        memory: budget::MemoryBudget::new(p.max_shadow_memory_bytes),
        drain_limit: Duration::from_millis(p.shadow_timeout_ms),
        metrics,
        pipeline: RwLock::new(Some(handle)),
        next_id: AtomicU64::new(1),
        next_seq: AtomicU64::new(1),
        late: AtomicU64::new(0),
        conns: Arc::new(ConnStats::default()),
        admin_conns: Arc::new(ConnStats::default()),
        conn_limits,
        max_headers: p.max_headers,
        drops: ClientAborts::new(routes_len),
        pipeline_stats,
        logs: logs::ProxyLogs::new(crate::redact::Redaction::for_config(&config.file)),
        identity: crate::identity::IdentityRules::for_config(&config.file.identity),
        order: config.file.identity.ordered.then(|| {
            order::ShadowOrder::new(
                config.file.identity.max_identities,
                config.file.identity.max_queued_per_identity,
            )
        }),
        shadow_conns,
        learning: learn::Learning::with_configured(
            &config.file.translate,
            config.file.identity.cookie_patterns(),
            Duration::from_millis(p.shadow_timeout_ms),
            routes_len,
            configured.map(|c| {
                let rules = crate::identity::IdentityRules::for_config(&config.file.identity);
                (c, rules)
            }),
        ),
    })
}
