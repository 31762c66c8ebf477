//! One run, built once: `Source → pipeline (grouping, analyzers, aggregate, sinks) →
//! report → gates → exit status`. `cutover proxy`, `cutover report` and `cutover demo` are
//! each a [`Source`] handed to a [`RunBuilder`]; later commands (scenarios, load, replay,
//! fuzz) plug in the same way, with their own analyzers if they need them.
//!
//! A source gets a [`SourceContext`] — the queue to produce into (`out`), a [`Shutdown`] to
//! stop on, and the live aggregate and counters for sources that serve them (the proxy's
//! `/metrics`) — and returns its own summary. Live sources (the proxy) drop and count when
//! the queue is full; offline sources ([`Delivery::Wait`]) wait and lose nothing.
//!
//! This module owns the wiring and the exit status; it never compares, renders or serves.

pub mod progress;
pub mod proxy;
pub mod sources;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::config::Config;
use crate::pipeline::{
    Aggregate, Analyzer, Analyzers, Delivery, Pipeline, PipelineHandle, PipelineOptions,
    PipelineStats, Sink,
};
use crate::report::{self, Gate, Report, ReportContext, RunInfo, Written};

pub use sources::{ExchangeList, RecordingSource, RecordingSummary};

/// The exit status of every command: 0 pass, 1 a gate failed, 2 usage or input error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Pass = 0,
    GateFailed = 1,
    Usage = 2,
}

/// A run that could not go on (bad input, a source that failed to start): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct RunError(pub anyhow::Error);

impl RunError {
    pub fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// A stop signal shared by whoever decides a run is over (SIGINT, a test) and the source.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            tx: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Ask the source to stop (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once [`Shutdown::trigger`] was called.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// What a source gets to work with.
pub struct SourceContext {
    /// The queue into the pipeline, delivering as the source's [`Source::delivery`] says.
    pub out: PipelineHandle,
    /// Stop producing when this triggers.
    pub shutdown: Shutdown,
    pub config: Arc<Config>,
    /// The live aggregate and pipeline counters (for `/metrics`, progress output).
    pub aggregate: Arc<Mutex<Aggregate>>,
    pub stats: Arc<PipelineStats>,
}

/// Something that produces exchanges into a pipeline until it is done or stopped.
pub trait Source: Send {
    /// The source's own summary (the proxy's drops, a recording's skipped lines).
    type Output: Send;
    /// `DropWhenFull` for live traffic, `Wait` for offline input that must lose nothing.
    fn delivery(&self) -> Delivery;
    /// Produce exchanges into `ctx.out`; drop every clone of it before returning. An error
    /// ends the run without a report (exit 2).
    fn run(self, ctx: SourceContext) -> impl Future<Output = anyhow::Result<Self::Output>> + Send;
}

/// Where and how the report is written.
#[derive(Debug, Clone)]
struct ReportSpec {
    dir: PathBuf,
    run: RunInfo,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunOutcome<T> {
    /// The source's summary.
    pub source: T,
    pub aggregate: Aggregate,
    /// The report and its files, when the run writes one.
    pub report: Option<(Report, Written)>,
    pub exit: Exit,
    /// Exchanges analysed, and dropped because the queue was full (by count, by bytes).
    pub analysed: u64,
    pub dropped: u64,
}

/// Wires configuration, analyzers, aggregate, sinks, report and gates around one source.
pub struct RunBuilder {
    config: Arc<Config>,
    analyzers: Analyzers,
    sinks: Vec<Box<dyn Sink>>,
    options: PipelineOptions,
    report: Option<ReportSpec>,
    shutdown: Shutdown,
    progress: bool,
}

impl RunBuilder {
    /// A run over `config`: its grouping, the parity analyzer, no sink, no report.
    pub fn new(config: Arc<Config>) -> RunBuilder {
        RunBuilder {
            analyzers: Analyzers::for_config(&config),
            config,
            sinks: Vec::new(),
            options: PipelineOptions::default(),
            report: None,
            shutdown: Shutdown::new(),
            progress: false,
        }
    }

    /// Register one more analyzer (after parity).
    pub fn analyzer(mut self, analyzer: Arc<dyn Analyzer>) -> RunBuilder {
        self.analyzers = self.analyzers.with(analyzer);
        self
    }

