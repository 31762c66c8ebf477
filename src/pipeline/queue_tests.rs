//! The queue's two deliveries: waiting submitters lose nothing, and never hang on a
//! pipeline whose thread is gone.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::compare::grouping::RouteGrouper;

fn exchange(id: u64) -> Exchange {
    let line = serde_json::json!({
        "id": id, "at": "2026-11-22T12:00:00Z", "route": "GET /x",
        "request": {"method": "GET", "uri": "/x", "headers": [], "body": "0123456789"},
        "outcomes": {"primary": {"target": "p", "response": {
            "status": 200, "headers": [], "body": "{}", "ttfb_us": 1, "total_us": 1}}}
    });
    serde_json::from_value(line).unwrap_or_else(|e| panic!("{e}"))
}

/// An analyzer that stops the analysis thread on its first exchange.
struct Boom;

impl Analyzer for Boom {
    fn name(&self) -> &str {
        "boom"
    }
    fn analyze(&self, _: &RouteKey, _: &Exchange, _: &mut Analysis) {
        panic!("analyzer failure (expected by the test)");
    }
}

fn start(analyzer: Option<Arc<dyn Analyzer>>) -> (Pipeline, PipelineHandle) {
    let mut analyzers = Analyzers::new(RouteGrouper::new(Vec::<(&str, &str)>::new()));
    if let Some(a) = analyzer {
        analyzers = analyzers.with(a);
    }
    let options = PipelineOptions {
        capacity: 1,
        tick: Duration::from_millis(10),
        max_queued_bytes: 1,
    };
    Pipeline::start(
        Arc::new(analyzers),
        Aggregate::default(),
        Vec::new(),
        options,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_delivery_loses_nothing_where_dropping_would() {
    let (pipeline, handle) = start(None);
    let waiting = handle.with_delivery(Delivery::Wait);
    drop(handle);
    let queued = tokio::task::spawn_blocking(move || {
        (0..300).filter(|i| waiting.submit(exchange(*i))).count()
    })
    .await
    .unwrap_or(0);
    let stats = pipeline.stats();
    let aggregate = pipeline.finish().await;
    assert_eq!(queued, 300);
    assert_eq!(aggregate.total(), 300);
    assert_eq!(stats.dropped_queue_bytes.load(Ordering::Relaxed), 0);
    assert_eq!(stats.dropped_queue_full.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_submitter_gives_up_when_the_pipeline_thread_is_gone() {
    let (pipeline, handle) = start(Some(Arc::new(Boom)));
    let waiting = handle.with_delivery(Delivery::Wait);
    drop(handle);
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            (0..5)
                .map(|i| waiting.submit(exchange(i)))
                .collect::<Vec<_>>()
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("a waiting submit hung on a dead pipeline"))
    .unwrap_or_default();
    assert!(results.iter().any(|ok| !ok), "{results:?}");
    assert!(pipeline.stats().stopped.load(Ordering::Acquire));
    let _ = pipeline.finish().await;
}

/// Counts how each exchange reached it.
struct Counting {
    borrowed: Arc<AtomicU64>,
    owned: Arc<AtomicU64>,
}

impl Counting {
    fn with_counters() -> (Box<dyn Sink>, Arc<AtomicU64>, Arc<AtomicU64>) {
        let (borrowed, owned) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let sink = Counting {
            borrowed: Arc::clone(&borrowed),
            owned: Arc::clone(&owned),
        };
        (Box::new(sink), borrowed, owned)
    }
}

impl Sink for Counting {
    fn accept(&mut self, _: &Exchange, _: &Analysis) {
        self.borrowed.fetch_add(1, Ordering::Relaxed);
    }
    fn accept_owned(&mut self, _: Box<Exchange>, _: &Analysis) {
        self.owned.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wait (bounded) until the pipeline has analysed `n` exchanges.
async fn analysed(stats: &PipelineStats, n: u64) -> u64 {
    for _ in 0..1000 {
        if stats.analysed.load(Ordering::Relaxed) >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stats.analysed.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_and_lone_exchanges_reach_every_sink_and_the_last_one_owns_them() {
    let (first, first_borrowed, first_owned) = Counting::with_counters();
    let (last, last_borrowed, last_owned) = Counting::with_counters();
    let options = PipelineOptions {
        capacity: 4096,
        tick: Duration::from_millis(10),
        max_queued_bytes: 1 << 30,
    };
    let analyzers = Analyzers::new(RouteGrouper::new(Vec::<(&str, &str)>::new()));
    let (pipeline, handle) = Pipeline::start(
        Arc::new(analyzers),
        Aggregate::default(),
        vec![first, last],
        options,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let stats = pipeline.stats();
    // A burst (the analysis thread batches while exchanges arrive fast) ...
    let burst = (0..2000).filter(|i| handle.submit(exchange(*i))).count() as u64;
    assert_eq!(burst, 2000, "the queue holds the whole burst");
    assert_eq!(analysed(&stats, burst).await, burst);
    // ... then one exchange alone, with the handle still open: it is analysed without
    // more traffic or a shutdown to push it through.
    assert!(handle.submit(exchange(9999)));
    assert_eq!(analysed(&stats, burst + 1).await, burst + 1);
    assert_eq!(stats.queued_bytes.load(Ordering::Relaxed), 0);
    drop(handle);
    let aggregate = pipeline.finish().await;
    assert_eq!(aggregate.total(), burst + 1);
    assert_eq!(first_borrowed.load(Ordering::Relaxed), burst + 1);
    assert_eq!(first_owned.load(Ordering::Relaxed), 0);
    assert_eq!(last_owned.load(Ordering::Relaxed), burst + 1);
    assert_eq!(last_borrowed.load(Ordering::Relaxed), 0);
}
