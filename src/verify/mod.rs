//! `cutover verify`: run the scenarios against a target — and, with `--against`, against a
//! second one with every step compared — as one run of the pipeline.
//!
//! Owns resolving `--target` / `--against` (a URL; a target of `--config`; or a part of the
//! embedded reference system: `monolith`, `auth`, `ai`, `services`, optionally written
//! `reference:NAME`, started here, one independent system per side so state never leaks
//! between sides), the run (a [`ScenarioSource`] with its assertion analyzer and step sink
//! on a [`RunBuilder`]) and the exit status. Rendering is in `output.rs`.
//!
//! Composition layer: it may start the reference system; the scenario module never does.

pub mod output;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::compare::Rules;
use crate::config::Config;
use crate::reference::{self, Divergence, ReferenceSystem};
use crate::run::{Exit, RunBuilder};
use crate::scenario::{
    self, ContractCheck, ContractVerdict, Deployment, Env, ScenarioResult, ScenarioSource,
};
use crate::upstream::Pools;

/// The parts of the embedded reference system a target may name.
pub const REFERENCE_PARTS: &[&str] = &["monolith", "auth", "ai", "services"];

/// The configuration a run without `--config` uses: the parity engine's defaults plus the
/// reference system's one jittery number (`latency_ms`, simulated model time).
const BUILT_IN: &str = r#"
[targets]
target = { url = "http://127.0.0.1:9", role = "primary" }

[compare]
tolerance = [{ path = "/latency_ms", abs = 1000.0 }]
"#;

/// How the embedded reference system is started when a target names a part of it.
#[derive(Debug, Clone)]
pub struct ReferenceSetup {
    /// Migration bugs switched on in the extracted services (`--diverge`).
    pub divergences: Vec<Divergence>,
    /// `ADMIN_ALLOWLIST` (`None`: unset, the default `admina`).
    pub admin_allowlist: Option<String>,
    pub ai_rate_limit: u32,
    pub bcrypt_cost: u32,
}

impl Default for ReferenceSetup {
    fn default() -> Self {
        ReferenceSetup {
            divergences: Vec::new(),
            admin_allowlist: Some(crate::demo::DEMO_ALLOWLIST.to_string()),
            ai_rate_limit: 5,
            bcrypt_cost: 4,
        }
    }
}

