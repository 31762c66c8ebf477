//! [`ScenarioSource`]: scenarios as a [`Source`] of the one pipeline. Each step run (each
//! loop iteration) becomes one [`Exchange`] — the target's outcome as the primary, the
//! `--against` side's as the candidate — so the parity analyzer compares every step by the
//! same rules as mirrored traffic, and failed assertions reach the aggregate as
//! [`Finding::AssertionFailed`] through [`AssertionAnalyzer`]. [`StepSink`] hands each
//! exchange's counted differences back to the step that made it.
//!
//! Each side has its own [`Scope`]: captured tokens and ids never cross sides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::Value;

use super::deployment::Deployment;
use super::exec::{Env, SideRun, run_step};
use super::load::{Scenario, Step};
use super::vars::{Frame, Scope};
use crate::compare::Difference;
use crate::exchange::{Exchange, Outcomes};
use crate::pipeline::{Analysis, Analyzer, Delivery, Finding, Note, RouteKey, Sink};
use crate::run::{Source, SourceContext};

/// The analyzer name on assertion findings.
pub const ANALYZER: &str = "scenario";

type NoteTable = Arc<Mutex<HashMap<u64, Vec<Note>>>>;
type DiffTable = Arc<Mutex<HashMap<u64, Vec<Difference>>>>;

/// Runs scenarios on a target (and optionally a second one) into the pipeline.
pub struct ScenarioSource {
    pub scenarios: Vec<Scenario>,
    pub target: Deployment,
    pub against: Option<Deployment>,
    pub env: Env,
    /// `${run.id}`: the same on both sides.
    pub run_id: String,
    notes: NoteTable,
}

/// One step run: both sides, and what parity found between them.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub name: String,
    pub line: usize,
    pub setup: bool,
    /// The loop iteration (`None` for a step without a loop).
    pub iteration: Option<usize>,
    /// The exchange it became, if any side sent something.
    pub exchange: Option<u64>,
    pub target: SideRun,
    pub against: Option<SideRun>,
    /// Counted parity differences (target = primary, against = candidate).
    pub differences: Vec<Difference>,
}

impl StepResult {
    /// No failed assertion on either side and no counted difference.
    pub fn passed(&self) -> bool {
        self.target.passed()
            && self.against.as_ref().is_none_or(SideRun::passed)
            && self.differences.is_empty()
    }

    /// Not sent on any side.
    pub fn skipped(&self) -> bool {
        self.target.skipped.is_some()
            && self.against.as_ref().is_none_or(|a| a.skipped.is_some())
            && self.passed()
    }
}

/// The results of one scenario file.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub file: String,
    pub name: String,
    pub steps: Vec<StepResult>,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(StepResult::passed)
    }
}

/// Turns the assertion failures the source recorded into findings.
pub struct AssertionAnalyzer {
    notes: NoteTable,
}

impl Analyzer for AssertionAnalyzer {
    fn name(&self) -> &str {
        ANALYZER
    }

    fn analyze(&self, _route: &RouteKey, exchange: &Exchange, analysis: &mut Analysis) {
        let notes = self
            .notes
            .lock()
            .map(|mut t| t.remove(&exchange.id))
            .unwrap_or_default();
        for note in notes.into_iter().flatten() {
            analysis.push(Finding::AssertionFailed(note));
        }
    }
}

/// Keeps each exchange's counted differences for its step.
pub struct StepSink {
    seen: DiffTable,
}

impl Sink for StepSink {
    fn accept(&mut self, exchange: &Exchange, analysis: &Analysis) {
        let diffs: Vec<Difference> = analysis.differences().cloned().collect();
        if let Ok(mut t) = self.seen.lock() {
            t.insert(exchange.id, diffs);
        }
    }
}

/// The handle to fill in each step's differences after the run.
pub struct Differences(DiffTable);

impl Differences {
    /// Move each exchange's differences into its step.
    pub fn fill(&self, results: &mut [ScenarioResult]) {
        let Ok(mut t) = self.0.lock() else { return };
        for step in results.iter_mut().flat_map(|r| r.steps.iter_mut()) {
            if let Some(id) = step.exchange {
                step.differences = t.remove(&id).unwrap_or_default();
            }
        }
    }
}

impl ScenarioSource {
    pub fn new(
        scenarios: Vec<Scenario>,
        target: Deployment,
        against: Option<Deployment>,
        env: Env,
        run_id: String,
    ) -> ScenarioSource {
        ScenarioSource {
            scenarios,
            target,
            against,
            env,
            run_id,
            notes: Arc::default(),
        }
    }

    /// The analyzer that turns this source's assertion failures into findings.
    pub fn analyzer(&self) -> Arc<AssertionAnalyzer> {
        Arc::new(AssertionAnalyzer {
            notes: Arc::clone(&self.notes),
        })
    }

    /// The sink that collects each step's differences, and the handle to read them.
    pub fn sink() -> (Box<StepSink>, Differences) {
        let seen = DiffTable::default();
        (
            Box::new(StepSink {
                seen: Arc::clone(&seen),
            }),
            Differences(seen),
        )
    }
}

fn new_scope(s: &Scenario, run_id: &str) -> Scope {
    let mut scope = Scope::new(&s.env, run_id);
    for (name, value) in &s.vars {
        match scope.resolve_value(value, &Frame::default()) {
            Ok(v) => {
                let secret = crate::redact::Redaction::default().is_secret_field(name);
                scope.set(name, v, secret);
            }
            Err(e) => scope.fail(name, format!("var `{name}`: {e}")),
        }
    }
    scope
}

