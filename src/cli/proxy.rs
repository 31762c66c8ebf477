//! `cutover proxy`: run the mirroring proxy with a recording, until SIGINT/SIGTERM.
//!
//! Wires the library together (config → pipeline with the recording sink → proxy) and
//! prints the per-route summary at the end. No proxy logic lives here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::{CliError, Status};
use crate::config::{Config, ProxyMode};
use crate::pipeline::{Aggregate, Pipeline, PipelineOptions, analyzer_for};
use crate::proxy;
use crate::record::RecordingSink;
use crate::redact::Redaction;

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Configuration file.
    #[arg(long, default_value = "cutover.toml")]
    pub config: PathBuf,
    /// Recording file (JSON Lines); default `[recording] path` or
    /// `reports/recording-<run id>.jsonl`.
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
    let run_id = crate::record::run_id();
    let path = args
        .record
        .or_else(|| recording.path.clone())
        .unwrap_or_else(|| RecordingSink::default_path_for(&run_id));
    let redaction = Redaction::for_config(&config.file);
    let sink = RecordingSink::open(&path, recording)
        .with_context(|| format!("cannot open the recording {}", path.display()))
        .map_err(CliError::usage)?
        .with_redaction(redaction)
        .with_header(crate::record::Header::for_config(&run_id, &config));
    let recorded = sink.counters();
    let options = PipelineOptions {
        tick: Duration::from_millis(recording.fsync_interval_ms.max(1)),
        max_queued_bytes: config.file.proxy.max_shadow_memory_bytes,
        ..PipelineOptions::default()
    };
    let config = Arc::new(config);
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate::for_config(&config),
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
    // Name the file the key is in; the error itself names the key.
    .map_err(|e| CliError::usage(anyhow::anyhow!("{}: {e}", args.config.display())))?;
    say(&format!("listening http://{}", running.listen));
    if let Some(admin) = running.admin {
        say(&format!("admin     http://{admin}/metrics"));
    }
    say(&format!("recording {}", path.display()));
    wait_for_signal().await;
    say("shutting down: finishing in-flight requests");
    let summary = running.shutdown().await;
    let aggregate = pipeline.finish().await;
    say(proxy::render_summary(&config, &summary, &aggregate).trim_end());
    say(&format!(
        "recording: lines without bodies {}, old segments deleted {}",
        recorded.bodies_omitted.load(Ordering::Relaxed),
        recorded.deleted_segments.load(Ordering::Relaxed)
    ));
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
