//! Running a [`ScenarioPlan`] with Goose: one Goose scenario per scenario file (its
//! `weight` is the Goose weight), its `setup` steps as one `on_start` transaction (once per
//! simulated user), its `steps` as one transaction that Goose repeats until the run ends.
//!
//! Each simulated user keeps one variable scope per side (baseline, candidate) for its whole
//! life: `vars`, then every capture, so a token logged in with on the candidate is used
//! on the candidate only. `${run.id}` is the run id plus the user's number, so usernames
//! built from it are unique per user. Each step is sent on both sides back to back (in a
//! random order), named per target (`auth POST /auth/login`) so Goose's metrics never
//! merge the sides, timed to the end of its body and recorded in the [`Collector`]
//! when the plan measures it. Assertions (`expect`) are not checked under load: the load
//! stage judges latency and error rates; `cutover verify` judges answers. A step whose
//! variables are unset (its capture failed) is not sent and counted. Loops stop at the end
//! of the run; think time is slept after each step, never inside a measured latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::prelude::*;

use http::uri::PathAndQuery;

use super::attack::{TargetRef, execute, goose_config};
use super::collect::{Collector, Outcome};
use super::direct::{self, Upstreams};
use super::pacer::Pacer;
use super::scenarios::{PlannedScenario, PlannedScenarioStep, ScenarioPlan};
use crate::exchange::{Body, RecordedResponse};
use crate::scenario::assert::captures;
use crate::scenario::exec::{fail_captures, prepare};
use crate::scenario::source::{iterations, new_scope};
use crate::scenario::vars::{Frame, Scope};
use crate::upstream::Target;
use crate::upstream::forward::to_headers;

/// How the scenario attack runs.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub users: usize,
    pub rate: Option<usize>,
    pub duration: Duration,
    pub request_timeout: Duration,
    pub goose_report: Option<std::path::PathBuf>,
    pub run_id: String,
    /// `--through-proxy`: each baseline request is sent once more through this proxy.
    pub proxy: Option<TargetRef>,
    /// The plan's targets on cutover's own client, with their TLS settings.
    pub upstreams: Upstreams,
}

/// One user's variables per side.
#[derive(Debug, Clone, Default)]
struct Scopes {
    sides: [Scope; 2],
}

struct Shared {
    collector: Arc<Collector>,
    pacer: Option<Pacer>,
    deadline: Instant,
    run_id: String,
    proxy: Option<TargetRef>,
    /// Without Goose's report: the targets on cutover's own client ([`direct`]).
    upstreams: Option<Upstreams>,
}

/// Run the plan; Goose's error when it could not run.
pub async fn run(
    plan: &ScenarioPlan,
    r: &ScenarioRun,
    collector: Arc<Collector>,
) -> Result<(), GooseError> {
    let upstreams = super::attack::direct_upstreams(
        r.upstreams.clone(),
        r.goose_report.is_some(),
        r.proxy.as_ref(),
        r.request_timeout,
    )?;
    let shared = Arc::new(Shared {
        collector,
        pacer: r.rate.map(Pacer::new),
        deadline: Instant::now() + r.duration,
        run_id: r.run_id.clone(),
        proxy: r.proxy.clone(),
        upstreams,
    });
    let mut goose_scenarios = Vec::new();
    for planned in &plan.scenarios {
        goose_scenarios.push(goose_scenario(planned, &shared)?);
    }
    let host = plan.targets.first().map(|t| t.url.as_str()).unwrap_or("");
    let config = goose_config(
        host,
        r.users,
        r.duration,
        r.request_timeout,
        r.goose_report.as_deref(),
    );
    execute(config, goose_scenarios).await
}

