//! Planning a load run: which steps (of the built-in workload or of scenario files) go to
//! which target, the series each is measured under, and the checks before the attack
//! (every target answers, the built-in workload's account exists). Never attacks.

use anyhow::{Context as _, bail};

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::attack::{AttackPlan, PlannedStep, TargetRef};
use super::collect::{SeriesKey, Side};
use super::direct::{Upstreams, fetch};
use super::workload::{self, Workload};
use super::{LoadOptions, scenarios};
use crate::config::Config;

fn target_url(config: &Config, name: &str) -> Option<String> {
    config
        .file
        .targets
        .get(name)
        .map(|t| t.url.get_ref().trim_end_matches('/').to_string())
}

/// Where each step goes: the primary and the candidate its path is routed to.
fn plan_steps(
    config: &Config,
    wl: &Workload,
    calibrate: bool,
) -> anyhow::Result<(TargetRef, Vec<PlannedStep>, Vec<String>)> {
    let (primary, t) = config.primary();
    let baseline = TargetRef {
        name: primary.to_string(),
        url: t.url.get_ref().trim_end_matches('/').to_string(),
    };
    let mut steps = Vec::new();
    let mut candidates = Vec::new();
    for step in &wl.steps {
        let candidate = if calibrate {
            TargetRef {
                name: format!("{primary}-aa"),
                url: baseline.url.clone(),
            }
        } else {
            let path = step.path.replace("{id}", "1");
            let Some(route) = config.routes.lookup(&path) else {
                tracing::warn!(route = %step.route, "no [[routes]] entry sends this path to a candidate; step skipped");
                continue;
            };
            let Some(name) = route.candidate.clone() else {
                tracing::warn!(route = %step.route, "its [[routes]] entry names no candidate (an A/A route); step skipped");
                continue;
            };
            let Some(url) = target_url(config, &name) else {
                bail!("route {} names unknown target {name}", route.pattern);
            };
            TargetRef { name, url }
        };
        if !candidates.contains(&candidate.name) {
            candidates.push(candidate.name.clone());
        }
        steps.push(PlannedStep {
            step: step.clone(),
            baseline: baseline.clone(),
            candidate,
            baseline_series: 0,
            candidate_series: 0,
            baseline_id: None,
            candidate_id: None,
        });
    }
    if steps.is_empty() {
        bail!("no workload step is routed to a candidate (check [[routes]] and --routes)");
    }
    Ok((baseline, steps, candidates))
}

/// The attack a run drives.
pub(super) enum Attack {
    Builtin(Box<AttackPlan>),
    Scenarios(Box<scenarios::ScenarioPlan>),
}

/// What the attack needs besides its plan, and what the result is labelled with.
pub(super) struct Planned {
    pub(super) attack: Attack,
    pub(super) keys: Vec<SeriesKey>,
    pub(super) baseline: TargetRef,
    pub(super) candidates: Vec<String>,
    pub(super) workload: String,
    pub(super) describe: String,
    /// Every target on cutover's own client, with its TLS settings: pre-flight and set-up
    /// use it, and so does the attack without Goose's report.
    pub(super) upstreams: Upstreams,
}

pub(super) fn route_globs(routes: &[String]) -> anyhow::Result<Option<globset::GlobSet>> {
    if routes.is_empty() {
        return Ok(None);
    }
    let mut b = globset::GlobSetBuilder::new();
    for g in routes {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .with_context(|| format!("--routes {g}: not a valid glob"))?;
        b.add(glob);
    }
    Ok(Some(b.build().context("--routes")?))
}

