//! `cutover proxy`: run the mirroring proxy with a recording, until SIGINT/SIGTERM.
//!
//! Builds one run (`run::RunBuilder`: config → pipeline with the recording sink → the proxy
//! as its source, optionally a report) and prints the per-route summary at the end. No
//! proxy logic lives here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::{CliError, Status};
use crate::config::{Config, ProxyMode};
use crate::pipeline::PipelineOptions;
use crate::proxy;
use crate::record::RecordingSink;
use crate::redact::Redaction;
use crate::run::proxy::ProxySource;
use crate::run::{RunBuilder, Shutdown, run_info};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 after a clean shutdown (SIGINT/SIGTERM) — with --report, \
only when every gate passed; 1 with --report when a gate failed; 2 usage or input error (bad \
flags or config, port in use, recording not writable)."
)]
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
    /// At shutdown, write the report (report.json, summary.md, index.html, junit.xml)
    /// into DIR and exit 1 when a gate failed.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
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
    let shutdown = Shutdown::new();
    let mut run = RunBuilder::new(Arc::new(config))
        .configured_contracts()
        .map_err(CliError::usage)?
        .sink(Box::new(sink))
        .options(options)
        .shutdown(shutdown.clone());
    if let Some(dir) = args.report {
        let mut info = run_info(run_id.clone(), "proxy");
        info.recordings = vec![path.display().to_string()];
        run = run.report(dir, info);
    }
    let config = Arc::clone(run.config());
    let signal = tokio::spawn(async move {
        wait_for_signal().await;
        say("shutting down: finishing in-flight requests");
        shutdown.trigger();
    });
    let recording_path = path.clone();
    let source = ProxySource {
        origin: args.config.display().to_string(),
        on_listening: Some(Box::new(move |running: &proxy::RunningProxy| {
            say(&format!("listening http://{}", running.listen));
            if let Some(admin) = running.admin {
                say(&format!("admin     http://{admin}/metrics"));
            }
            say(&format!("recording {}", recording_path.display()));
        })),
    };
    let outcome = run.run(source).await;
    signal.abort();
    let outcome = outcome?;
    say(proxy::render_summary(&config, &outcome.source, &outcome.aggregate).trim_end());
    say(&format!(
        "recording: lines without bodies {}, old segments deleted {}",
        recorded.bodies_omitted.load(Ordering::Relaxed),
        recorded.deleted_segments.load(Ordering::Relaxed)
    ));
    if let Some((report, written)) = &outcome.report {
        super::report::print_verdict(report, written);
    }
    Ok(outcome.exit.into())
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
