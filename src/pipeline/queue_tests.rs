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
