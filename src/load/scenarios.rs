//! The load plan of scenario files (`--scenarios DIR`): for every scenario and step, where
//! each side sends it and which series it is measured under.
//!
//! Owns the step's route name (`METHOD /path` with loop rows and `vars` filled in and
//! captured values as `{name}`, so every user's requests of one step share one route), the
//! target each side uses (the baseline side: the primary for everything; the candidate
//! side: the `service:` when it names a target of the configuration, else the candidate
//! `[[routes]]` sends the path to, else the primary), `skip_if_same` per side, and which
//! steps are measured: not `setup` steps, not steps filtered out by `--routes`, and not
//! steps whose candidate side is the primary itself (they still run, for the state later
//! steps need). Never sends anything; running the plan is `scenario_attack.rs`.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::scenario::Scenario;
use crate::scenario::model::ThinkTime;
use crate::scenario::source::new_scope;
use crate::scenario::vars::Frame;

use super::attack::TargetRef;
use super::collect::{SeriesKey, Side};

/// One scenario ready to run under load.
#[derive(Debug, Clone)]
pub struct PlannedScenario {
    pub scenario: Arc<Scenario>,
    /// Goose weight (≥ 1; scenarios of weight 0 are left out of the plan).
    pub weight: usize,
    /// Default pause after each step.
    pub think_time: Option<(Duration, Duration)>,
    /// In file order: `setup` steps first.
    pub steps: Vec<PlannedScenarioStep>,
}

/// One step of a scenario with where it goes.
#[derive(Debug, Clone)]
pub struct PlannedScenarioStep {
    /// Index into the scenario's `steps`.
    pub index: usize,
    pub setup: bool,
    /// Pause after the step (its own, else the scenario's).
    pub think_time: Option<(Duration, Duration)>,
    /// The route of each loop row (`for_each`), or the one route.
    pub routes: Vec<String>,
    /// Baseline, then candidate.
    pub sides: [SideStep; 2],
}

/// A step on one side.
#[derive(Debug, Clone)]
pub struct SideStep {
    /// Per route (loop row): where it is sent.
    pub targets: Vec<TargetRef>,
    /// `skip_if_same` holds on this side: never sent here.
    pub skip: bool,
    /// Per route: the series it is recorded in; `None`: not measured.
    pub series: Vec<Option<usize>>,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    pub scenarios: Vec<PlannedScenario>,
    pub keys: Vec<SeriesKey>,
    /// Every target the plan sends to (checked before the attack).
    pub targets: Vec<TargetRef>,
    pub candidates: Vec<String>,
    /// Human description for reports.
    pub name: String,
    /// Everything that changes what is measured (for the configuration digest).
    pub describe: String,
}

fn pause(t: Option<ThinkTime>) -> Option<(Duration, Duration)> {
    t.map(|t| match t {
        ThinkTime::Fixed(ms) => (Duration::from_millis(ms), Duration::from_millis(ms)),
        ThinkTime::Range { min_ms, max_ms } => (
            Duration::from_millis(min_ms),
            Duration::from_millis(max_ms.max(min_ms)),
        ),
    })
}

/// The target `service` / `path` goes to on the candidate side.
fn candidate_target(
    config: &Config,
    primary: &TargetRef,
    service: Option<&str>,
    path: &str,
) -> Result<TargetRef, String> {
    let named = |name: &str| {
        config.file.targets.get(name).map(|t| TargetRef {
            name: name.to_string(),
            url: t.url.get_ref().trim_end_matches('/').to_string(),
        })
    };
    if let Some(s) = service {
        if s == "monolith" || s == primary.name {
            return Ok(primary.clone());
        }
        if let Some(t) = named(s) {
            return Ok(t);
        }
    }
    match config.routes.lookup(path).and_then(|r| r.candidate.clone()) {
        Some(name) => {
            named(&name).ok_or_else(|| format!("[[routes]] names unknown target `{name}`"))
        }
        None => Ok(primary.clone()),
    }
}

/// `${name}` of every captured variable (and `${run.id}`, per user under load) as
/// `{name}`, so the route does not depend on a user's values.
fn placeholders(text: &str, captures: &[String]) -> String {
    let mut out = text.replace("${run.id}", "{run.id}");
    for c in captures {
        out = out.replace(&format!("${{{c}}}"), &format!("{{{c}}}"));
    }
    out
}

