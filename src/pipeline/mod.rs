//! The analysis pipeline: `Exchange → analyzer → aggregate → sinks`.
//!
//! Sources hand exchanges to a [`PipelineHandle`] without ever waiting: the queue is bounded
//! by count (`capacity`) and by the bytes of the bodies it holds (`max_queued_bytes`); a full
//! queue drops the exchange and counts it, by reason. One dedicated thread drains the queue,
//! runs the [`Analyzer`], updates the shared [`Aggregate`] and passes each exchange with its
//! [`Analysis`] to the [`Sink`]s (recording, ...). Sinks get a periodic `tick` so they can
//! flush on time even when traffic stops. This module knows nothing of HTTP servers.

pub mod aggregate;
pub mod latency;
pub mod parity;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use aggregate::Aggregate;

use crate::compare::Difference;
use crate::exchange::Exchange;

/// What an analyzer concluded about one exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Route template the exchange belongs to (`GET /auth/users/{id}`).
    pub route: String,
    pub verdict: Verdict,
    /// Differences between primary and candidate that count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// Differences between primary and candidate classified as noise, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
    /// Differences between primary and secondary (what two identical deployments disagree on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise: Vec<Difference>,
}

impl Analysis {
    /// An exchange with no candidate outcome to compare.
    pub fn not_compared(route: String) -> Analysis {
        Analysis {
            route,
            verdict: Verdict::NotCompared,
            differences: Vec::new(),
            suppressed: Vec::new(),
            noise: Vec::new(),
        }
    }

    /// A compared exchange; the verdict follows from whether any difference counts.
    pub fn compared(
        route: String,
        differences: Vec<Difference>,
        suppressed: Vec<Suppressed>,
        noise: Vec<Difference>,
    ) -> Analysis {
        let verdict = if differences.is_empty() {
            Verdict::Match
        } else {
            Verdict::Mismatch
        };
        Analysis {
            route,
            verdict,
            differences,
            suppressed,
            noise,
        }
    }
}

/// A difference that is not counted, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    pub difference: Difference,
    pub reason: String,
    /// Suppressed by learned noise (counts so far), not by a rule or normaliser: the report
    /// decides again over the final counts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The candidate answered like the primary (modulo noise).
    Match,
    /// At least one difference counts.
    Mismatch,
    /// No candidate outcome to compare (not mirrored, or dropped), or no primary answer to
    /// compare it with (the client went away first).
    NotCompared,
}

/// Turns an exchange into an analysis. Implementations are pure and may keep learned state
/// (noise counts, route templates) behind interior mutability.
pub trait Analyzer: Send + Sync {
    fn analyze(&self, exchange: &Exchange) -> Analysis;
}

/// Consumes analysed exchanges. Called from the pipeline thread, never from a request path.
pub trait Sink: Send {
    fn accept(&mut self, exchange: &Exchange, analysis: &Analysis);
    /// Called at least every tick interval, also when no exchange arrived.
    fn tick(&mut self) {}
    /// Called once when the pipeline stops; flush everything.
    fn finish(&mut self) {}
}

/// The minimal analyzer: status codes, transport failures and exact JSON equality.
#[derive(Debug, Default)]
pub struct ExactAnalyzer;

impl Analyzer for ExactAnalyzer {
    fn analyze(&self, exchange: &Exchange) -> Analysis {
        let route = exchange.route.clone();
        let Some(candidate) = &exchange.outcomes.candidate else {
            return Analysis::not_compared(route);
        };
        if exchange.client_aborted() {
            return Analysis::not_compared(route);
        }
        let differences = crate::compare::exact(&exchange.outcomes.primary, candidate);
        let noise = exchange
            .outcomes
            .secondary
            .as_ref()
            .map(|s| crate::compare::exact(&exchange.outcomes.primary, s))
            .unwrap_or_default();
        Analysis::compared(route, differences, Vec::new(), noise)
    }
}

/// Counters shared between the pipeline and its handles.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Exchanges submitted and queued.
    pub queued: AtomicU64,
    /// Exchanges dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Exchanges dropped because the bodies already queued reached `max_queued_bytes`.
    pub dropped_queue_bytes: AtomicU64,
    /// Body bytes of the exchanges waiting in the queue now.
    pub queued_bytes: AtomicU64,
    /// Exchanges analysed.
    pub analysed: AtomicU64,
}

/// Cheap, cloneable, non-blocking entrance to the pipeline.
#[derive(Clone)]
pub struct PipelineHandle {
    tx: SyncSender<Exchange>,
    stats: Arc<PipelineStats>,
    max_queued_bytes: u64,
}

