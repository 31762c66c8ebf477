//! `cutover load`: the load stage. Drives one workload against the primary and each route's
//! candidate side by side (interleaved within one Goose attack, so both see the same machine
//! at the same moment), measures every request per side, target and route, and decides the
//! rollback triggers with statistics (`pipeline::load_gates`): PROCEED, ROLLBACK or
//! INCONCLUSIVE.
//!
//! Owns the run's set-up (the embedded reference system when no configuration is given,
//! the plan of targets and steps, the account each simulated user logs in with), the
//! mergeable result files of `--worker i/N` and their merge, and writing
//! `reports/<run>/`: `load.json`, `load.md`, `load.html`, `junit.xml`, `load-result.json`
//! and Goose's own `goose.html`. Every file is written to a temporary name and renamed; the
//! folder is created only once the verdict exists, so a failed run leaves nothing behind.
//! Layout: `workload.rs` (steps, built-in workload, log-in), `plan.rs` (targets and series
//! of a run, pre-flight), `scenarios.rs` + `scenario_attack.rs` (scenario files as the
//! workload: per-user set-up, captures, weights, think time), `attack.rs` (Goose),
//! `quiet.rs` (Goose's stdout line),
//! `collect.rs` (measurements, result files, merge), `files.rs` (writing, reading parts),
//! `model.rs` (the report), `render.rs`
//! (Markdown, JUnit, HTML), `progress.rs` (the terminal line).

pub mod attack;
pub mod collect;
pub mod direct;
mod files;
mod merge;
pub mod model;
mod pacer;
mod plan;
mod progress;
mod proxied;
mod quiet;
pub mod render;
pub mod scenario_attack;
pub mod scenarios;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::config::Config;
use crate::reference::{self, Divergence, ReferenceSystem};
use collect::{Collector, ResultMeta};
pub use files::merge_files;
use files::{create_dir, move_file, write_atomically, write_reports};
pub use model::LoadReport;
use workload::Workload;

/// How to run the load stage.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The targets and triggers; `None`: start the embedded reference system.
    pub config: Option<Config>,
    /// Migration bugs in the embedded reference system (ignored with a configuration).
    pub divergences: Vec<Divergence>,
    /// `None`: the built-in workload.
    pub workload: Option<Workload>,
    /// Scenario files (`--scenarios DIR`); when not empty, they are the workload.
    pub scenarios: Vec<crate::scenario::Scenario>,
    pub users: usize,
    /// At most this many requests per second in all (both sides), when set.
    pub rate: Option<usize>,
    pub duration: Duration,
    /// Only steps whose path matches one of these globs (`/ai/**`).
    pub routes: Vec<String>,
    /// `(i, N)`: this is worker i of N; write a partial result, no verdict.
    pub worker: Option<(u32, u32)>,
    /// Compare the primary with itself (A/A) to measure false alarms.
    pub calibrate: bool,
    /// Report folder; default `reports/<run id>/`.
    pub out: Option<PathBuf>,
    /// Write Goose's own HTML report beside ours.
    pub goose_report: bool,
    /// Live progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// Also send every baseline request through an in-process cutover proxy (primary
    /// answered, candidate mirrored), so the run also writes a parity report in
    /// `<dir>/parity/`. The latency verdict stays the direct comparison's.
    pub through_proxy: bool,
    pub request_timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            config: None,
            divergences: Vec::new(),
            workload: None,
            scenarios: Vec::new(),
            users: 8,
            rate: None,
            duration: Duration::from_secs(10),
            routes: Vec::new(),
            worker: None,
            calibrate: false,
            out: None,
            goose_report: true,
            progress: false,
            through_proxy: false,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What a load run (or merge) produced.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The verdict report; `None` for a worker's partial run.
    pub report: Option<LoadReport>,
    pub dir: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

/// Run the load stage.
pub async fn run(options: LoadOptions) -> anyhow::Result<LoadOutcome> {
    validate(&options)?;
    let Some(config) = options.config.clone() else {
        let system = ReferenceSystem::start(reference::Options {
            divergences: options.divergences.clone(),
            // The built-in workload's account, and the admins of the shipped scenarios
            // (docs/scenario-format.md: the embedded system allowlists `admina;carol`).
            admin_allowlist: Some(format!("{};admina;carol", workload::LOAD_USER)),
            bcrypt_cost: 4,
            ai_rate_limit: u32::MAX,
            ..reference::Options::default()
        })
        .await
        .context("starting the reference system")?;
        let config = reference_config(&system);
        let result = match config {
            Ok(c) => run_with(&options, &c, true).await,
            Err(e) => Err(anyhow::Error::new(e)),
        };
        system.shutdown().await;
        return result;
    };
    run_with(&options, &config, false).await
}

fn validate(o: &LoadOptions) -> anyhow::Result<()> {
    if o.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    if o.duration < Duration::from_secs(1) {
        bail!("--duration must be at least 1s (Goose runs whole seconds)");
    }
    if o.users == 0 {
        bail!("--users must be at least 1");
    }
    if o.rate == Some(0) {
        bail!("--rate must be at least 1 request per second");
    }
    if let Some((i, n)) = o.worker
        && (n == 0 || i == 0 || i > n)
    {
        bail!("--worker {i}/{n}: expected i/N with 1 ≤ i ≤ N");
    }
    Ok(())
}

