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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;

use super::collect::{Collector, Outcome, Side};
use super::workload::{Body, Login, Step};

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

/// The per-user session: a token per side.
#[derive(Debug, Clone, Default)]
struct Session {
    baseline: Option<String>,
    candidate: Option<String>,
}

/// Paces requests to at most `rate` per second across all users.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    period_ns: u64,
    next_ns: AtomicU64,
}

impl Pacer {
    pub(crate) fn new(rate: usize) -> Pacer {
        Pacer {
            start: Instant::now(),
            period_ns: 1_000_000_000 / rate.max(1) as u64,
            next_ns: AtomicU64::new(0),
        }
    }

    pub(crate) async fn wait(&self) {
        let now = self.start.elapsed().as_nanos() as u64;
        let mut slot = self.next_ns.load(Ordering::Relaxed);
        loop {
            let mine = slot.max(now);
            match self.next_ns.compare_exchange_weak(
                slot,
                mine + self.period_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    slot = mine;
                    break;
                }
                Err(s) => slot = s,
            }
        }
        if slot > now {
            tokio::time::sleep(Duration::from_nanos(slot - now)).await;
        }
    }
}

/// Run the attack; Goose's error when it could not run.
pub async fn run(plan: AttackPlan, collector: Arc<Collector>) -> Result<(), GooseError> {
    let pacer = plan.rate.map(|r| Arc::new(Pacer::new(r)));
    let mut scenario = scenario!("cutover-load");
    if let Some((min, max)) = plan.think_time {
        scenario = scenario.set_wait_time(min, max.max(min))?;
    }
    if let Some(login) = plan.login.clone() {
        let (b, c) = (plan.baseline_login.clone(), plan.candidate_login.clone());
        let f: TransactionFunction = Arc::new(move |user| {
            let (login, b, c) = (login.clone(), b.clone(), c.clone());
            Box::pin(async move {
                let session = Session {
                    baseline: log_in(user, &b, &login).await,
                    candidate: log_in(user, &c, &login).await,
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
    for planned in plan.steps.iter().cloned() {
        let weight = planned.step.weight.max(1);
        let name = planned.step.route.clone();
        let planned = Arc::new(planned);
        let (col, pacer, proxy) = (Arc::clone(&collector), pacer.clone(), plan.proxy.clone());
        let f: TransactionFunction = Arc::new(move |user| {
            let (planned, col, pacer) = (Arc::clone(&planned), Arc::clone(&col), pacer.clone());
            let proxy = proxy.clone();
            Box::pin(async move {
                both_sides(user, &planned, &col, pacer.as_deref()).await?;
                if let Some(proxy) = &proxy {
                    one(user, &planned, Side::Baseline, Some(proxy), &col).await?;
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

async fn log_in(user: &mut GooseUser, target: &TargetRef, login: &Login) -> Option<String> {
    let url = format!("{}{}", target.url, login.path);
    let rb = user
        .get_request_builder(&GooseMethod::Post, &url)
        .ok()?
        .form(&[("username", &login.username), ("password", &login.password)]);
    let resp = rb.send().await.ok()?;
    let v: serde_json::Value = resp.json().await.ok()?;
    v.get("access_token")?.as_str().map(str::to_string)
}

async fn both_sides(
    user: &mut GooseUser,
    p: &PlannedStep,
    col: &Collector,
    pacer: Option<&Pacer>,
) -> TransactionResult {
    let candidate_first = fastrand::bool();
    for i in 0..2 {
        let side = if (i == 0) == candidate_first {
            Side::Candidate
        } else {
            Side::Baseline
        };
        if let Some(pacer) = pacer {
            pacer.wait().await;
        }
        one(user, p, side, None, col).await?;
    }
    Ok(())
}

/// One request of `side`; to `proxy` instead of the side's target when given (then not
/// measured).
async fn one(
    user: &mut GooseUser,
    p: &PlannedStep,
    side: Side,
    proxy: Option<&TargetRef>,
    col: &Collector,
) -> TransactionResult {
    let (target, series, id) = match side {
        Side::Baseline => (&p.baseline, p.baseline_series, &p.baseline_id),
        Side::Candidate => (&p.candidate, p.candidate_series, &p.candidate_id),
    };
    let target = proxy.unwrap_or(target);
    let token = user.get_session_data::<Session>().and_then(|s| match side {
        Side::Baseline => s.baseline.clone(),
        Side::Candidate => s.candidate.clone(),
    });
    let path = match id {
        Some(id) => p.step.path.replace("{id}", id),
        None => p.step.path.replace("{id}", "1"),
    };
    let url = format!("{}{path}", target.url);
    let method = match p.step.method.as_str() {
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "PATCH" => GooseMethod::Patch,
        "DELETE" => GooseMethod::Delete,
        "HEAD" => GooseMethod::Head,
        _ => GooseMethod::Get,
    };
    let mut rb = user.get_request_builder(&method, &url)?;
    rb = match &p.step.body {
        Body::None => rb,
        Body::Json(v) => rb.json(v),
        Body::Form(pairs) => rb.form(pairs),
    };
    if p.step.auth
        && let Some(t) = token
    {
        rb = rb.bearer_auth(t);
    }
    let name = format!("{} {}", target.name, p.step.route);
    let request = GooseRequest::builder()
        .set_request_builder(rb)
        .name(name.as_str())
        .build();
    let started = Instant::now();
    let goose = user.request(request).await?;
    let outcome = match goose.response {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(_) => Outcome::Status(status),
                Err(_) => Outcome::Transport,
            }
        }
        Err(_) => Outcome::Transport,
    };
    if proxy.is_none() {
        col.record(series, outcome, started.elapsed());
    }
    Ok(())
}