    /// Check every exchange against `contracts` (after parity), and group routes by their
    /// path templates first (then the `[grouping] templates`).
    pub fn contracts(mut self, contracts: Arc<crate::contract::Contracts>) -> RunBuilder {
        let mut templates = contracts.templates();
        templates.extend(self.config.file.grouping.template_pairs());
        let redaction = crate::redact::Redaction::for_config(&self.config.file);
        let analyzer = crate::pipeline::contracts::ContractAnalyzer::new(contracts, redaction);
        self.analyzers = self
            .analyzers
            .with_templates(templates)
            .with(Arc::new(analyzer));
        self
    }

    /// [`RunBuilder::contracts`] with what `[contracts]` names, when present; an error
    /// (exit 2) names the contract file and the location.
    pub fn configured_contracts(self) -> Result<RunBuilder, crate::contract::ContractError> {
        match crate::pipeline::contracts::load_configured(&self.config)? {
            Some(c) => Ok(self.contracts(c)),
            None => Ok(self),
        }
    }

    /// Replace the analysis stage (grouping and analyzers) altogether.
    pub fn analyzers(mut self, analyzers: Analyzers) -> RunBuilder {
        self.analyzers = analyzers;
        self
    }

    pub fn sink(mut self, sink: Box<dyn Sink>) -> RunBuilder {
        self.sinks.push(sink);
        self
    }

    pub fn options(mut self, options: PipelineOptions) -> RunBuilder {
        self.options = options;
        self
    }

    /// Write the four report files into `dir` when the source is done, and take the exit
    /// status from the gates.
    pub fn report(mut self, dir: PathBuf, run: RunInfo) -> RunBuilder {
        self.report = Some(ReportSpec { dir, run });
        self
    }

    /// The stop signal handed to the source (trigger it from a signal handler or a test).
    pub fn shutdown(mut self, shutdown: Shutdown) -> RunBuilder {
        self.shutdown = shutdown;
        self
    }

    /// Show a progress line on stderr while the run lasts, when stderr is a terminal
    /// ([`progress::ProgressSink`]); nothing otherwise.
    pub fn progress(mut self, on: bool) -> RunBuilder {
        self.progress = on;
        self
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Start the pipeline, run the source to its end, drain the pipeline, then write the
    /// report and evaluate the gates.
    pub async fn run<S: Source>(self, source: S) -> Result<RunOutcome<S::Output>, RunError> {
        let started = std::time::Instant::now();
        let mut sinks = self.sinks;
        if self.progress
            && let Some(line) = progress::ProgressSink::for_stderr()
        {
            // First: the last sink is handed the exchange itself (the recording redacts it).
            sinks.insert(0, Box::new(line));
        }
        let (pipeline, handle) = Pipeline::start(
            Arc::new(self.analyzers),
            Aggregate::for_config(&self.config),
            sinks,
            self.options,
        )
        .context("cannot start the analysis pipeline")
        .map_err(RunError)?;
        let stats = pipeline.stats();
        let ctx = SourceContext {
            out: handle.with_delivery(source.delivery()),
            shutdown: self.shutdown,
            config: Arc::clone(&self.config),
            aggregate: pipeline.aggregate(),
            stats: Arc::clone(&stats),
        };
        drop(handle);
        let produced = source.run(ctx).await;
        // Drain whatever was queued (the sinks finish) even when the source failed.
        let aggregate = pipeline.finish().await;
        let output = produced.map_err(RunError)?;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let analysed = load(&stats.analysed);
        let dropped = load(&stats.dropped_queue_full) + load(&stats.dropped_queue_bytes);
        let (report, exit) = match self.report {
            None => (None, Exit::Pass),
            Some(mut spec) => {
                spec.run.duration_ms =
                    Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                let report = Report::build(
                    &aggregate,
                    &ReportContext {
                        config: &self.config,
                        run: spec.run,
                    },
                );
                let written = report::write_all(&report, &spec.dir)
                    .context("writing the report")
                    .map_err(RunError)?;
                let exit = match report.verdict {
                    Gate::Pass => Exit::Pass,
                    Gate::Fail => Exit::GateFailed,
                };
                (Some((report, written)), exit)
            }
        };
        Ok(RunOutcome {
            source: output,
            aggregate,
            report,
            exit,
            analysed,
            dropped,
        })
    }
}

/// A [`RunInfo`] for a run that starts now.
pub fn run_info(id: String, source: &str) -> RunInfo {
    RunInfo {
        id,
        generated_at: report::now(),
        source: source.to_string(),
        ..RunInfo::default()
    }
}