fn goose_scenario(p: &PlannedScenario, shared: &Arc<Shared>) -> Result<Scenario, GooseError> {
    let p = Arc::new(p.clone());
    let name = p.scenario.name.clone();
    let mut scenario = Scenario::new(&name).set_weight(p.weight.max(1))?;
    let setup: TransactionFunction = {
        let (p, shared) = (Arc::clone(&p), Arc::clone(shared));
        Arc::new(move |user| {
            let (p, shared) = (Arc::clone(&p), Arc::clone(&shared));
            Box::pin(async move {
                let user_id = format!("{}-u{}", shared.run_id, user.weighted_users_index);
                let mut scopes = Scopes {
                    sides: [
                        new_scope(&p.scenario, &user_id),
                        new_scope(&p.scenario, &user_id),
                    ],
                };
                for step in p.steps.iter().filter(|s| s.setup) {
                    run_step(user, &p, step, &mut scopes, &shared).await;
                }
                user.set_session_data(scopes);
                Ok(())
            })
        })
    };
    scenario = scenario.register_transaction(
        Transaction::new(setup)
            .set_name(&format!("{name}: setup"))
            .set_on_start(),
    );
    let steps: TransactionFunction = {
        let (p, shared) = (Arc::clone(&p), Arc::clone(shared));
        Arc::new(move |user| {
            let (p, shared) = (Arc::clone(&p), Arc::clone(&shared));
            Box::pin(async move {
                // Every iteration starts from the scopes as the set-up left them: a step
                // only uses variables of `vars`, the set-up and earlier steps, and the
                // scopes (their secrets list included) stay bounded however long the run.
                let mut scopes = user
                    .get_session_data::<Scopes>()
                    .cloned()
                    .unwrap_or_default();
                let mut sent = 0;
                for step in p.steps.iter().filter(|s| !s.setup) {
                    if Instant::now() >= shared.deadline {
                        break;
                    }
                    sent += run_step(user, &p, step, &mut scopes, &shared).await;
                }
                if sent == 0 {
                    // Nothing was sent (the run is over, or every step lacks a variable):
                    // never spin; Goose stops users between transactions.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(())
            })
        })
    };
    Ok(scenario.register_transaction(Transaction::new(steps).set_name(&format!("{name}: steps"))))
}

/// One step (every loop iteration) on both sides, then its think time; how many requests
/// were sent.
async fn run_step(
    user: &mut GooseUser,
    p: &PlannedScenario,
    planned: &PlannedScenarioStep,
    scopes: &mut Scopes,
    shared: &Shared,
) -> usize {
    let mut sent = 0;
    let Some(step) = p.scenario.steps.get(planned.index) else {
        return sent;
    };
    let counts = [
        iterations(step, &scopes.sides[0]),
        iterations(step, &scopes.sides[1]),
    ];
    let most = counts.iter().map(|c| *c.as_ref().unwrap_or(&0)).max();
    for i in 0..most.unwrap_or(0) {
        if Instant::now() >= shared.deadline {
            break;
        }
        let frame = Frame {
            row: step.doc.for_each.as_ref().and_then(|rows| rows.get(i)),
            index: (step.doc.for_each.is_some() || step.doc.repeat.is_some()).then_some(i),
        };
        let route = planned.routes.len().saturating_sub(1).min(i);
        let candidate_first = fastrand::bool();
        for k in 0..2 {
            let side = usize::from((k == 0) == candidate_first);
            let s = &planned.sides[side];
            if s.skip || counts[side].as_ref().is_ok_and(|n| i >= *n) || counts[side].is_err() {
                continue;
            }
            let (Some(target), Some(series)) = (s.targets.get(route), s.series.get(route)) else {
                continue;
            };
            let Some(name) = planned.routes.get(route) else {
                continue;
            };
            let scope = &mut scopes.sides[side];
            let prepared = match prepare(step, &frame, scope) {
                Ok(r) => r,
                Err(e) => {
                    let why = format!("not run: {}", scope.hide(&e.to_string()));
                    fail_captures(step, &p.scenario.file, scope, &why);
                    shared.collector.not_sent();
                    continue;
                }
            };
            if let Some(pacer) = &shared.pacer {
                pacer.wait().await;
            }
            let keep = !step.doc.capture.is_empty();
            let answer = send(user, shared, target, name, &prepared, keep).await;
            sent += 1;
            if side == 0
                && let Some(proxy) = &shared.proxy
            {
                let _ = send(user, shared, proxy, name, &prepared, false).await;
            }
            if let Some(i) = series {
                shared.collector.record(*i, answer.outcome, answer.elapsed);
            }
            match &answer.response {
                Some(resp) => {
                    captures(step, &p.scenario.file, resp, scope);
                }
                None if !step.doc.capture.is_empty() => {
                    fail_captures(step, &p.scenario.file, scope, "not run: no answer");
                }
                None => {}
            }
        }
    }
    if let Some((min, max)) = planned.think_time {
        let pause = if max > min {
            min + (max - min).mul_f64(fastrand::f64())
        } else {
            min
        };
        let left = shared.deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(left)).await;
    }
    sent
}

