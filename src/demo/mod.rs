//! `cutover demo`: the whole job on one machine with nothing else installed.
//!
//! Starts the embedded reference system (monolith, a second monolith instance to learn
//! noise from, and the extracted Auth and AI services with a chosen set of migration bugs),
//! puts the mirroring proxy in front of it, drives a realistic workload through the proxy,
//! shuts everything down cleanly and writes the parity report. Both sides are checked
//! against the reference contracts (`DemoContracts`), so the report shows conformance next
//! to parity. It is one run of the same run builder the real commands use (`run::RunBuilder`, with the proxy plus the workload as
//! its source); it adds no comparison or gate logic of its own.

pub mod concurrent;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Config;
use crate::pipeline::{Analyzer, Delivery};
use crate::record::RecordingSink;
use crate::reference::{self, Divergence, ReferenceSystem};
use crate::report::{self, Report, Written};
use crate::run::{Exit, RunBuilder, Source, SourceContext, run_info};

pub use concurrent::ConcurrentOptions;
pub use workload::{WorkloadOptions, WorkloadStats};

/// The divergences a plain `cutover demo` switches on: the 403-vs-404 drift the migration
/// plan itself contains, a type change, a validation limit and a slow login.
pub const DEFAULT_DIVERGENCES: &[&str] = &[
    "non-admin-403",
    "id-as-string",
    "display-name-limit-64",
    "latency-200ms",
];

/// The allowlist the demo deploys (so the comma-split bug has a second admin to lose).
pub const DEMO_ALLOWLIST: &str = "admina;carol";

#[derive(Clone)]
pub struct DemoOptions {
    pub divergences: Vec<Divergence>,
    pub workload: WorkloadOptions,
    /// Report folder; default `reports/<run id>/`.
    pub out: Option<PathBuf>,
    /// Also start a second monolith instance and learn noise from it.
    pub secondary: bool,
    /// bcrypt cost in the reference services (the demo keeps it low: it is not a benchmark).
    pub bcrypt_cost: u32,
    /// AI requests per user per minute; the workload's admin runs into it after 6.
    pub ai_rate_limit: u32,
    /// Analyzers to run after parity (tests, future capabilities).
    pub analyzers: Vec<Arc<dyn Analyzer>>,
    /// Which contracts both sides are checked against.
    pub contracts: DemoContracts,
    /// A progress line on stderr while the workload runs, when stderr is a terminal.
    pub progress: bool,
    /// Learned per-target identity translation (`[translate]`, `auto`); `false` switches
    /// it off (`enabled = false`), to show what a run without it sees.
    pub translate: bool,
}

/// The contracts a demo checks against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DemoContracts {
    /// The reference system's own OpenAPI document (what `contracts/reference.openapi.json`
    /// ships, generated from the same operation table).
    #[default]
    Reference,
    /// A contracts directory.
    Dir(PathBuf),
    Off,
}

/// The name the embedded reference contract goes by in messages and schema paths.
pub const REFERENCE_CONTRACT: &str = "reference.openapi.json";

fn demo_contracts(
    which: &DemoContracts,
) -> Result<Option<Arc<crate::contract::Contracts>>, crate::contract::ContractError> {
    use crate::contract::Contracts;
    Ok(match which {
        DemoContracts::Off => None,
        DemoContracts::Dir(dir) => Some(Arc::new(Contracts::load(dir)?)),
        DemoContracts::Reference => Some(Arc::new(Contracts::from_document(
            std::path::Path::new(REFERENCE_CONTRACT),
            &reference::api::monolith_openapi(),
        )?)),
    })
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            divergences: reference::parse_divergences(
                &DEFAULT_DIVERGENCES
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default(),
            workload: WorkloadOptions::default(),
            out: None,
            secondary: true,
            bcrypt_cost: 4,
            ai_rate_limit: 6,
            analyzers: Vec::new(),
            contracts: DemoContracts::default(),
            progress: false,
            translate: true,
        }
    }
}

/// Everything a demo run produced.
#[derive(Debug)]
pub struct DemoOutcome {
    pub report: Report,
    pub written: Written,
    pub recording: PathBuf,
    pub workload: WorkloadStats,
    pub proxy: crate::proxy::ProxySummary,
    /// The gates' verdict as an exit status (0 pass, 1 a gate failed).
    pub exit: Exit,
}