/// How many times a step runs on a side (1 without a loop).
fn iterations(step: &Step, scope: &Scope) -> Result<usize, String> {
    if let Some(rows) = &step.doc.for_each {
        return Ok(rows.len());
    }
    let Some(rep) = &step.doc.repeat else {
        return Ok(1);
    };
    let v = match rep {
        Value::String(s) => scope
            .resolve(s, &Frame::default())
            .map_err(|e| format!("repeat: {e}"))?,
        other => other.clone(),
    };
    let n = match &v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.map(|n| n.min(10_000) as usize)
        .ok_or_else(|| format!("repeat: `{v}` is not a count"))
}

struct Side<'a> {
    dep: &'a Deployment,
    scope: Scope,
    count: Result<usize, String>,
}

async fn side_run(side: &mut Side<'_>, step: &Step, file: &str, i: usize, env: &Env) -> SideRun {
    let count = match &side.count {
        Ok(n) => *n,
        Err(e) => {
            return SideRun {
                skipped: Some(format!("not run: {e}")),
                failures: vec![format!("not run: {e}")],
                ..SideRun::default()
            };
        }
    };
    if i >= count {
        return SideRun {
            skipped: Some(format!("the loop ran {count} times on this side")),
            ..SideRun::default()
        };
    }
    let looped = step.doc.for_each.is_some() || step.doc.repeat.is_some();
    let frame = Frame {
        row: step.doc.for_each.as_ref().and_then(|rows| rows.get(i)),
        index: looped.then_some(i),
    };
    run_step(side.dep, step, file, &frame, &mut side.scope, env).await
}

impl Source for ScenarioSource {
    type Output = Vec<ScenarioResult>;

    fn delivery(&self) -> Delivery {
        Delivery::Wait
    }

    async fn run(self, ctx: SourceContext) -> anyhow::Result<Vec<ScenarioResult>> {
        let mut results = Vec::new();
        let mut next_id = 0u64;
        for scenario in &self.scenarios {
            let mut a = Side {
                dep: &self.target,
                scope: new_scope(scenario, &self.run_id),
                count: Ok(0),
            };
            let mut b = self.against.as_ref().map(|dep| Side {
                dep,
                scope: new_scope(scenario, &self.run_id),
                count: Ok(0),
            });
            let mut steps = Vec::new();
            for step in &scenario.steps {
                if ctx.shutdown.is_triggered() {
                    break;
                }
                a.count = iterations(step, &a.scope);
                if let Some(b) = b.as_mut() {
                    b.count = iterations(step, &b.scope);
                }
                let most = [&a.count]
                    .into_iter()
                    .chain(b.as_ref().map(|b| &b.count))
                    .map(|c| *c.as_ref().unwrap_or(&1))
                    .max()
                    .unwrap_or(1)
                    .max(usize::from(a.count.is_err()));
                let looped = step.doc.for_each.is_some() || step.doc.repeat.is_some();
                for i in 0..most {
                    let (ra, rb) = match b.as_mut() {
                        Some(b) => {
                            let (x, y) = tokio::join!(
                                side_run(&mut a, step, &scenario.file, i, &self.env),
                                side_run(b, step, &scenario.file, i, &self.env)
                            );
                            (x, Some(y))
                        }
                        None => (
                            side_run(&mut a, step, &scenario.file, i, &self.env).await,
                            None,
                        ),
                    };
                    let exchange =
                        self.submit(&ctx, &mut next_id, scenario, step, &ra, rb.as_ref());
                    steps.push(StepResult {
                        name: step.doc.name.clone(),
                        line: step.line,
                        setup: step.setup,
                        iteration: looped.then_some(i),
                        exchange,
                        target: ra,
                        against: rb,
                        differences: Vec::new(),
                    });
                }
            }
            results.push(ScenarioResult {
                file: scenario.file.clone(),
                name: scenario.name.clone(),
                steps,
            });
        }
        Ok(results)
    }
}

impl ScenarioSource {
    /// The exchange of one step run, with its assertion notes; `None` when no side sent.
    fn submit(
        &self,
        ctx: &SourceContext,
        next_id: &mut u64,
        scenario: &Scenario,
        step: &Step,
        a: &SideRun,
        b: Option<&SideRun>,
    ) -> Option<u64> {
        let (first, other) = match (&a.outcome, b.and_then(|b| b.outcome.as_ref())) {
            (Some(x), y) => (x, y),
            (None, Some(y)) => (y, None),
            (None, None) => return None,
        };
        let request = a
            .request
            .clone()
            .or_else(|| b.and_then(|b| b.request.clone()))?;
        *next_id += 1;
        let id = *next_id;
        let mut notes = Vec::new();
        let code = format!("{}:{} {}", scenario.file, step.line, step.doc.name);
        for (side, run) in [
            (Some(&self.target.name), Some(a)),
            (self.against.as_ref().map(|d| &d.name), b),
        ] {
            let (Some(side), Some(run)) = (side, run) else {
                continue;
            };
            for f in &run.failures {
                notes.push(Note {
                    analyzer: ANALYZER.into(),
                    code: code.clone(),
                    message: format!("{side}: {f}"),
                });
            }
        }
        if !notes.is_empty()
            && let Ok(mut t) = self.notes.lock()
        {
            t.insert(id, notes);
        }
        let path = request.uri.split('?').next().unwrap_or("/").to_string();
        let exchange = Exchange {
            translation: Vec::new(),
            id,
            seq: id,
            at: Utc::now(),
            route: format!("{} {path}", request.method),
            // Scenario steps name no client identity: each side runs its own captures.
            identity: None,
            request,
            outcomes: Outcomes {
                primary: first.clone(),
                secondary: None,
                candidate: if step.doc.compare {
                    other.cloned()
                } else {
                    None
                },
            },
        };
        ctx.out.submit(exchange);
        Some(id)
    }
}
