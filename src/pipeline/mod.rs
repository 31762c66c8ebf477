//! The analysis pipeline: `Exchange → analyzer → aggregate → sinks`.
//!
//! Live sources hand exchanges to a [`PipelineHandle`] without ever waiting: the queue is
//! bounded by count (`capacity`) and by the bytes of the bodies it holds
//! (`max_queued_bytes`); a full queue drops the exchange and counts it, by reason. Offline
//! sources (a recording) use a [`Delivery::Wait`] handle instead, which waits for room and
//! never drops. One dedicated thread drains the queue, groups the exchange into its
//! [`RouteKey`] and runs every [`Analyzer`] ([`Analyzers`]), updates the shared
//! [`Aggregate`] and passes each exchange with its [`Analysis`] to the [`Sink`]s
//! (recording, ...). Sinks get a periodic `tick` so they can
//! flush on time even when traffic stops. This module knows nothing of HTTP servers.

pub mod aggregate;
pub mod analysis;
pub mod analyzers;
pub mod conformance;
pub mod contracts;
mod examples;
pub mod findings;
pub mod gates;
pub mod identities;
pub mod latency;
pub mod load_gates;
pub mod parity;
pub mod repeats;
pub mod route;
pub mod translation;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use aggregate::Aggregate;
pub use analysis::{Analysis, Finding, Note, Suppressed, Verdict};
pub use analyzers::{Analyzer, Analyzers};
pub use route::RouteKey;

use crate::exchange::Exchange;

/// Consumes analysed exchanges. Called from the pipeline thread, never from a request path.
pub trait Sink: Send {
    fn accept(&mut self, exchange: &Exchange, analysis: &Analysis);
    /// The last sink is handed the exchange itself, so one that must change it (the
    /// recording redacts it) does so in place instead of copying every header first.
    fn accept_owned(&mut self, exchange: Box<Exchange>, analysis: &Analysis) {
        self.accept(&exchange, analysis);
    }
    /// Called at least every tick interval, also when no exchange arrived.
    fn tick(&mut self) {}
    /// Called once when the pipeline stops; flush everything.
    fn finish(&mut self) {}
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
    /// Set when the analysis thread ended (drained, or died): waiting submitters give up.
    pub stopped: std::sync::atomic::AtomicBool,
}

/// Marks the pipeline stopped when the analysis thread ends, also by a panic.
struct StoppedOnDrop(Arc<PipelineStats>);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        self.0.stopped.store(true, Ordering::Release);
    }
}

/// Cheap, cloneable, non-blocking entrance to the pipeline.
#[derive(Clone)]
pub struct PipelineHandle {
    tx: SyncSender<Queued>,
    stats: Arc<PipelineStats>,
    max_queued_bytes: u64,
    delivery: Delivery,
}

/// An exchange waiting for analysis.
struct Queued {
    /// Boxed: the channel preallocates `capacity` slots, and a slot holding the exchange
    /// inline (≈ 500 bytes) made the empty queue alone 4 MB of resident memory once the ring
    /// had cycled (heaptrack, slow-candidate bench); a pointer slot makes it 64 KB.
    exchange: Box<Exchange>,
    /// Recorded without its bodies: analysed as not comparable (no candidate, no
    /// secondary), while aggregates and sinks still see the whole exchange.
    bodies_omitted: bool,
}

