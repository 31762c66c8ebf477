//! `cutover demo`: reference system + proxy + workload + report, on this machine.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Status};
use crate::demo::{self, DemoOptions, WorkloadOptions};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: the demo is a demonstration, so by default it exits 0 \
whenever it ran, whatever the verdict (the report shows the failing gates); with --gate it \
exits 1 when a gate failed, as `cutover report` does. 2 usage error, or the demo could not \
run (port in use, transport errors through the proxy)."
)]
pub struct DemoArgs {
    /// Migration bugs to switch on in the extracted services, comma-separated
    /// (default: the demo's showcase set; see `cutover reference --list-divergences`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAME,...",
        conflicts_with = "no_divergences"
    )]
    pub diverge: Option<Vec<String>>,
    /// Run with every divergence switched off: the report must show 100 % parity.
    #[arg(long)]
    pub no_divergences: bool,
    /// Rounds of the workload (about 40 requests each).
    #[arg(long, default_value_t = 12)]
    pub rounds: usize,
    /// After the sequential workload, this many clients at once register, log in and write
    /// through the proxy (0 = none). Without per-target identity translation the stores
    /// may number the same users differently, and parity drops.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub clients: usize,
    /// Switch learned per-target identity translation off (`[translate] enabled = false`):
    /// shows what a run without it sees, e.g. with `--diverge auth-own-identity`.
    #[arg(long)]
    pub no_translate: bool,
    /// Report folder (default `reports/<run id>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not start a second monolith instance (noise is then learned from the primary's
    /// repeated identical requests, on top of the normalisers).
    #[arg(long)]
    pub no_secondary: bool,
    /// Seconds of the closing load stage (the built-in workload against a fresh reference
    /// system with the same divergences, decided PROCEED / ROLLBACK / INCONCLUSIVE); 0
    /// skips it.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub load_seconds: u64,
    /// Exit with status 1 when a gate fails (parity, latency, error rate), as `cutover
    /// report` does; without it the demo exits 0 whatever the verdict.
    #[arg(long)]
    pub gate: bool,
}

pub async fn run(args: DemoArgs) -> Result<Status, CliError> {
    let defaults = DemoOptions::default();
    let divergences = if args.no_divergences {
        Vec::new()
    } else if let Some(names) = &args.diverge {
        crate::reference::parse_divergences(names).map_err(CliError::usage)?
    } else {
        defaults.divergences.clone()
    };
    let names: Vec<&str> = divergences.iter().map(|d| d.name()).collect();
    println!(
        "cutover demo: reference system with divergences [{}], proxy, {} workload rounds{}",
        names.join(", "),
        args.rounds,
        if args.clients > 0 {
            format!(", then {} concurrent clients", args.clients)
        } else {
            String::new()
        }
    );
    let options = DemoOptions {
        divergences,
        workload: WorkloadOptions {
            rounds: args.rounds,
            concurrent: demo::ConcurrentOptions {
                clients: args.clients,
                ..demo::ConcurrentOptions::default()
            },
            ..WorkloadOptions::default()
        },
        out: args.out,
        secondary: !args.no_secondary,
        progress: true,
        translate: !args.no_translate,
        ..defaults
    };
    let load_divergences = options.divergences.clone();
    let outcome = demo::run(options).await.map_err(|error| CliError {
        status: Status::Usage,
        error,
    })?;
    println!(
        "sent {} requests through the proxy; {} exchanges mirrored and compared",
        outcome.workload.requests, outcome.report.totals.exchanges
    );
    super::report::print_verdict(&outcome.report, &outcome.written);
    println!("recording: {}", outcome.recording.display());
    let mut rolled_back = false;
    if args.load_seconds > 0 {
        let dir = outcome.written.dir.join("load");
        println!(
            "load stage: {} s of the built-in workload against monolith vs auth/ai side by side",
            args.load_seconds
        );
        let load = crate::load::run(crate::load::LoadOptions {
            divergences: load_divergences,
            duration: std::time::Duration::from_secs(args.load_seconds),
            out: Some(dir.clone()),
            progress: true,
            ..crate::load::LoadOptions::default()
        })
        .await
        .map_err(CliError::usage)?;
        if let Some(report) = &load.report {
            super::load::print_verdict(report);
            println!("load report: {}", dir.join("load.html").display());
            rolled_back = report.verdict == crate::pipeline::load_gates::Verdict::Rollback;
        }
    }
    Ok(if args.gate {
        match Status::from(outcome.exit) {
            Status::Ok if rolled_back => Status::GateFailed,
            s => s,
        }
    } else {
        Status::Ok
    })
}
