//! `cutover report`: re-analyse recordings and write the parity report.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{CliError, Status};
use crate::pipeline::{Aggregate, analyzer_for};
use crate::record;
use crate::report::{self, Gate, Report, ReportContext, RunInfo};

#[derive(Debug, Args)]
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

pub async fn run(args: ReportArgs) -> Result<Status, CliError> {
    let recording =
        record::Recording::open(&args.from).map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let (config, notes) =
        record::resolve_config(&recording, args.config.as_deref()).map_err(CliError::usage)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let analyzer = analyzer_for(&config);
    let mut aggregate = Aggregate::for_config(&config);
    let stats = recording
        .read(|exchange, bodies_omitted| {
            let analysis = if bodies_omitted {
                // Recorded without bodies: not comparable, never a mismatch (and nothing is
                // learned from it). The analyzer still names its route.
                let mut bare = exchange.clone();
                bare.outcomes.candidate = None;
                bare.outcomes.secondary = None;
                analyzer.analyze(&bare)
            } else {
                analyzer.analyze(&exchange)
            };
            aggregate.add(&exchange, &analysis);
        })
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
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
    if stats.exchanges == 0 {
        return Err(CliError::usage(anyhow::anyhow!(
            "no exchanges in {} (record some with `cutover proxy --record FILE`)",
            args.from
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let id = report::run_id();
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("reports").join(&id));
    let run = RunInfo {
        id,
        generated_at: report::now(),
        source: "recording".into(),
        divergences: Vec::new(),
        recordings: args.from.iter().map(|p| p.display().to_string()).collect(),
    };
    let report = Report::build(
        &aggregate,
        &ReportContext {
            config: &config,
            run,
        },
    );
    let written = report::write_all(&report, &out)
        .context("writing the report")
        .map_err(CliError::usage)?;
    print_verdict(&report, &written);
    Ok(match report.verdict {
        Gate::Pass => Status::Ok,
        Gate::Fail => Status::GateFailed,
    })
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
    if let Some(o) = &report.totals.overflow {
        println!("warning: {}", o.sentence());
    }
    println!("report: {}", written.html.display());
}

/// A few words on why a route failed: its first differences, or the latency finding.
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
    if r.latency.finding.is_some() {
        parts.push(format!(
            "P95 {:.1} → {:.1} ms",
            r.latency.primary.p95_ms, r.latency.candidate.p95_ms
        ));
    }
    format!("  — {}", parts.join("; "))
}