/// Body bytes an exchange carries (request and every outcome).
pub fn body_bytes(exchange: &Exchange) -> u64 {
    let o = &exchange.outcomes;
    let outcomes: u64 = [Some(&o.primary), o.secondary.as_ref(), o.candidate.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|o| o.response())
        .map(|r| r.body.len() as u64)
        .sum();
    outcomes + exchange.request.body.len() as u64
}

impl PipelineHandle {
    /// Queue an exchange; never waits. Returns false (and counts a drop, by reason) when
    /// the queue is full by count or by bytes, or stopped.
    pub fn submit(&self, exchange: Exchange) -> bool {
        let bytes = body_bytes(&exchange);
        let before = self.stats.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if bytes > 0 && before.saturating_add(bytes) > self.max_queued_bytes {
            self.stats.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.stats
                .dropped_queue_bytes
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(exchange) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }
}

/// A running pipeline. Drop every [`PipelineHandle`] and call [`Pipeline::finish`] to drain it.
pub struct Pipeline {
    aggregate: Arc<Mutex<Aggregate>>,
    stats: Arc<PipelineStats>,
    thread: Option<JoinHandle<()>>,
}

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Bounded queue length between sources and the analysis thread.
    pub capacity: usize,
    /// How often sinks get a `tick` (the recording's fsync interval).
    pub tick: Duration,
    /// Body bytes the queue may hold (`[proxy] max_shadow_memory_bytes` for the proxy).
    pub max_queued_bytes: u64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            capacity: 8192,
            tick: Duration::from_millis(200),
            max_queued_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Pipeline {
    /// Start the analysis thread. Returns the pipeline and the first handle.
    pub fn start(
        analyzer: Arc<dyn Analyzer>,
        aggregate: Aggregate,
        mut sinks: Vec<Box<dyn Sink>>,
        options: PipelineOptions,
    ) -> std::io::Result<(Pipeline, PipelineHandle)> {
        let (tx, rx) = mpsc::sync_channel::<Exchange>(options.capacity.max(1));
        let aggregate = Arc::new(Mutex::new(aggregate));
        let stats = Arc::new(PipelineStats::default());
        let thread_aggregate = Arc::clone(&aggregate);
        let thread_stats = Arc::clone(&stats);
        let tick = options.tick;
        let thread = std::thread::Builder::new()
            .name("cutover-pipeline".into())
            .spawn(move || {
                background_priority();
                let mut last_tick = std::time::Instant::now();
                loop {
                    match rx.recv_timeout(tick) {
                        Ok(exchange) => {
                            let analysis = analyzer.analyze(&exchange);
                            if let Ok(mut agg) = thread_aggregate.lock() {
                                agg.add(&exchange, &analysis);
                            }
                            for sink in sinks.iter_mut() {
                                sink.accept(&exchange, &analysis);
                            }
                            thread_stats.analysed.fetch_add(1, Ordering::Relaxed);
                            thread_stats
                                .queued_bytes
                                .fetch_sub(body_bytes(&exchange), Ordering::Relaxed);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if last_tick.elapsed() >= tick {
                        for sink in sinks.iter_mut() {
                            sink.tick();
                        }
                        last_tick = std::time::Instant::now();
                    }
                }
                for sink in sinks.iter_mut() {
                    sink.finish();
                }
            })?;
        let handle = PipelineHandle {
            tx,
            stats: Arc::clone(&stats),
            max_queued_bytes: options.max_queued_bytes.max(1),
        };
        Ok((
            Pipeline {
                aggregate,
                stats,
                thread: Some(thread),
            },
            handle,
        ))
    }

    /// The live aggregate (for `/metrics` and progress output).
    pub fn aggregate(&self) -> Arc<Mutex<Aggregate>> {
        Arc::clone(&self.aggregate)
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        Arc::clone(&self.stats)
    }

    /// Wait until every handle is dropped and the queue is drained; sinks are finished.
    /// Returns the final aggregate.
    pub async fn finish(mut self) -> Aggregate {
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let mut guard = match self.aggregate.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *guard)
    }
}

/// Lower the calling thread's scheduling priority (Linux `nice` +10 for this thread
/// only): analysis and recording are background work and must not take CPU from the
/// proxy's workers, whose latency the client sees. Best effort; elsewhere a no-op.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` and `setpriority` only read their integer arguments; on Linux
    // `PRIO_PROCESS` with a thread id changes that one thread's nice value.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// The analyzer a configuration asks for: the parity engine. A rule set that does not
/// compile falls back to the built-in defaults (and is logged).
pub fn analyzer_for(config: &crate::config::Config) -> Arc<dyn Analyzer> {
    let (analyzer, errors) = parity::ParityAnalyzer::lenient(config);
    for e in errors {
        tracing::error!("{e}; using the built-in comparison rules instead");
    }
    Arc::new(analyzer)
}
