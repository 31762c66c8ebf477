//! `cutover proxy`: run the mirroring proxy with a recording, until SIGINT/SIGTERM.
//!
//! Wires the library together (config → pipeline with the recording sink → proxy) and
//! prints the per-route summary at the end. No proxy logic lives here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::{CliError, Status};
use crate::config::{Config, ProxyMode};
use crate::pipeline::PipelineStats;
use crate::pipeline::aggregate::RouteStats;
use crate::pipeline::{Aggregate, Pipeline, PipelineOptions, analyzer_for};
use crate::proxy::{self, ProxySummary};
use crate::record::{RecordingCounters, RecordingSink};

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Configuration file.
    #[arg(long, default_value = "cutover.toml")]
    pub config: PathBuf,
    /// Recording file (JSON Lines); default `[recording] path` or
    /// `reports/recording-<UTC timestamp>.jsonl`.
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,
    /// `inline`: answer clients with the primary's response. `mirror-target`: receive
    /// copies from NGINX `mirror` / Istio, answer 204 and fan out to every target.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Inline,
    MirrorTarget,
}

pub async fn run(args: ProxyArgs) -> Result<Status, CliError> {
    let mut config = Config::load(&args.config).map_err(CliError::usage)?;
    if let Some(mode) = args.mode {
        config.file.proxy.mode = match mode {
            ModeArg::Inline => ProxyMode::Inline,
            ModeArg::MirrorTarget => ProxyMode::MirrorTarget,
        };
    }
    let recording = &config.file.recording;
    let path = args
        .record
        .or_else(|| recording.path.clone())
        .unwrap_or_else(|| RecordingSink::default_path(chrono::Utc::now()));
    let sink = RecordingSink::open(&path, recording)
        .with_context(|| format!("cannot open the recording {}", path.display()))
        .map_err(CliError::usage)?;
    let recorded = sink.counters();
    let options = PipelineOptions {
        tick: Duration::from_millis(recording.fsync_interval_ms.max(1)),
        max_queued_bytes: config.file.proxy.max_shadow_memory_bytes,
        ..PipelineOptions::default()
    };
    let config = Arc::new(config);
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate::default(),
        vec![Box::new(sink)],
        options,
    )
    .context("cannot start the analysis pipeline")
    .map_err(CliError::usage)?;
    let running = proxy::start(
        Arc::clone(&config),
        handle,
        pipeline.aggregate(),
        pipeline.stats(),
    )
    .await
    .map_err(CliError::usage)?;
    say(&format!("listening http://{}", running.listen));
    if let Some(admin) = running.admin {
        say(&format!("admin     http://{admin}/metrics"));
    }
    say(&format!("recording {}", path.display()));
    wait_for_signal().await;
    eprintln!("shutting down: finishing in-flight requests");
    let summary = running.shutdown().await;
    let stats = pipeline.stats();
    let aggregate = pipeline.finish().await;
    say(render_summary(&config, &summary, &aggregate).trim_end());
    say(render_bodies_summary(&summary, &stats, &recorded).trim_end());
    Ok(Status::Ok)
}

/// Print a line to stdout; a closed stdout must not stop the proxy.
fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Drops and deletions caused by large bodies: memory budget, queue bytes, retention.
fn render_bodies_summary(
    summary: &ProxySummary,
    stats: &PipelineStats,
    recorded: &RecordingCounters,
) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    format!(
        "shadow memory: peak {} bytes; exchanges dropped: shadow_memory={}, analysis_queue_bytes={}\n\
         recording: lines without bodies {}, old segments deleted {}\n",
        summary.peak_shadow_memory_bytes,
        summary.dropped_shadow_memory,
        stats.dropped_queue_bytes.load(Relaxed),
        recorded.bodies_omitted.load(Relaxed),
        recorded.deleted_segments.load(Relaxed),
    )
}

/// The end-of-run table: per route, mirrored / matched / mismatched / dropped / candidate errors.
fn render_summary(config: &Config, summary: &ProxySummary, aggregate: &Aggregate) -> String {
    use std::fmt::Write as _;
    // The aggregate is keyed by `METHOD /path`; fold it onto the configured routes.
    let mut per_route: Vec<RouteStats> = vec![RouteStats::default(); summary.routes.len()];
    for (key, stats) in &aggregate.routes {
        let path = key.split_once(' ').map_or(key.as_str(), |(_, p)| p);
        let i = config
            .routes
            .iter()
            .position(|r| r.matches(path))
            .unwrap_or(summary.routes.len().saturating_sub(1));
        if let Some(slot) = per_route.get_mut(i) {
            slot.matched += stats.matched;
            slot.mismatched += stats.mismatched;
            slot.candidate_errors += stats.candidate_errors;
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>8} {:>10} {:>8} {:>10}",
        "route", "requests", "mirrored", "matched", "mismatched", "dropped", "cand.errors"
    );
    for (r, stats) in summary.routes.iter().zip(&per_route) {
        if r.requests == 0 && r.mirrored == 0 {
            continue;
        }
        let dropped: u64 = r.not_mirrored.values().sum();
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>8} {:>10} {:>8} {:>10}",
            r.route,
            r.requests,
            r.mirrored,
            stats.matched,
            stats.mismatched,
            dropped,
            stats.candidate_errors
        );
        if !r.not_mirrored.is_empty() {
            let reasons: Vec<String> = r
                .not_mirrored
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "{:<24} not mirrored: {}", "", reasons.join(", "));
        }
    }
    if summary.primary_errors > 0 {
        let _ = writeln!(out, "primary transport errors: {}", summary.primary_errors);
    }
    if summary.unfinished_shadows > 0 || summary.late_exchanges > 0 {
        let _ = writeln!(
            out,
            "shadows unfinished at shutdown: {} (exchanges not analysed: {})",
            summary.unfinished_shadows, summary.late_exchanges
        );
    }
    out
}
