//! `cutover report`: re-analyse recordings and write the parity report.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{CliError, Status};
use crate::record;
use crate::report::{self, Report};
use crate::run::{Exit, RecordingSource, RunBuilder, RunError, run_info};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every gate passed; 1 a gate failed (parity, latency or \
error rate on any route); 2 usage or input error (bad flags, unreadable config or recording, \
no exchanges)."
)]
pub struct ReportArgs {
    /// Recording files (JSON Lines of exchanges) to analyse, in order.
    #[arg(long = "from", value_name = "RECORDING", required = true, num_args = 1..)]
    pub from: Vec<PathBuf>,
    /// Output folder; default `reports/<run id>/`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Configuration with the routes, compare rules and thresholds. Default: the one the
    /// recording carries in its header (older recordings without one: `cutover.toml`).
    /// When given, it overrides the recording's (a different digest is noted).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl From<Exit> for Status {
    fn from(e: Exit) -> Status {
        match e {
            Exit::Pass => Status::Ok,
            Exit::GateFailed => Status::GateFailed,
            Exit::Usage => Status::Usage,
        }
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> CliError {
        CliError {
            status: e.exit().into(),
            error: e.0,
        }
    }
}

pub async fn run(args: ReportArgs) -> Result<Status, CliError> {
    let recording =
        record::Recording::open(&args.from).map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let (config, notes) =
        record::resolve_config(&recording, args.config.as_deref()).map_err(CliError::usage)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let id = report::run_id();
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("reports").join(&id));
    let mut info = run_info(id, "recording");
    info.recordings = args.from.iter().map(|p| p.display().to_string()).collect();
    // The recording's own configuration (its header) builds the run unless --config
    // overrides it.
    let outcome = RunBuilder::new(Arc::new(config))
        .configured_contracts()
        .map_err(CliError::usage)?
        .progress(true)
        .report(out, info)
        .run(RecordingSource { recording })
        .await?;
    let stats = &outcome.source;
    for bad in &stats.bad_lines {
        eprintln!("warning: skipped unparsable line {bad}");
    }
    if stats.bad_line_count > stats.bad_lines.len() as u64 {
        eprintln!(
            "warning: {} more unparsable lines skipped",
            stats.bad_line_count - stats.bad_lines.len() as u64
        );
    }
    if stats.other_configs > 0 {
        eprintln!(
            "note: {} later runs in the recording were made with a different configuration; \
             all are analysed with the first's",
            stats.other_configs
        );
    }
    if stats.bodies_omitted > 0 {
        eprintln!(
            "note: {} recorded lines carry no bodies ([recording] bodies); counted as not compared",
            stats.bodies_omitted
        );
    }
    if let Some((report, written)) = &outcome.report {
        print_verdict(report, written);
    }
    Ok(outcome.exit.into())
}

/// One line per route (worst first, each failing one with what leads it), the verdict,
/// and where the files are ([`crate::report::terminal`]).
pub fn print_verdict(report: &Report, written: &report::Written) {
    print!("{}", report::terminal::render(report, &written.html));
}
