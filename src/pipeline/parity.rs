//! The parity analyzer: plugs the `compare` engine into the pipeline.
//!
//! Owns the per-exchange glue: which rules apply (the first `[[routes]]` entry matching the
//! request path, else the global `[compare]`), the compared pair (primary vs candidate, or
//! primary vs secondary on a route with no candidate: an A/A check), and the learned-noise
//! state (one [`NoiseTable`] and one [`VolatileTable`] per [`RouteKey`], behind a `Mutex`
//! because [`Analyzer::analyze`] takes `&self`). With a healthy secondary, Diffy's r/n rule
//! decides; a secondary that answers another status class than the primary (or fails) is an
//! unhealthy baseline: counted on the analysis, never learned from. Without a healthy
//! secondary, volatility is learned from the primary's repeated identical requests
//! (`compare::volatile`, previous answers kept in a bounded [`RepeatCache`]). Grouping happened before ([`super::Analyzers`]); the noise map is keyed by the
//! grouper's routes, so it holds at most `max_routes` + 1 (overflow) rows. It never formats
//! reports and never does I/O; reports recompute final noise decisions from [`ParityAnalyzer::noise`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::repeats::{self, RepeatCache};
use super::{Analysis, Analyzer, Finding, Note, RouteKey, Suppressed};
use crate::compare::noise::{Decision, NoiseCounts, NoiseTable};
use crate::compare::spec::NoiseSpec;
use crate::compare::volatile::{self, Answers, Repeat, VolatileTable};
use crate::compare::{Comparison, DiffKind, RuleError, Rules, compare_with_secondary};
use crate::config::{Config, Route};
use crate::exchange::{Exchange, Outcome, OutcomeResult};

/// Learned noise for one report row, with the thresholds that apply to it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RouteNoise {
    /// Diffy's counts against a healthy secondary.
    pub table: NoiseTable,
    /// Without one: volatility learned from the primary's repeated identical requests.
    pub volatile: VolatileTable,
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
    /// The last answers per distinct request (bounded), for volatility without a secondary.
    repeats: Mutex<RepeatCache>,
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
            repeats: Mutex::new(RepeatCache::default()),
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
            repeats: Mutex::new(RepeatCache::default()),
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
        if exchange.client_aborted() {
            // The client left before the primary answered: not the candidate's fault.
            return;
        }
        if exchange.untranslated() {
            // The copy was not sent (no learned credential): not compared, not in parity.
            return;
        }
        let outcomes = &exchange.outcomes;
        // The compared pair: primary vs candidate, or primary vs secondary on a route that
        // names no candidate (an A/A check; no baseline then).
        let (other, secondary) = match (&outcomes.candidate, &outcomes.secondary) {
            (Some(c), s) => (c, s.as_ref()),
            (None, Some(s)) => (s, None),
            (None, None) => return,
        };
        // Modulo the learned id mapping: the targets' ids mapped back to the primary's.
        let mapped_other = super::translation::mapped(exchange, other);
        let other = mapped_other.as_ref().unwrap_or(other);
        let mapped_secondary = secondary.and_then(|s| super::translation::mapped(exchange, s));
        let secondary = mapped_secondary.as_ref().or(secondary);
        let request = &exchange.request;
        let path = request.uri.split(['?', '#']).next().unwrap_or("");
        let rules = self.rules_for(path);
        let primary = &outcomes.primary;
        let (
            Comparison {
                differences: found,
                suppressed: rule_noise,
                warnings,
                ..
            },
            baseline,
        ) = compare_with_secondary(primary, other, secondary, rules);
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
        let health = secondary.map(|s| baseline_health(primary, s));
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
            volatile: VolatileTable::default(),
            spec: rules.noise.clone(),
        });
        let mut noise = Vec::new();
        match (baseline, health) {
            (Some(baseline), Some(Health::Healthy)) => {
                // Diffy: learn from what the secondary disagrees on.
                entry.table.record(&found, &baseline.differences);
                noise = baseline.differences;
            }
            (_, health) => {
                if let Some(Health::Unhealthy(why)) = health {
                    analysis.unhealthy_baseline = Some(why);
                }
                if entry.table.total == 0 {
                    // No healthy baseline so far: learn volatility from the primary itself.
                    entry.volatile.total += 1;
                    let fp = repeats::fingerprint(request);
                    let previous = match self.repeats.lock() {
                        Ok(mut c) => c.swap(fp, primary, other),
                        Err(poisoned) => poisoned.into_inner().swap(fp, primary, other),
                    };
                    if let Some((p1, o1)) = previous {
                        let first = Answers {
                            primary: &p1,
                            other: &o1,
                        };
                        let second = Answers { primary, other };
                        let repeat = volatile::evidence(first, second, rules);
                        entry.volatile.record(&repeat);
                        if let Repeat::Usable(found) = repeat {
                            analysis.repeat = true;
                            analysis.volatile = found;
                        }
                    }
                }
            }
        }
        let mut kept = Vec::with_capacity(found.len());
        for d in found {
            let decision = if entry.table.total > 0 {
                entry.table.decide(&d, &entry.spec)
            } else {
                entry.volatile.decide(&d, &entry.spec)
            };
            match decision {
                Decision::Report => kept.push(d),
                Decision::Noise(reason) => suppressed.push(Suppressed {
                    difference: d,
                    reason: reason.to_string(),
                    learned: true,
                }),
            }
        }
        drop(guard);
        analysis.set_parity(kept, suppressed, noise);
    }
}

/// Whether the secondary's answer can serve as a baseline for this exchange.
#[derive(Debug, Clone, PartialEq)]
enum Health {
    Healthy,
    /// `primary 200 → secondary 500`: another status class, or a failure.
    Unhealthy(String),
    /// The primary failed itself: nothing to learn, nothing to blame on the secondary.
    Skip,
}

fn baseline_health(primary: &Outcome, secondary: &Outcome) -> Health {
    let Some(p) = primary.response() else {
        return Health::Skip;
    };
    match &secondary.result {
        OutcomeResult::Failure(f) => Health::Unhealthy(format!(
            "primary {} → secondary {}",
            p.status,
            f.kind.as_str()
        )),
        OutcomeResult::Response(s) if s.status / 100 != p.status / 100 => {
            Health::Unhealthy(format!("primary {} → secondary {}", p.status, s.status))
        }
        OutcomeResult::Response(_) => Health::Healthy,
    }
}

#[cfg(test)]
#[path = "parity_tests.rs"]
mod tests;