pub(super) async fn plan_builtin(
    o: &LoadOptions,
    config: &Config,
    globs: Option<&globset::GlobSet>,
) -> anyhow::Result<Planned> {
    let mut wl = o.workload.clone().unwrap_or_else(workload::builtin);
    if let Some(g) = globs {
        wl.filter_routes(g, false);
    }
    let (baseline, mut steps, candidates) = plan_steps(config, &wl, o.calibrate)?;
    // Where the candidate side logs in: the candidate the login path is routed to.
    let candidate_login = match (&wl.login, o.calibrate) {
        (Some(l), false) => config
            .routes
            .lookup(&l.path)
            .and_then(|r| {
                let name = r.candidate.clone()?;
                target_url(config, &name).map(|url| TargetRef { name, url })
            })
            .unwrap_or_else(|| baseline.clone()),
        _ => baseline.clone(),
    };
    let mut targets = vec![baseline.clone()];
    for s in &steps {
        if !targets.contains(&s.candidate) {
            targets.push(s.candidate.clone());
        }
    }
    if !targets.contains(&candidate_login) {
        targets.push(candidate_login.clone());
    }
    let upstreams = Upstreams::resolve(&targets, o.request_timeout, Some(config))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    preflight(&upstreams, &targets).await?;
    let (mut baseline_id, mut candidate_id) = (None, None);
    if let Some(login) = &wl.login {
        baseline_id = workload::register(&upstreams, &baseline, login)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        candidate_id = if candidate_login == baseline {
            baseline_id.clone()
        } else {
            workload::register(&upstreams, &candidate_login, login)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        };
    }
    let mut keys: Vec<SeriesKey> = Vec::new();
    let mut index = |side: Side, target: &str, route: &str| {
        super::collect::series_index(&mut keys, side, target, route)
    };
    for s in &mut steps {
        s.baseline_series = index(Side::Baseline, &s.baseline.name, &s.step.route);
        s.candidate_series = index(Side::Candidate, &s.candidate.name, &s.step.route);
        s.baseline_id = baseline_id.clone();
        s.candidate_id = candidate_id.clone();
    }
    let plan = AttackPlan {
        steps,
        think_time: wl.think_time,
        login: wl.login.clone(),
        baseline_login: baseline.clone(),
        candidate_login,
        users: o.users,
        rate: o.rate,
        duration: o.duration,
        goose_report: None,
        request_timeout: o.request_timeout,
        proxy: None,
    };
    Ok(Planned {
        attack: Attack::Builtin(Box::new(plan)),
        keys,
        baseline,
        candidates,
        workload: wl.name.clone(),
        describe: wl.describe(),
        upstreams,
    })
}

pub(super) async fn plan_scenarios(
    o: &LoadOptions,
    config: &Config,
    globs: Option<&globset::GlobSet>,
) -> anyhow::Result<Planned> {
    let plan = scenarios::plan(config, &o.scenarios, globs, o.calibrate)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let with_users = plan.scenarios.len();
    if o.users < with_users {
        tracing::warn!(
            users = o.users,
            scenarios = with_users,
            "fewer simulated users than scenarios: Goose gives users to scenarios by weight, some scenarios will not run"
        );
    }
    let upstreams = Upstreams::resolve(&plan.targets, o.request_timeout, Some(config))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    preflight(&upstreams, &plan.targets).await?;
    let (primary, t) = config.primary();
    Ok(Planned {
        keys: plan.keys.clone(),
        baseline: TargetRef {
            name: primary.to_string(),
            url: t.url.get_ref().trim_end_matches('/').to_string(),
        },
        candidates: plan.candidates.clone(),
        workload: plan.name.clone(),
        describe: plan.describe.clone(),
        attack: Attack::Scenarios(Box::new(plan)),
        upstreams,
    })
}

/// Every target answers something (any status) before the attack starts.
async fn preflight(upstreams: &Upstreams, targets: &[TargetRef]) -> anyhow::Result<()> {
    for t in targets {
        let Some(target) = upstreams.get(&t.name) else {
            bail!("target {} ({}) was not resolved", t.name, t.url);
        };
        if let Err(e) = fetch(target, Method::GET, "/", HeaderMap::new(), Bytes::new()).await {
            bail!("target {} ({}) is unreachable: {e}", t.name, t.url);
        }
    }
    Ok(())
}
