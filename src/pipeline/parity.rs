//! The parity analyzer: plugs the `compare` engine into the pipeline.
//!
//! Owns the per-exchange glue: which rules apply (the first `[[routes]]` entry matching the
//! request path, else the global `[compare]`) and the learned-noise state (one
//! [`NoiseTable`] per [`RouteKey`], behind a `Mutex` because [`Analyzer::analyze`] takes
//! `&self`). Grouping happened before ([`super::Analyzers`]); the noise map is keyed by the
//! grouper's routes, so it holds at most `max_routes` + 1 (overflow) rows. It never formats
//! reports and never does I/O; reports recompute final noise decisions from [`ParityAnalyzer::noise`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Analysis, Analyzer, Finding, Note, RouteKey, Suppressed};
use crate::compare::noise::{Decision, NoiseCounts, NoiseTable};
use crate::compare::spec::NoiseSpec;
use crate::compare::{Comparison, DiffKind, RuleError, Rules, compare_with_secondary};
use crate::config::{Config, Route};
use crate::exchange::Exchange;

/// Learned noise for one report row, with the thresholds that apply to it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RouteNoise {
    pub table: NoiseTable,
    pub spec: NoiseSpec,
}

impl RouteNoise {
    /// Every `(path, kind)` with its decision over the final counts.
    pub fn decisions(&self) -> Vec<(String, DiffKind, NoiseCounts, Decision)> {
        self.table
            .decisions(&self.spec)
            .map(|(p, k, c, d)| (p.to_string(), k, c, d))
            .collect()
    }
}

/// Compares primary vs candidate (and primary vs secondary) for every exchange.
#[derive(Debug)]
pub struct ParityAnalyzer {
    global: Rules,
    /// Config routes in file order with their compiled (merged) rules.
    routes: Vec<(Route, Rules)>,
    /// `[grouping] max_routes`: the noise map never holds more rows (plus the overflow).
    max_routes: usize,
    noise: Mutex<BTreeMap<RouteKey, RouteNoise>>,
}

impl ParityAnalyzer {
    /// Compile every rule set of the configuration; the first bad one is the error.
    pub fn new(config: &Config) -> Result<ParityAnalyzer, RuleError> {
        let global = Rules::compile(&config.file.compare)?;
        let routes = config
            .routes
            .iter()
            .map(|r| Ok((r.clone(), Rules::compile(&r.rules)?)))
            .collect::<Result<Vec<_>, RuleError>>()?;
        Ok(ParityAnalyzer {
            global,
            routes,
            max_routes: config.file.grouping.limits().max_routes,
            noise: Mutex::new(BTreeMap::new()),
        })
    }

    /// Like [`ParityAnalyzer::new`], but a rule set that does not compile is replaced by
    /// the built-in defaults; the errors are returned for the caller to show.
    pub fn lenient(config: &Config) -> (ParityAnalyzer, Vec<RuleError>) {
        let mut errors = Vec::new();
        let mut compile = |spec| {
            Rules::compile(spec).unwrap_or_else(|e| {
                errors.push(e);
                Rules::default()
            })
        };
        let global = compile(&config.file.compare);
        let routes = config
            .routes
            .iter()
            .map(|r| (r.clone(), compile(&r.rules)))
            .collect();
        let analyzer = ParityAnalyzer {
            global,
            routes,
            max_routes: config.file.grouping.limits().max_routes,
            noise: Mutex::new(BTreeMap::new()),
        };
        (analyzer, errors)
    }

    /// The rules for a request path (no query).
    pub fn rules_for(&self, path: &str) -> &Rules {
        self.routes
            .iter()
            .find(|(r, _)| r.matches(path))
            .map(|(_, rules)| rules)
            .unwrap_or(&self.global)
    }

    /// A snapshot of the learned noise per report row.
    pub fn noise(&self) -> BTreeMap<RouteKey, RouteNoise> {
        match self.noise.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Analyzer for ParityAnalyzer {
    fn name(&self) -> &str {
        "parity"
    }

    fn analyze(&self, route: &RouteKey, exchange: &Exchange, analysis: &mut Analysis) {
        let request = &exchange.request;
        let Some(candidate) = &exchange.outcomes.candidate else {
            return;
        };
        if exchange.client_aborted() {
            // The client left before the primary answered: not the candidate's fault.
            return;
        }
        let path = request.uri.split(['?', '#']).next().unwrap_or("");
        let rules = self.rules_for(path);
        let primary = &exchange.outcomes.primary;
        let secondary = exchange.outcomes.secondary.as_ref();
        let (
            Comparison {
                differences: found,
                suppressed: rule_noise,
                warnings,
                ..
            },
            baseline,
        ) = compare_with_secondary(primary, candidate, secondary, rules);
        for w in warnings {
            analysis.push(Finding::RuleWarning(Note {
                analyzer: self.name().to_string(),
                code: w.rule.clone(),
                message: w.message(),
            }));
        }
        let mut suppressed: Vec<Suppressed> = rule_noise
            .into_iter()
            .map(|(difference, reason)| Suppressed {
                difference,
                reason: reason.to_string(),
                learned: false,
            })
            .collect();
        let (differences, noise) = match baseline {
            None => (found, Vec::new()),
            Some(baseline) => {
                let baseline = baseline.differences;
                let mut kept = Vec::with_capacity(found.len());
                let mut guard = match self.noise.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                // Keyed by the grouper's (capped) routes; the guard keeps it so should another
                // grouping ever hand out more.
                let key = if guard.len() > self.max_routes && !guard.contains_key(route) {
                    RouteKey::overflow()
                } else {
                    route.clone()
                };
                let entry = guard.entry(key).or_insert_with(|| RouteNoise {
                    table: NoiseTable::default(),
                    spec: rules.noise.clone(),
                });
                entry.table.record(&found, &baseline);
                for d in found {
                    match entry.table.decide(&d, &entry.spec) {
                        Decision::Report => kept.push(d),
                        Decision::Noise(reason) => suppressed.push(Suppressed {
                            difference: d,
                            reason: reason.to_string(),
                            learned: true,
                        }),
                    }
                }
                (kept, baseline)
            }
        };
        analysis.set_parity(differences, suppressed, noise);
    }
}

#[cfg(test)]
#[path = "parity_tests.rs"]
mod tests;
