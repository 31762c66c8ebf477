//! The Goose attack: one scenario whose transactions are the workload's steps, each sending
//! its request to the baseline and to the route's candidate back to back (in a random order
//! per iteration), named per target (`monolith GET /auth/me`, `auth GET /auth/me`) so
//! Goose's own metrics never merge them. Latency is timed here around each request up to the
//! end of its body and recorded in the [`Collector`]; the request rate is paced here too,
//! so no pacing wait is ever part of a measured latency.
//!
//! Goose is configured in code (`GooseAttack::initialize_with_config`, never the process's
//! arguments), without its telnet or WebSocket controllers, quiet, and without metric
//! resets; its HTML report is written where the caller asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use http::uri::PathAndQuery;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Url};

use super::direct::{self, Upstreams};
use super::pacer::Pacer;
use crate::upstream::Target;

use super::collect::{Collector, Outcome, Side};
use super::workload::{self, Body, Login, Step};

/// One target as the attack addresses it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRef {
    pub name: String,
    /// Base URL without a trailing slash.
    pub url: String,
}

/// A step with where it goes and where it is recorded.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub step: Step,
    pub baseline: TargetRef,
    pub candidate: TargetRef,
    pub baseline_series: usize,
    pub candidate_series: usize,
    /// `{id}` on each side.
    pub baseline_id: Option<String>,
    pub candidate_id: Option<String>,
}

/// Everything one attack needs.
#[derive(Debug, Clone)]
pub struct AttackPlan {
    pub steps: Vec<PlannedStep>,
    pub think_time: Option<(Duration, Duration)>,
    pub login: Option<Login>,
    /// Where each side logs in.
    pub baseline_login: TargetRef,
    pub candidate_login: TargetRef,
    pub users: usize,
    pub rate: Option<usize>,
    pub duration: Duration,
    /// Goose's HTML report, when wanted.
    pub goose_report: Option<std::path::PathBuf>,
    pub request_timeout: Duration,
    /// `--through-proxy`: each baseline request is sent once more through this proxy
    /// (never measured; the proxy's parity pipeline sees it).
    pub proxy: Option<TargetRef>,
}

/// The per-user session: each side's `Authorization` value (`Bearer …`), built once at
/// log-in rather than per request.
#[derive(Debug, Clone, Default)]
struct Session {
    baseline: Option<HeaderValue>,
    candidate: Option<HeaderValue>,
}

/// One side of a step, ready to send: URL parsed, request name formatted and body
/// serialised once per attack, so a request costs no parsing or formatting.
#[derive(Debug)]
struct Ready {
    url: Url,
    method: Method,
    /// Goose's request name (`monolith GET /auth/me`).
    name: String,
    /// `Content-Type` and the serialised body.
    body: Option<(HeaderValue, bytes::Bytes)>,
    auth: bool,
    series: usize,
    side: Side,
    /// Direct mode: the target's keep-alive pool and the request's path and headers.
    direct: Option<Direct>,
}

/// What a request needs on cutover's own upstream client (`upstream::pool`).
#[derive(Debug)]
struct Direct {
    target: Target,
    pq: PathAndQuery,
    /// `Content-Type` when there is a body; the token is added per request.
    headers: http::HeaderMap,
}

impl Ready {
    fn new(
        step: &Step,
        target: &TargetRef,
        id: Option<&String>,
        (series, side): (usize, Side),
        upstream: Option<&Target>,
    ) -> Result<Ready, GooseError> {
        let path = step.path.replace("{id}", id.map_or("1", String::as_str));
        let raw = format!("{}{path}", target.url);
        let url = Url::parse(&raw).map_err(|e| GooseError::InvalidOption {
            option: "target url".into(),
            value: raw.clone(),
            detail: e.to_string(),
        })?;
        let body = match &step.body {
            Body::None => None,
            Body::Json(v) => Some((
                HeaderValue::from_static("application/json"),
                bytes::Bytes::from(serde_json::to_vec(v).map_err(GooseError::Serde)?),
            )),
            Body::Form(pairs) => {
                let form = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                Some((
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                    bytes::Bytes::from(form),
                ))
            }
        };
        let direct = match upstream {
            None => None,
            Some(t) => {
                // The target's path prefix is added by the target itself.
                let pq = path
                    .parse::<PathAndQuery>()
                    .map_err(|e| GooseError::InvalidOption {
                        option: "target url".into(),
                        value: raw.clone(),
                        detail: e.to_string(),
                    })?;
                let mut headers = http::HeaderMap::new();
                if let Some((content_type, _)) = &body {
                    headers.insert(header::CONTENT_TYPE, content_type.clone());
                }
                Some(Direct {
                    target: t.clone(),
                    pq,
                    headers,
                })
            }
        };
        Ok(Ready {
            url,
            method: step.method.clone(),
            name: format!("{} {}", target.name, step.route),
            body,
            auth: step.auth,
            series,
            side,
            direct,
        })
    }
}

