//! The analysis stage: group an exchange once into its [`RouteKey`], then let every
//! registered [`Analyzer`] add its findings to the same [`Analysis`].
//!
//! Grouping lives here, not in an analyzer, so every analyzer, aggregate and report row
//! agrees on the route. The grouper's state is bounded by `[grouping]` (`max_routes` plus
//! the overflow row). Analyzers are independent: the parity engine is one of them, and a
//! new capability (contracts, assertions, triggers) registers another without touching it.

use std::sync::{Arc, Mutex};

use super::analysis::Analysis;
use super::parity::ParityAnalyzer;
use super::route::RouteKey;
use crate::compare::grouping::{GroupingStats, RouteGrouper};
use crate::config::Config;
use crate::exchange::Exchange;

/// Adds typed findings about one exchange to its analysis. Implementations are pure and may
/// keep learned state (noise counts) behind interior mutability, keyed by [`RouteKey`].
pub trait Analyzer: Send + Sync {
    /// A short, stable name (`parity`, `contracts`, ...), written into its findings.
    fn name(&self) -> &str;
    /// Look at `exchange` (grouped into `route`) and add findings to `analysis`.
    fn analyze(&self, route: &RouteKey, exchange: &Exchange, analysis: &mut Analysis);
}

/// The route grouper and the analyzers, in the order they run.
pub struct Analyzers {
    grouper: Mutex<RouteGrouper>,
    list: Vec<Arc<dyn Analyzer>>,
}

impl std::fmt::Debug for Analyzers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.list.iter().map(|a| a.name()).collect();
        f.debug_struct("Analyzers").field("list", &names).finish()
    }
}

impl Analyzers {
    /// No analyzer yet; exchanges are grouped by `grouper`.
    pub fn new(grouper: RouteGrouper) -> Analyzers {
        Analyzers {
            grouper: Mutex::new(grouper),
            list: Vec::new(),
        }
    }

    /// The configuration's grouping (`[grouping]` templates and limits) and the parity
    /// engine. A rule set that does not compile falls back to the built-in defaults (logged).
    pub fn for_config(config: &Config) -> Analyzers {
        let (parity, errors) = ParityAnalyzer::lenient(config);
        for e in errors {
            tracing::error!("{e}; using the built-in comparison rules instead");
        }
        Analyzers::new(grouper_for(config)).with(Arc::new(parity))
    }

    /// Register one more analyzer; it runs after the ones already registered.
    pub fn with(mut self, analyzer: Arc<dyn Analyzer>) -> Analyzers {
        self.list.push(analyzer);
        self
    }

    /// Group exchanges by these known `(method or "*", path template)` pairs (e.g. from
    /// OpenAPI contracts) before falling back to learned `{id}` / `{param}` segments. They
    /// replace the configured `[grouping] templates`; the limits stay.
    pub fn with_templates<M: AsRef<str>, P: AsRef<str>>(
        self,
        templates: impl IntoIterator<Item = (M, P)>,
    ) -> Analyzers {
        let limits = lock(&self.grouper).limits();
        Analyzers {
            grouper: Mutex::new(RouteGrouper::new(templates).with_limits(limits)),
            ..self
        }
    }

    /// The registered analyzers' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|a| a.name()).collect()
    }

    /// How much state the route grouper holds.
    pub fn grouping_stats(&self) -> GroupingStats {
        lock(&self.grouper).stats()
    }

    /// The route an exchange belongs to (learns from it).
    pub fn route_of(&self, exchange: &Exchange) -> RouteKey {
        let r = &exchange.request;
        RouteKey::from_grouped(lock(&self.grouper).group(&r.method, &r.uri))
    }

    /// Group the exchange, then run every analyzer over it.
    pub fn analyze(&self, exchange: &Exchange) -> Analysis {
        let route = self.route_of(exchange);
        let mut analysis = Analysis::new(route.clone());
        for a in &self.list {
            a.analyze(&route, exchange, &mut analysis);
        }
        analysis
    }
}

/// The grouper a configuration asks for: `[grouping]` templates and limits.
pub fn grouper_for(config: &Config) -> RouteGrouper {
    let g = &config.file.grouping;
    RouteGrouper::new(g.template_pairs()).with_limits(g.limits())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