struct Answer {
    outcome: Outcome,
    elapsed: Duration,
    /// The answer, when the step captures from it (`keep`).
    response: Option<RecordedResponse>,
}

async fn send(
    user: &mut GooseUser,
    shared: &Shared,
    target: &TargetRef,
    route: &str,
    p: &crate::scenario::exec::Prepared,
    keep: bool,
) -> Answer {
    let failed = |started: Instant| Answer {
        outcome: Outcome::Transport,
        elapsed: started.elapsed(),
        response: None,
    };
    if let Some(t) = shared.upstreams.as_ref().and_then(|u| u.get(&target.name)) {
        return send_direct(t, p, keep).await;
    }
    let url = format!("{}{}", target.url, p.uri);
    let method = match p.method.as_str() {
        "GET" => Some(GooseMethod::Get),
        "POST" => Some(GooseMethod::Post),
        "PUT" => Some(GooseMethod::Put),
        "PATCH" => Some(GooseMethod::Patch),
        "DELETE" => Some(GooseMethod::Delete),
        "HEAD" => Some(GooseMethod::Head),
        _ => None,
    };
    let started = Instant::now();
    let mut rb = match method {
        Some(m) => match user.get_request_builder(&m, &url) {
            Ok(rb) => rb,
            Err(_) => return failed(started),
        },
        None => user.client.request(p.method.clone(), &url),
    };
    for (k, v) in &p.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if !p.body.is_empty() {
        rb = rb.body(p.body.clone());
    }
    let name = format!("{} {route}", target.name);
    let request = GooseRequest::builder()
        .set_request_builder(rb)
        .name(name.as_str())
        .build();
    let started = Instant::now();
    let Ok(goose) = user.request(request).await else {
        return failed(started);
    };
    let Ok(resp) = goose.response else {
        return failed(started);
    };
    let status = resp.status().as_u16();
    if !keep {
        let outcome = match resp.bytes().await {
            Ok(_) => Outcome::Status(status),
            Err(_) => Outcome::Transport,
        };
        return Answer {
            outcome,
            elapsed: started.elapsed(),
            response: None,
        };
    }
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let Ok(body) = resp.bytes().await else {
        return failed(started);
    };
    let elapsed = started.elapsed();
    Answer {
        outcome: Outcome::Status(status),
        elapsed,
        response: Some(RecordedResponse {
            status,
            headers,
            body: Body(body),
            truncated: false,
            ttfb_us: 0,
            total_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        }),
    }
}

/// [`send`] on cutover's own client ([`direct`]).
async fn send_direct(target: &Target, p: &crate::scenario::exec::Prepared, keep: bool) -> Answer {
    let started = Instant::now();
    let answer = match (
        p.uri.parse::<PathAndQuery>(),
        direct::headers_of(&p.headers),
    ) {
        (Ok(pq), Some(headers)) => {
            direct::send(target, &p.method, &pq, headers, p.body.clone(), keep).await
        }
        _ => None,
    };
    let elapsed = started.elapsed();
    let Some(answer) = answer else {
        return Answer {
            outcome: Outcome::Transport,
            elapsed,
            response: None,
        };
    };
    let response = answer.kept.map(|(headers, body)| RecordedResponse {
        status: answer.status,
        headers: to_headers(&headers),
        body: Body(body),
        truncated: false,
        ttfb_us: 0,
        total_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    });
    Answer {
        outcome: Outcome::Status(answer.status),
        elapsed,
        response,
    }
}