/// A step with both sides (and the proxy's copy) ready to send.
#[derive(Debug)]
struct Prepared {
    baseline: Ready,
    candidate: Ready,
    proxy: Option<Ready>,
}

impl Prepared {
    /// `upstreams`: direct mode's targets by name (none: through Goose's client).
    fn new(
        p: &PlannedStep,
        proxy: Option<&TargetRef>,
        upstreams: Option<&Upstreams>,
    ) -> Result<Prepared, GooseError> {
        let up = |t: &TargetRef| -> Result<Option<Target>, GooseError> {
            match upstreams {
                None => Ok(None),
                Some(u) => {
                    u.get(&t.name)
                        .cloned()
                        .map(Some)
                        .ok_or_else(|| GooseError::InvalidOption {
                            option: "target".into(),
                            value: t.name.clone(),
                            detail: "not resolved before the attack".into(),
                        })
                }
            }
        };
        let b = (p.baseline_series, Side::Baseline);
        let id = p.baseline_id.as_ref();
        Ok(Prepared {
            baseline: Ready::new(&p.step, &p.baseline, id, b, up(&p.baseline)?.as_ref())?,
            candidate: Ready::new(
                &p.step,
                &p.candidate,
                p.candidate_id.as_ref(),
                (p.candidate_series, Side::Candidate),
                up(&p.candidate)?.as_ref(),
            )?,
            proxy: proxy
                .map(|t| Ready::new(&p.step, t, id, b, up(t)?.as_ref()))
                .transpose()?,
        })
    }
}

/// Run the attack; Goose's error when it could not run.
pub async fn run(
    plan: AttackPlan,
    upstreams: Upstreams,
    collector: Arc<Collector>,
) -> Result<(), GooseError> {
    let pacer = plan.rate.map(|r| Arc::new(Pacer::new(r)));
    let mut scenario = scenario!("cutover-load");
    if let Some((min, max)) = plan.think_time {
        scenario = scenario.set_wait_time(min, max.max(min))?;
    }
    // Without Goose's report nothing reads Goose's per-request metrics: Goose still runs
    // the users, their weights, set-up and run time, but each request goes over cutover's
    // own keep-alive client (`upstream::pool`, the proxy's) instead of through
    // `GooseUser::request` and reqwest, which build a metric record and re-parse the URL
    // of every answer (`benches/load.sh`). It speaks https too, which Goose's does not here.
    let upstreams = direct_upstreams(
        upstreams,
        plan.goose_report.is_some(),
        plan.proxy.as_ref(),
        plan.request_timeout,
    )?
    .map(Arc::new);
    if let Some(login) = plan.login.clone() {
        let (b, c) = (plan.baseline_login.clone(), plan.candidate_login.clone());
        let direct = upstreams.clone();
        let f: TransactionFunction = Arc::new(move |user| {
            let (login, b, c, direct) = (login.clone(), b.clone(), c.clone(), direct.clone());
            Box::pin(async move {
                let session = match direct.as_deref() {
                    Some(u) => Session {
                        baseline: bearer(workload::login(u, &b, &login).await.ok()),
                        candidate: bearer(workload::login(u, &c, &login).await.ok()),
                    },
                    None => Session {
                        baseline: log_in(user, &b, &login).await,
                        candidate: log_in(user, &c, &login).await,
                    },
                };
                user.set_session_data(session);
                Ok(())
            })
        });
        scenario = scenario.register_transaction(
            Transaction::new(f)
                .set_name("login (set-up)")
                .set_on_start(),
        );
    }
    let direct = upstreams.is_some();
    for planned in &plan.steps {
        let weight = planned.step.weight.max(1);
        let name = planned.step.route.clone();
        let prepared = Arc::new(Prepared::new(
            planned,
            plan.proxy.as_ref(),
            upstreams.as_deref(),
        )?);
        let (col, pacer) = (Arc::clone(&collector), pacer.clone());
        let f: TransactionFunction = Arc::new(move |user| {
            let (prepared, col, pacer) = (Arc::clone(&prepared), Arc::clone(&col), pacer.clone());
            Box::pin(async move {
                both_sides(user, &prepared, &col, pacer.as_deref(), direct).await?;
                if let Some(proxy) = &prepared.proxy {
                    one(user, proxy, None, direct).await?;
                }
                Ok(())
            })
        });
        scenario =
            scenario.register_transaction(Transaction::new(f).set_name(&name).set_weight(weight)?);
    }
    let config = goose_config(
        &plan.baseline_login.url,
        plan.users,
        plan.duration,
        plan.request_timeout,
        plan.goose_report.as_deref(),
    );
    execute(config, vec![scenario]).await
}

