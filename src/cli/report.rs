//! `cutover report`: re-analyse recordings and write the parity report.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{CliError, Status};
use crate::pipeline::gates::GateKind;
use crate::record;
use crate::report::{self, Gate, Report};
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

/// One line per route and where the files are.
pub fn print_verdict(report: &Report, written: &report::Written) {
    for r in &report.routes {
        println!(
            "{:<4} {:<36} {:>6} compared  {:>6.1}% parity{}",
            match r.gate {
                Gate::Pass => "ok",
                Gate::Fail => "FAIL",
            },
            r.route,
            r.compared,
            r.parity * 100.0,
            failure_hint(r)
        );
        if let Some(c) = &r.contracts {
            use crate::report::contracts::phrase;
            let violations: Vec<String> = c
                .violations
                .iter()
                .take(3)
                .map(|v| {
                    let at = if v.instance_path.is_empty() {
                        "/"
                    } else {
                        &v.instance_path
                    };
                    format!("{} {} at {at}", v.side.as_str(), v.kind.as_str())
                })
                .collect();
            println!(
                "     contract: {}; primary {}, candidate {}{}",
                c.coverage(),
                phrase(&c.primary),
                phrase(&c.candidate),
                if violations.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", violations.join(", "))
                }
            );
        }
    }
    println!(
        "verdict: {} — {:.2}% parity over {} compared exchanges, {} of {} routes failing",
        match report.verdict {
            Gate::Pass => "PASS",
            Gate::Fail => "FAIL",
        },
        report.totals.parity * 100.0,
        report.totals.compared,
        report.totals.routes_failing,
        report.routes.len()
    );
    if let Some(c) = &report.totals.contracts {
        use crate::report::contracts::phrase;
        println!(
            "contracts: primary {}, candidate {}, requests {}; {} routes covered, {} uncovered",
            phrase(&c.primary),
            phrase(&c.candidate),
            phrase(&c.request),
            c.routes_covered,
            c.routes_uncovered
        );
    }
    if let Some(o) = &report.totals.overflow {
        println!("warning: {}", o.sentence());
    }
    println!("report: {}", written.html.display());
}

/// A few words on why a route failed: its first differences, then every fired trigger.
fn failure_hint(r: &crate::report::model::RouteReport) -> String {
    if r.failures.is_empty() {
        return String::new();
    }
    let diffs: Vec<String> = r
        .differences
        .iter()
        .take(3)
        .map(|d| {
            format!(
                "{} {}",
                crate::report::markdown::display_path(&d.path),
                d.kind.as_str()
            )
        })
        .collect();
    let mut parts = Vec::new();
    if !diffs.is_empty() {
        parts.push(diffs.join(", "));
    }
    for g in r.gates.iter().filter(|g| g.fired) {
        match g.gate {
            GateKind::LatencyP95 | GateKind::LatencyIncrease => parts.push(format!(
                "P95 {:.1} → {:.1} ms",
                r.latency.primary.p95_ms, r.latency.candidate.p95_ms
            )),
            GateKind::ErrorRate => parts.push(format!(
                "errors {:.1}% (primary {:.1}%, limit {:.1}%)",
                g.value,
                g.primary.unwrap_or(0.0),
                g.limit
            )),
            GateKind::Contract => parts.push(format!("{} contract violations", g.value)),
            GateKind::Parity => {}
        }
    }
    parts.dedup();
    format!("  — {}", parts.join("; "))
}