/// Everything `cutover verify` takes.
#[derive(Clone)]
pub struct VerifyOptions {
    pub scenarios: PathBuf,
    pub target: String,
    pub against: Option<String>,
    /// `cutover.toml` with targets, compare rules and redaction; `None`: built-in.
    pub config: Option<PathBuf>,
    pub reference: ReferenceSetup,
    /// Checks `expect.contract`; `None`: such assertions fail saying so.
    pub contracts: Option<Arc<dyn ContractCheck>>,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

/// The contracts module as the scenarios' `expect.contract` check.
impl ContractCheck for crate::contract::Contracts {
    fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> ContractVerdict {
        match self.check_response(method, path, status, content_type, body) {
            crate::contract::Check::Uncovered => ContractVerdict::Uncovered,
            crate::contract::Check::Conforms => ContractVerdict::Conforms,
            crate::contract::Check::Violations(list) => ContractVerdict::Violations(
                list.iter()
                    .map(|v| {
                        format!(
                            "{} at {}: {} (schema {})",
                            v.kind.as_str(),
                            if v.instance_path.is_empty() {
                                "/"
                            } else {
                                &v.instance_path
                            },
                            v.masked_message,
                            v.schema_path
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// Load the contracts of `dir` for `expect.contract` (an error names the file and place).
pub fn load_contracts(dir: &std::path::Path) -> anyhow::Result<Arc<dyn ContractCheck>> {
    let c = crate::contract::Contracts::load(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    Ok(Arc::new(c))
}

impl VerifyOptions {
    pub fn new(scenarios: impl Into<PathBuf>, target: &str) -> VerifyOptions {
        VerifyOptions {
            scenarios: scenarios.into(),
            target: target.to_string(),
            against: None,
            config: None,
            reference: ReferenceSetup::default(),
            contracts: None,
            timeout_ms: 30_000,
        }
    }
}

/// What a verify run found.
#[derive(Debug)]
pub struct VerifyOutcome {
    pub target: String,
    pub against: Option<String>,
    pub results: Vec<ScenarioResult>,
    /// The redaction rules outputs apply.
    pub redaction: crate::redact::Redaction,
    /// 0 every step passed, 1 a step failed.
    pub exit: Exit,
}

impl VerifyOutcome {
    pub fn passed(&self) -> bool {
        self.exit == Exit::Pass
    }
}

/// A target as resolved.
enum Spec {
    Url(String),
    Reference(&'static str),
}

fn resolve(name: &str, config: Option<&Config>) -> anyhow::Result<Spec> {
    if name.starts_with("http://") || name.starts_with("https://") {
        return Ok(Spec::Url(name.to_string()));
    }
    if let Some(part) = name.strip_prefix("reference:") {
        return reference_part(part)
            .map(Spec::Reference)
            .with_context(|| format!("`{name}`"));
    }
    if let Some(t) = config.and_then(|c| c.target(name)) {
        return Ok(Spec::Url(t.url.get_ref().clone()));
    }
    reference_part(name).map(Spec::Reference).with_context(|| {
        let configured = config
            .map(|c| c.file.targets.keys().cloned().collect::<Vec<_>>().join(", "))
            .filter(|s| !s.is_empty())
            .map(|s| format!("; configured targets: {s}"))
            .unwrap_or_default();
        format!("unknown target `{name}` (give a URL, a configured target or a part of the embedded reference system: {}){configured}", REFERENCE_PARTS.join(", "))
    })
}

fn reference_part(name: &str) -> anyhow::Result<&'static str> {
    REFERENCE_PARTS
        .iter()
        .copied()
        .find(|p| *p == name)
        .ok_or_else(|| anyhow::anyhow!("not a part of the reference system"))
}

/// The deployment a reference part stands for in a started system: the monolith serves
/// everything; `auth`/`ai`/`services` route `/auth/` and/or `/ai/` to the extracted services
/// and the rest to that system's monolith.
fn reference_deployment(
    name: &str,
    part: &str,
    system: &ReferenceSystem,
    timeout_ms: u64,
    pools: &mut Pools,
) -> Result<Deployment, String> {
    let url = |a: std::net::SocketAddr| format!("http://{a}");
    let monolith = url(system.monolith);
    let (auth, ai) = match part {
        "monolith" => (monolith.clone(), monolith.clone()),
        "auth" => (url(system.auth), monolith.clone()),
        "ai" => (monolith.clone(), url(system.ai)),
        _ => (url(system.auth), url(system.ai)),
    };
    Deployment::routed(
        name,
        &[("monolith", monolith), ("auth", auth), ("ai", ai)],
        &[("/auth/", "auth"), ("/ai/", "ai")],
        "monolith",
        timeout_ms,
        pools,
    )
}

/// An input or set-up problem (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

/// Load, resolve, run, and judge.
pub async fn run(opts: VerifyOptions) -> Result<VerifyOutcome, UsageError> {
    let scenarios =
        scenario::load_dir(&opts.scenarios).map_err(|e| UsageError(anyhow::Error::new(e)))?;
    let config = match &opts.config {
        Some(path) => Config::load(path).map_err(|e| UsageError(anyhow::Error::new(e)))?,
        None => Config::parse(BUILT_IN, "<built-in verify configuration>")
            .map_err(|e| UsageError(anyhow::Error::new(e)))?,
    };
    let user_config = opts.config.is_some().then_some(&config);
    let target = resolve(&opts.target, user_config).map_err(UsageError)?;
    let against = match &opts.against {
        Some(a) => Some(resolve(a, user_config).map_err(UsageError)?),
        None => None,
    };
    let mut systems = Vec::new();
    let result = async {
        let mut pools = Pools::new(1);
        let mut deps = Vec::new();
        for (name, spec) in std::iter::once((&opts.target, &target))
            .chain(opts.against.as_ref().zip(against.as_ref()))
        {
            let dep = match spec {
                Spec::Url(url) => Deployment::single(name, url, opts.timeout_ms, &mut pools)
                    .map_err(|e| anyhow::anyhow!("target `{name}`: {e}"))?,
                Spec::Reference(part) => {
                    let system = start_reference(&opts.reference).await?;
                    let dep =
                        reference_deployment(name, part, &system, opts.timeout_ms, &mut pools)
                            .map_err(|e| anyhow::anyhow!(e));
                    systems.push(system);
                    dep?
                }
            };
            deps.push(dep);
        }
        Ok::<_, anyhow::Error>(deps)
    }
    .await;
    let deps = match result {
        Ok(d) => d,
        Err(e) => {
            for s in systems {
                s.shutdown().await;
            }
            return Err(UsageError(e));
        }
    };
    let mut deps = deps.into_iter();
    let (Some(target_dep), against_dep) = (deps.next(), deps.next()) else {
        return Err(UsageError(anyhow::anyhow!("no target")));
    };
    let rules = Rules::compile(&config.file.compare)
        .map_err(|e| UsageError(anyhow::anyhow!("[compare]: {e}")))?;
    let redaction = crate::redact::Redaction::for_config(&config.file);
    let env = Env {
        redaction: redaction.clone(),
        rules: Arc::new(rules),
        contracts: opts.contracts.clone(),
    };
    let source = ScenarioSource::new(
        scenarios,
        target_dep,
        against_dep,
        env,
        crate::report::run_id(),
    );
    let (sink, differences) = ScenarioSource::sink();
    let outcome = RunBuilder::new(Arc::new(config))
        .analyzer(source.analyzer())
        .sink(sink)
        .run(source)
        .await;
    for s in systems {
        s.shutdown().await;
    }
    let outcome = outcome.map_err(|e| UsageError(e.0))?;
    let mut results = outcome.source;
    differences.fill(&mut results);
    let exit = if results.iter().all(ScenarioResult::passed) {
        Exit::Pass
    } else {
        Exit::GateFailed
    };
    Ok(VerifyOutcome {
        target: opts.target,
        against: opts.against,
        results,
        redaction,
        exit,
    })
}

async fn start_reference(setup: &ReferenceSetup) -> anyhow::Result<ReferenceSystem> {
    ReferenceSystem::start(reference::Options {
        divergences: setup.divergences.clone(),
        admin_allowlist: setup.admin_allowlist.clone(),
        ai_rate_limit: setup.ai_rate_limit,
        bcrypt_cost: setup.bcrypt_cost,
        ..reference::Options::default()
    })
    .await
    .context("starting the embedded reference system")
}