/// Run the demo end to end.
pub async fn run(options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let id = report::run_id();
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&id));

    // The default-allowlist bug only shows when no allowlist is deployed.
    let allowlist = (!options
        .divergences
        .contains(&Divergence::AllowlistDefaultGuests))
    .then(|| DEMO_ALLOWLIST.to_string());
    let system = ReferenceSystem::start(reference::Options {
        secondary_port: options.secondary.then_some(0),
        divergences: options.divergences.clone(),
        admin_allowlist: allowlist,
        bcrypt_cost: options.bcrypt_cost,
        ai_rate_limit: options.ai_rate_limit,
        ..reference::Options::default()
    })
    .await
    .context("starting the reference system")?;

    let contracts = match demo_contracts(&options.contracts) {
        Ok(c) => c,
        Err(e) => {
            system.shutdown().await;
            return Err(anyhow::Error::new(e).context("loading the contracts"));
        }
    };
    let config =
        demo_config(&system, options.translate).context("building the demo configuration")?;
    let recording = out.join("recording.jsonl");
    let sink = RecordingSink::open(&recording, &config.file.recording)
        .with_context(|| format!("{}: cannot open the recording", recording.display()))?
        .with_header(crate::record::Header::for_config(&id, &config));
    let mut info = run_info(id, "demo");
    info.divergences = options
        .divergences
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    info.recordings = vec![recording.display().to_string()];
    let mut run = RunBuilder::new(Arc::new(config))
        .sink(Box::new(sink))
        .progress(options.progress)
        .report(out, info);
    if let Some(c) = contracts {
        run = run.contracts(c);
    }
    for a in &options.analyzers {
        run = run.analyzer(Arc::clone(a));
    }
    let outcome = run
        .run(DemoSource {
            system,
            workload: options.workload.clone(),
        })
        .await
        .map_err(|e| e.0)?;
    let Some((report, written)) = outcome.report else {
        anyhow::bail!("the demo run wrote no report");
    };
    let (workload, proxy) = outcome.source;
    Ok(DemoOutcome {
        report,
        written,
        recording,
        workload,
        proxy,
        exit: outcome.exit,
    })
}

/// The proxy in front of the reference system, driven by the workload.
struct DemoSource {
    system: ReferenceSystem,
    workload: WorkloadOptions,
}

impl Source for DemoSource {
    type Output = (WorkloadStats, crate::proxy::ProxySummary);

    fn delivery(&self) -> Delivery {
        Delivery::DropWhenFull
    }

    async fn run(self, ctx: SourceContext) -> anyhow::Result<Self::Output> {
        let proxy = match crate::proxy::start(ctx.config, ctx.out, ctx.aggregate, ctx.stats).await {
            Ok(p) => p,
            Err(e) => {
                self.system.shutdown().await;
                return Err(anyhow::Error::new(e).context("starting the proxy"));
            }
        };
        let in_flight = || proxy.shadows_in_flight();
        let base = format!("http://{}", proxy.listen);
        let mut workload = workload::run(&base, &self.workload, &in_flight).await;
        if self.workload.concurrent.clients > 0 {
            let more = concurrent::run(&base, &self.workload.concurrent, &in_flight).await;
            workload.requests += more.requests;
            workload.transport_errors += more.transport_errors;
            workload.errors.extend(more.errors);
        }
        let summary = proxy.shutdown().await;
        self.system.shutdown().await;
        if workload.transport_errors > 0 {
            anyhow::bail!(
                "the client saw {} transport errors through the proxy (first: {})",
                workload.transport_errors,
                workload.errors.join("; ")
            );
        }
        Ok((workload, summary))
    }
}

/// The configuration the demo runs with: the reference system's ports, ephemeral proxy
/// listeners, everything mirrored, a short shadow grace period, and learned identity
/// translation (`[translate]`, default `auto`) told where registered users are read.
fn demo_config(
    system: &ReferenceSystem,
    translate: bool,
) -> Result<Config, crate::config::ConfigError> {
    let secondary = system
        .secondary
        .map(|a| format!("monolith2 = {{ url = \"http://{a}\", role = \"secondary\" }}\n"))
        .unwrap_or_default();
    let translate = if translate {
        ""
    } else {
        "[translate]\nenabled = false\n"
    };
    let text = format!(
        r#"{translate}
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shutdown_grace_ms = {grace}

[targets]
monolith = {{ url = "http://{monolith}", role = "primary" }}
{secondary}auth = {{ url = "http://{auth}" }}
ai = {{ url = "http://{ai}" }}

[[routes]]
match = "/auth/**"
candidate = "auth"
mirror_writes = true

[[routes]]
match = "/ai/**"
candidate = "ai"
mirror_writes = true

# A registration creates the user read back at /auth/users/{{id}} (learned id translation:
# the Auth service may number users its own way, e.g. `--diverge auth-own-identity`).
[[translate.routes]]
match = "/auth/register"
collection = "users"
"#,
        grace = Duration::from_secs(5).as_millis(),
        monolith = system.monolith,
        auth = system.auth,
        ai = system.ai,
    );
    Config::parse(&text, "<demo configuration>")
}