/// Goose's configuration for one attack: every user at once, for `duration`, quiet,
/// without controllers or metric resets; its HTML report at `report` when given.
pub(crate) fn goose_config(
    host: &str,
    users: usize,
    duration: Duration,
    timeout: Duration,
    report: Option<&std::path::Path>,
) -> GooseConfiguration {
    // Built field by field: some fields are private to Goose, and nothing is parsed.
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users.max(1));
    // Every user at once: the comparison is interleaved, a ramp would only waste time.
    config.increase_rate = Some((users.max(1) * 10).to_string());
    config.run_time = Some(format!("{}s", duration.as_secs().max(1)));
    config.timeout = Some(format!("{:.3}", timeout.as_secs_f64()));
    config.quiet = 1;
    config.no_reset_metrics = true;
    config.no_telnet = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.report_file = report.iter().map(|p| p.display().to_string()).collect();
    // Without Goose's report nothing reads Goose's metrics: skip building and sending a
    // metric per request (cutover's collector measures everything it decides on).
    if report.is_none() {
        config.no_metrics = true;
        config.no_transaction_metrics = true;
        config.no_scenario_metrics = true;
    }
    config
}

/// Run Goose with these scenarios. Goose prints `All N users launched.` on stdout whatever
/// its configuration says; stdout is pointed at `/dev/null` for the attack (our progress
/// line is on stderr).
pub(crate) async fn execute(
    config: GooseConfiguration,
    scenarios: Vec<Scenario>,
) -> Result<(), GooseError> {
    let mut attack = GooseAttack::initialize_with_config(config)?;
    for s in scenarios {
        attack = attack.register_scenario(s);
    }
    let _quiet = super::quiet::Stdout::silence();
    attack.execute().await?;
    Ok(())
}

async fn log_in(user: &mut GooseUser, target: &TargetRef, login: &Login) -> Option<HeaderValue> {
    let url = format!("{}{}", target.url, login.path);
    let rb = user
        .get_request_builder(&GooseMethod::Post, &url)
        .ok()?
        .form(&[("username", &login.username), ("password", &login.password)]);
    let resp = rb.send().await.ok()?;
    let v: serde_json::Value = resp.json().await.ok()?;
    bearer(v.get("access_token")?.as_str().map(str::to_string))
}

/// The attack's targets on cutover's own client with the `--through-proxy` proxy added;
/// `None` when Goose's report is written (requests then go through Goose's client).
pub(super) fn direct_upstreams(
    upstreams: Upstreams,
    goose_report: bool,
    proxy: Option<&TargetRef>,
    timeout: Duration,
) -> Result<Option<Upstreams>, GooseError> {
    if goose_report {
        return Ok(None);
    }
    upstreams
        .and(proxy, timeout)
        .map(Some)
        .map_err(|detail| GooseError::InvalidOption {
            option: "target url".into(),
            value: String::new(),
            detail,
        })
}

/// `Bearer <token>`, marked sensitive.
fn bearer(token: Option<String>) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token?)).ok()?;
    value.set_sensitive(true);
    Some(value)
}

async fn both_sides(
    user: &mut GooseUser,
    p: &Prepared,
    col: &Collector,
    pacer: Option<&Pacer>,
    direct: bool,
) -> TransactionResult {
    let candidate_first = fastrand::bool();
    for i in 0..2 {
        let ready = if (i == 0) == candidate_first {
            &p.candidate
        } else {
            &p.baseline
        };
        if let Some(pacer) = pacer {
            pacer.wait().await;
        }
        one(user, ready, Some(col), direct).await?;
    }
    Ok(())
}

/// Send one prepared request and time it up to the end of its body; recorded in `col`
/// when given (the proxy's copies are not measured). `direct`: on the user's client
/// without Goose's per-request bookkeeping.
async fn one(
    user: &mut GooseUser,
    r: &Ready,
    col: Option<&Collector>,
    direct: bool,
) -> TransactionResult {
    let auth = if r.auth {
        user.get_session_data::<Session>()
            .and_then(|s| match r.side {
                Side::Baseline => s.baseline.clone(),
                Side::Candidate => s.candidate.clone(),
            })
    } else {
        None
    };
    let started = Instant::now();
    let outcome = match &r.direct {
        Some(d) if direct => {
            let mut headers = d.headers.clone();
            if let Some(value) = auth {
                headers.insert(header::AUTHORIZATION, value);
            }
            let body = r.body.as_ref().map_or_else(Bytes::new, |(_, b)| b.clone());
            match direct::send(&d.target, &r.method, &d.pq, headers, body, false).await {
                Some(a) => Outcome::Status(a.status),
                None => Outcome::Transport,
            }
        }
        _ => {
            let mut rb = user.client.request(r.method.clone(), r.url.clone());
            if let Some((content_type, body)) = &r.body {
                rb = rb
                    .header(header::CONTENT_TYPE, content_type.clone())
                    .body(body.clone());
            }
            if let Some(value) = auth {
                rb = rb.header(header::AUTHORIZATION, value);
            }
            let request = GooseRequest::builder()
                .set_request_builder(rb)
                .name(r.name.as_str())
                .build();
            match user.request(request).await?.response {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(_) => Outcome::Status(status),
                        Err(_) => Outcome::Transport,
                    }
                }
                Err(_) => Outcome::Transport,
            }
        }
    };
    if let Some(col) = col {
        col.record(r.series, outcome, started.elapsed());
    }
    Ok(())
}
