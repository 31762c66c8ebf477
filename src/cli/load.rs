//! `cutover load`: the load stage (and `--merge` of worker parts) from the command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, Status};
use crate::config::Config;
use crate::load::{self, LoadOptions, LoadReport};
use crate::pipeline::load_gates::Verdict;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Targets, routes and `[triggers]`; without it, the embedded reference system is
    /// started and loaded.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Scenario files (YAML) to build the workload from; default: the built-in workload.
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Instead of the built-in workload, GET these paths (equal weights, no log-in).
    #[arg(long, num_args = 1.., value_name = "PATH", conflicts_with = "scenarios")]
    pub get: Vec<String>,
    /// Simulated users (each logs in once, then runs the weighted steps).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub users: usize,
    /// At most this many requests per second in all (both sides together).
    #[arg(long, value_name = "R")]
    pub rate: Option<usize>,
    /// How long to run: `30s`, `2m`, `1h` or seconds.
    #[arg(long, default_value = "10s", value_name = "D", value_parser = parse_duration)]
    pub duration: Duration,
    /// Only the steps whose path matches one of these globs (`/ai/**`).
    #[arg(long, num_args = 1.., value_name = "GLOB")]
    pub routes: Vec<String>,
    /// Run as worker i of N: write a partial result (`load-part-i-of-N.json`) for
    /// `cutover load --merge`; users and rate are divided among the workers.
    #[arg(long, value_name = "i/N", value_parser = parse_worker)]
    pub worker: Option<(u32, u32)>,
    /// A/A run: the primary against itself; reports how often each trigger fires on noise.
    #[arg(long)]
    pub calibrate: bool,
    /// Embedded reference system only: migration bugs to switch on, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAME,...",
        conflicts_with = "config"
    )]
    pub diverge: Vec<String>,
    /// Report folder (default `reports/<run id>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also send the baseline's requests through an in-process cutover proxy (candidate
    /// mirrored): writes a parity report to `<out>/parity/` beside the load report. The
    /// latency verdict stays the direct side-by-side comparison's.
    #[arg(long)]
    pub through_proxy: bool,
    /// Do not write Goose's own HTML report (`goose.html`).
    #[arg(long)]
    pub no_goose_report: bool,
    /// Merge partial results of `--worker i/N` runs into one verdict instead of running.
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with_all = ["config", "scenarios", "worker", "calibrate", "diverge"])]
    pub merge: Vec<PathBuf>,
}

/// `30s`, `2m`, `1h`, `500ms` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration such as 30s, 2m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=7.0 * 86_400.0).contains(&secs) {
        return Err(format!("`{text}`: out of range (0 to 7 days)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `i/N`.
pub fn parse_worker(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{text}`: expected i/N such as 1/4");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("`{text}`: need 1 ≤ i ≤ N"));
    }
    Ok((i, n))
}

pub async fn run(args: LoadArgs) -> Result<Status, CliError> {
    if !args.merge.is_empty() {
        let outcome = load::merge_files(&args.merge, args.out).map_err(CliError::usage)?;
        return Ok(print(outcome.report.as_ref(), &outcome.dir));
    }
    let scenarios = match &args.scenarios {
        Some(dir) => {
            crate::scenario::load_dir(dir).map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?
        }
        None => Vec::new(),
    };
    let config = args
        .config
        .as_deref()
        .map(Config::load)
        .transpose()
        .map_err(CliError::usage)?;
    let divergences =
        crate::reference::parse_divergences(&args.diverge).map_err(CliError::usage)?;
    let options = LoadOptions {
        config,
        divergences,
        workload: (!args.get.is_empty()).then(|| load::workload::get_paths(&args.get)),
        scenarios,
        users: args.users,
        rate: args.rate,
        duration: args.duration,
        routes: args.routes,
        worker: args.worker,
        calibrate: args.calibrate,
        out: args.out,
        goose_report: !args.no_goose_report,
        through_proxy: args.through_proxy,
        progress: true,
        ..LoadOptions::default()
    };
    let outcome = load::run(options).await.map_err(CliError::usage)?;
    Ok(print(outcome.report.as_ref(), &outcome.dir))
}

/// Print the verdict (or where the part went) and turn it into the exit status.
fn print(report: Option<&LoadReport>, dir: &std::path::Path) -> Status {
    let Some(r) = report else {
        println!("partial result written to {}", dir.display());
        return Status::Ok;
    };
    print_verdict(r);
    println!("report: {}", dir.join("load.html").display());
    let parity = dir.join("parity").join("summary.md");
    if parity.is_file() {
        println!("parity report (through the proxy): {}", parity.display());
    }
    match r.verdict {
        Verdict::Proceed => Status::Ok,
        Verdict::Rollback => Status::GateFailed,
        Verdict::Inconclusive => Status::Inconclusive,
    }
}

/// The verdict with its numbers, on stdout.
pub fn print_verdict(r: &LoadReport) {
    println!(
        "load stage: {} ({} routes, {:.1} s, {} users{})",
        r.verdict.as_str(),
        r.routes.len(),
        r.duration_s,
        r.users,
        if r.calibrate { ", A/A calibration" } else { "" }
    );
    for route in &r.routes {
        println!(
            "  {:<12} {:<22} {} p95 {:.1} ms vs {} {:.1} ms; errors {:.2}% vs {:.2}% ({} vs {} requests)",
            route.verdict.as_str(),
            route.route,
            route.candidate.target,
            route.candidate.p95_ms,
            route.baseline.target,
            route.baseline.p95_ms,
            route.candidate.error_pct,
            route.baseline.error_pct,
            route.candidate.requests,
            route.baseline.requests
        );
    }
    for reason in r.reasons.iter().take(12) {
        println!("  - {reason}");
    }
    for c in &r.calibration {
        println!(
            "  A/A {}: fired on {} of {} routes ({:.1}%), inconclusive on {}",
            c.trigger.as_str(),
            c.fired,
            c.routes,
            c.false_alarm_pct,
            c.inconclusive
        );
    }
}