/// What [`PipelineHandle::submit`] does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Never wait: drop the exchange and count it (live traffic; the primary path must not
    /// wait for analysis).
    DropWhenFull,
    /// Block the calling thread until there is room (offline sources, which must lose
    /// nothing). Call it from a blocking context, never from an async task.
    Wait,
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
    /// The same queue, delivering as `delivery` says.
    pub fn with_delivery(&self, delivery: Delivery) -> PipelineHandle {
        PipelineHandle {
            delivery,
            ..self.clone()
        }
    }

    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// Queue an exchange. With [`Delivery::DropWhenFull`] (the default) it never waits and
    /// returns false (counting a drop, by reason) when the queue is full by count or by
    /// bytes, or stopped. With [`Delivery::Wait`] it blocks until there is room and returns
    /// false only when the pipeline stopped.
    pub fn submit(&self, exchange: Exchange) -> bool {
        self.submit_item(Queued {
            exchange: Box::new(exchange),
            bodies_omitted: false,
        })
    }

    /// Like [`PipelineHandle::submit`], for a recorded exchange whose bodies were left out
    /// (`[recording] bodies`): counted, never compared, nothing learned from it.
    pub fn submit_without_bodies(&self, exchange: Exchange) -> bool {
        self.submit_item(Queued {
            exchange: Box::new(exchange),
            bodies_omitted: true,
        })
    }

    fn submit_item(&self, item: Queued) -> bool {
        if self.delivery == Delivery::Wait {
            return self.submit_waiting(item);
        }
        let bytes = body_bytes(&item.exchange);
        let before = self.stats.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if bytes > 0 && before.saturating_add(bytes) > self.max_queued_bytes {
            self.stats.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.stats
                .dropped_queue_bytes
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(item) {
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

    /// Wait for room by bytes (an exchange alone over the limit goes in once the queue is
    /// empty of bodies), then by count.
    fn submit_waiting(&self, item: Queued) -> bool {
        let bytes = body_bytes(&item.exchange);
        loop {
            let before = self.stats.queued_bytes.load(Ordering::Acquire);
            let fits = before == 0 || before.saturating_add(bytes) <= self.max_queued_bytes;
            if fits
                && self
                    .stats
                    .queued_bytes
                    .compare_exchange(before, before + bytes, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                break;
            }
            if !fits {
                if self.stats.stopped.load(Ordering::Acquire) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        match self.tx.send(item) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.stats.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                false
            }
        }
    }

    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }
}

/// While exchanges arrive this fast (at least [`BUSY_BATCH`] per [`BUSY_POLL`]), the
/// analysis thread sleeps between batches instead of blocking on the queue: a sender then
/// never has a sleeping receiver to wake: no futex wake-up and context switch per exchange
/// (perf: the analysis thread's share of the proxy's CPU fell from 19.5 % to 15.3 % at
/// saturation, 100 % mirrored). At a lower rate it blocks as before, so a lone exchange is
/// analysed at once.
const BUSY_POLL: Duration = Duration::from_micros(500);
const BUSY_BATCH: usize = 2;

/// The analysis thread's state: analyzers, aggregate and sinks, fed from the queue.
struct Drain {
    analyzers: Arc<Analyzers>,
    aggregate: Arc<Mutex<Aggregate>>,
    sinks: Vec<Box<dyn Sink>>,
    stats: Arc<PipelineStats>,
    tick: Duration,
    last_tick: Instant,
}

impl Drain {
    /// Until every sender is gone and the queue is empty; then the sinks are finished.
    fn run(&mut self, rx: &mpsc::Receiver<Queued>) {
        'outer: loop {
            match rx.recv_timeout(self.tick) {
                Ok(q) => {
                    self.handle(q);
                    // Busy: take what arrived in batches, sleeping in between.
                    loop {
                        std::thread::sleep(BUSY_POLL);
                        let mut n = 0;
                        loop {
                            match rx.try_recv() {
                                Ok(q) => {
                                    self.handle(q);
                                    n += 1;
                                    self.tick_if_due();
                                }
                                Err(mpsc::TryRecvError::Empty) => break,
                                Err(mpsc::TryRecvError::Disconnected) => break 'outer,
                            }
                        }
                        if n < BUSY_BATCH {
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick_if_due();
        }
        for sink in self.sinks.iter_mut() {
            sink.finish();
        }
    }

    fn tick_if_due(&mut self) {
        if self.last_tick.elapsed() >= self.tick {
            for sink in self.sinks.iter_mut() {
                sink.tick();
            }
            self.last_tick = Instant::now();
        }
    }

    fn handle(&mut self, q: Queued) {
        let Queued {
            exchange,
            bodies_omitted,
        } = q;
        let analysis = if bodies_omitted {
            // Not comparable: the analyzers still name its route.
            let mut bare = (*exchange).clone();
            bare.outcomes.candidate = None;
            bare.outcomes.secondary = None;
            self.analyzers.analyze(&bare)
        } else {
            self.analyzers.analyze(&exchange)
        };
        if let Ok(mut agg) = self.aggregate.lock() {
            agg.add(&exchange, &analysis);
        }
        let bytes = body_bytes(&exchange);
        match self.sinks.split_last_mut() {
            Some((last, rest)) => {
                for sink in rest {
                    sink.accept(&exchange, &analysis);
                }
                last.accept_owned(exchange, &analysis);
            }
            None => drop(exchange),
        }
        self.stats.analysed.fetch_add(1, Ordering::Relaxed);
        self.stats.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
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
        analyzers: Arc<Analyzers>,
        aggregate: Aggregate,
        sinks: Vec<Box<dyn Sink>>,
        options: PipelineOptions,
    ) -> std::io::Result<(Pipeline, PipelineHandle)> {
        let (tx, rx) = mpsc::sync_channel::<Queued>(options.capacity.max(1));
        let aggregate = Arc::new(Mutex::new(aggregate));
        let stats = Arc::new(PipelineStats::default());
        let thread_aggregate = Arc::clone(&aggregate);
        let thread_stats = Arc::clone(&stats);
        let tick = options.tick;
        // The analysis thread runs at normal priority: lowered (nice +10), it was starved
        // under saturation and let up to `capacity` exchanges pile up in the queue (proxy
        // peak RSS 99 MB instead of 71 MB with a slow candidate, `benches/proxy.sh`) while
        // the client's throughput was the same.
        let thread = std::thread::Builder::new()
            .name("cutover-pipeline".into())
            .spawn(move || {
                let _stopped = StoppedOnDrop(Arc::clone(&thread_stats));
                let mut drain = Drain {
                    analyzers,
                    aggregate: thread_aggregate,
                    sinks,
                    stats: thread_stats,
                    tick,
                    last_tick: Instant::now(),
                };
                drain.run(&rx);
            })?;
        let handle = PipelineHandle {
            tx,
            stats: Arc::clone(&stats),
            max_queued_bytes: options.max_queued_bytes.max(1),
            delivery: Delivery::DropWhenFull,
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

/// The analyzers a configuration asks for: grouping by its `[grouping]` and the parity
/// engine. A rule set that does not compile falls back to the built-in defaults (and is
/// logged).
pub fn analyzer_for(config: &crate::config::Config) -> Arc<Analyzers> {
    Arc::new(Analyzers::for_config(config))
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod queue_tests;