/// Plan `scenarios` against `config`'s primary and candidates. `routes` filters what is
/// measured (`None`: everything); `calibrate` makes the candidate side the primary itself.
pub fn plan(
    config: &Config,
    scenarios: &[Scenario],
    routes: Option<&globset::GlobSet>,
    calibrate: bool,
) -> Result<ScenarioPlan, String> {
    let (primary_name, t) = config.primary();
    let primary = TargetRef {
        name: primary_name.to_string(),
        url: t.url.get_ref().trim_end_matches('/').to_string(),
    };
    let aa = TargetRef {
        name: format!("{primary_name}-aa"),
        url: primary.url.clone(),
    };
    let mut keys: Vec<SeriesKey> = Vec::new();
    let mut index = |side: Side, target: &str, route: &str| {
        super::collect::series_index(&mut keys, side, target, route)
    };
    let mut targets = vec![primary.clone()];
    let mut candidates: Vec<String> = Vec::new();
    let mut planned = Vec::new();
    let mut describe = Vec::new();
    for s in scenarios {
        describe.push(format!("{}|{:?}", s.file, s.doc));
        if s.doc.weight == 0 {
            continue;
        }
        let scope = new_scope(s, "{run.id}");
        let mut captures: Vec<String> = Vec::new();
        let mut steps = Vec::new();
        for (i, step) in s.steps.iter().enumerate() {
            let at =
                |m: String| format!("{}: step `{}`: {m}", step.location(&s.file), step.doc.name);
            let req = &step.doc.request;
            let rows: Vec<Frame<'_>> = match &step.doc.for_each {
                Some(rows) => rows
                    .iter()
                    .enumerate()
                    .map(|(i, row)| Frame {
                        row: Some(row),
                        index: Some(i),
                    })
                    .collect(),
                None => vec![Frame {
                    row: None,
                    index: step.doc.repeat.is_some().then_some(0),
                }],
            };
            let mut route_names = Vec::new();
            let mut sides = [
                SideStep {
                    targets: Vec::new(),
                    skip: true,
                    series: Vec::new(),
                },
                SideStep {
                    targets: Vec::new(),
                    skip: false,
                    series: Vec::new(),
                },
            ];
            for frame in &rows {
                let method = scope
                    .resolve_text(&placeholders(&req.method, &captures), frame)
                    .unwrap_or_else(|_| req.method.clone())
                    .to_ascii_uppercase();
                let written = placeholders(&req.path, &captures);
                let path = scope
                    .resolve_text(&written, frame)
                    .unwrap_or(written)
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let service = req
                    .service
                    .as_ref()
                    .map(|x| scope.resolve_text(x, frame).unwrap_or_else(|_| x.clone()));
                let candidate = if calibrate {
                    aa.clone()
                } else {
                    candidate_target(config, &primary, service.as_deref(), &path).map_err(at)?
                };
                let route = format!("{method} {path}");
                let measured = !step.setup
                    && (calibrate || candidate.name != primary.name)
                    && routes.is_none_or(|g| g.is_match(&path));
                if measured {
                    sides[0]
                        .series
                        .push(Some(index(Side::Baseline, &primary.name, &route)));
                    sides[1]
                        .series
                        .push(Some(index(Side::Candidate, &candidate.name, &route)));
                    if !candidates.contains(&candidate.name) {
                        candidates.push(candidate.name.clone());
                    }
                } else {
                    sides[0].series.push(None);
                    sides[1].series.push(None);
                }
                if !targets.iter().any(|t| t.url == candidate.url) {
                    targets.push(candidate.clone());
                }
                sides[0].targets.push(primary.clone());
                sides[1].targets.push(candidate);
                route_names.push(route);
            }
            // `skip_if_same`: the baseline side is one service (the primary), so always;
            // the candidate side when the named service resolves to the same URL.
            match &step.doc.skip_if_same {
                Some(other) if !calibrate => {
                    let o = candidate_target(config, &primary, Some(other), "").map_err(at)?;
                    sides[1].skip = sides[1].targets.iter().all(|t| t.url == o.url);
                }
                Some(_) => sides[1].skip = true,
                None => sides[0].skip = false,
            }
            steps.push(PlannedScenarioStep {
                index: i,
                setup: step.setup,
                think_time: pause(step.doc.think_time).or(pause(s.doc.think_time)),
                routes: route_names,
                sides,
            });
            captures.extend(step.doc.capture.keys().cloned());
        }
        planned.push(PlannedScenario {
            scenario: Arc::new(s.clone()),
            weight: s.doc.weight as usize,
            think_time: pause(s.doc.think_time),
            steps,
        });
    }
    if planned.is_empty() {
        return Err("every scenario has weight 0: nothing to run".into());
    }
    if keys.is_empty() {
        return Err(
            "no scenario step is measured: none is routed to a candidate by [[routes]] (or --routes matches none; set-up steps are never measured)"
                .into(),
        );
    }
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    Ok(ScenarioPlan {
        scenarios: planned,
        keys,
        targets,
        candidates,
        name: format!("scenarios: {}", names.join(", ")),
        describe: describe.join(";"),
    })
}