/// The configuration of the embedded reference system: the monolith as primary, `/auth/**`
/// to the Auth service, `/ai/**` to the AI service.
fn reference_config(system: &ReferenceSystem) -> Result<Config, crate::config::ConfigError> {
    let text = format!(
        r#"
[targets]
monolith = {{ url = "http://{}", role = "primary" }}
auth = {{ url = "http://{}" }}
ai = {{ url = "http://{}" }}

[[routes]]
match = "/auth/**"
candidate = "auth"
mirror_writes = true

[[routes]]
match = "/ai/**"
candidate = "ai"
mirror_writes = true
"#,
        system.monolith, system.auth, system.ai
    );
    Config::parse(&text, "<embedded reference system>")
}

fn digest(config: &Config, describe: &str, embedded: bool, calibrate: bool) -> String {
    let mut h = Sha256::new();
    h.update(format!("{:?}", config.file.triggers));
    for (name, t) in &config.file.targets {
        let url = if embedded {
            "embedded"
        } else {
            t.url.get_ref()
        };
        h.update(format!("|{name}={url}:{:?}", t.role));
    }
    for r in config.routes.iter() {
        h.update(format!(
            "|{}>{}",
            r.pattern,
            r.candidate.as_deref().unwrap_or("")
        ));
    }
    h.update(format!("|{describe}|{calibrate}"));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

async fn run_with(o: &LoadOptions, config: &Config, embedded: bool) -> anyhow::Result<LoadOutcome> {
    let run_id = crate::report::run_id();
    let globs = plan::route_globs(&o.routes)?;
    let planned = if o.scenarios.is_empty() {
        plan::plan_builtin(o, config, globs.as_ref()).await?
    } else {
        plan::plan_scenarios(o, config, globs.as_ref()).await?
    };
    // Goose's client is built without TLS here: https targets go over cutover's own.
    let https = planned.upstreams.any_https();
    if o.goose_report && o.worker.is_none() && https {
        tracing::warn!(
            "https targets: Goose's HTML report is not written (Goose's client speaks plain HTTP here); requests go over cutover's own client"
        );
    }
    let (users, rate) = match o.worker {
        Some((i, n)) => (
            share(o.users, i, n).max(1),
            o.rate.map(|r| share(r, i, n).max(1)),
        ),
        None => (o.users, o.rate),
    };
    let goose_tmp = (o.goose_report && o.worker.is_none() && !https)
        .then(|| std::env::temp_dir().join(format!("cutover-goose-{run_id}.html")));
    let collector =
        Arc::new(Collector::new(planned.keys.clone(), o.duration).with_rate(rate, users));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let progress = o
        .progress
        .then(|| {
            progress::start(
                Arc::clone(&collector),
                o.duration,
                (planned.baseline.name.clone(), planned.candidates.join("+")),
                stopped,
            )
        })
        .flatten();
    let drive = proxied::Drive {
        attack: planned.attack,
        users,
        rate,
        duration: o.duration,
        request_timeout: o.request_timeout,
        goose_report: goose_tmp.clone(),
        run_id: run_id.clone(),
        collector: Arc::clone(&collector),
        upstreams: planned.upstreams,
    };
    let dir = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
    let mut parity = None;
    let attacked = if o.through_proxy {
        match proxied::run(drive, config, &dir, &run_id).await {
            Ok(p) => {
                parity = Some(p);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    } else {
        drive.run(None).await.map_err(|e| e.to_string())
    };
    let _ = stop.send(true);
    if let Some(p) = progress {
        let _ = p.await;
    }
    if let Err(e) = attacked {
        if let Some(tmp) = &goose_tmp {
            let _ = std::fs::remove_file(tmp);
        }
        bail!("the load attack failed: {e}");
    }
    let meta = ResultMeta {
        run_id: run_id.clone(),
        config_digest: digest(config, &planned.describe, embedded, o.calibrate),
        worker: o.worker,
        users,
        rate,
        calibrate: o.calibrate,
        baseline: planned.baseline.name.clone(),
        candidates: planned.candidates,
        workload: planned.workload,
        triggers: model::TriggerSettings::from(&config.file.triggers),
    };
    let result = collector.result(meta);
    if let Some((i, n)) = o.worker {
        let path = dir.join(format!("load-part-{i}-of-{n}.json"));
        let json = serde_json::to_string(&result).context("serialising the partial result")?;
        create_dir(&dir)?;
        write_atomically(&path, json.as_bytes())?;
        return Ok(LoadOutcome {
            report: None,
            dir,
            files: vec![path],
        });
    }
    let report = model::build(&result, &config.file.triggers, 1);
    let mut files = write_reports(&dir, &report, &result)?;
    if let Some(p) = parity {
        files.extend(p);
    }
    if let Some(tmp) = goose_tmp {
        let path = dir.join("goose.html");
        if move_file(&tmp, &path).is_ok() {
            files.push(path);
        }
    }
    Ok(LoadOutcome {
        report: Some(report),
        dir,
        files,
    })
}

/// Worker `i` of `n`'s share of `total` (the first workers take the remainder).
fn share(total: usize, i: u32, n: u32) -> usize {
    let (i, n) = (i as usize, n.max(1) as usize);
    total / n + usize::from(i <= total % n)
}
