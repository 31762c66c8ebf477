//! Which requests are mirrored, and to whom: `[[routes]]` compiled into matchers.

use globset::{GlobBuilder, GlobMatcher};

use super::model::RouteConfig;
use crate::compare::spec::RuleSpec;

/// One `[[routes]]` entry, compiled.
#[derive(Debug, Clone)]
pub struct Route {
    /// The glob as written (`/auth/**`).
    pub pattern: String,
    matcher: GlobMatcher,
    /// Candidate target name; `None`: mirrored to the secondary alone (A/A).
    pub candidate: Option<String>,
    pub sample: f64,
    pub mirror_writes: bool,
    pub parity_threshold: f64,
    /// Global `[compare]` rules merged with the route's own.
    pub rules: RuleSpec,
}

impl Route {
    pub(super) fn new(cfg: &RouteConfig, rules: RuleSpec) -> Result<Route, String> {
        let pattern = cfg.pattern.get_ref().clone();
        if !pattern.starts_with('/') {
            return Err(format!("a route pattern starts with `/`, got {pattern:?}"));
        }
        let glob = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid glob {pattern:?}: {e}"))?;
        Ok(Route {
            matcher: glob.compile_matcher(),
            pattern,
            candidate: cfg.candidate.as_ref().map(|c| c.get_ref().clone()),
            sample: *cfg.sample.get_ref(),
            mirror_writes: cfg.mirror_writes,
            parity_threshold: *cfg.parity_threshold.get_ref(),
            rules,
        })
    }

    /// Does this route cover `path` (no query string)?
    pub fn matches(&self, path: &str) -> bool {
        self.matcher.is_match(path)
    }

    /// Is a request with this method mirrored under the route's method policy?
    pub fn mirrors_method(&self, method: &str) -> bool {
        self.mirror_writes || matches!(method, "GET" | "HEAD" | "OPTIONS")
    }
}

/// Routes in file order; the first match wins.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    pub fn new(routes: Vec<Route>) -> RouteTable {
        RouteTable { routes }
    }

    /// The first route whose pattern matches `path` (query excluded).
    pub fn lookup(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(path))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
