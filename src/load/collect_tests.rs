//! Coordinated-omission correction in the collector and in result files.

use std::time::Duration;

use super::*;

fn key() -> SeriesKey {
    SeriesKey {
        side: Side::Candidate,
        target: "ai".into(),
        route: "GET /ai/status".into(),
    }
}

fn meta() -> ResultMeta {
    ResultMeta {
        run_id: "r".into(),
        config_digest: "d".into(),
        worker: None,
        users: 1,
        rate: Some(10),
        calibrate: false,
        baseline: "monolith".into(),
        candidates: vec!["ai".into()],
        workload: "w".into(),
        triggers: crate::load::model::TriggerSettings::from(&crate::config::Triggers::default()),
    }
}

#[test]
fn a_stall_under_a_rate_stands_for_the_requests_it_held_back() {
    // One user at 10 requests/s: one request every 100 ms. Nine answers take 1 ms, one
    // stalls for 1 s: the user held back nine requests that would have waited
    // 900, 800, ..., 100 ms.
    let c = Collector::new(vec![key()], Duration::from_secs(10)).with_rate(Some(10), 1);
    for _ in 0..9 {
        c.record(0, Outcome::Status(200), Duration::from_millis(1));
    }
    c.record(0, Outcome::Status(200), Duration::from_secs(1));
    let result = c.result(meta());
    let counts = counts_of(&result.series[0].counts);
    let raw = counts.dist_ms();
    let corrected = counts.corrected_ms().expect("corrected with a rate");
    assert_eq!(raw.len(), 10);
    assert_eq!(corrected.len(), 19);
    assert!(raw.quantile(0.5) < 2.0, "{}", raw.quantile(0.5));
    assert!(
        corrected.quantile(0.5) >= 99.0,
        "{}",
        corrected.quantile(0.5)
    );
    assert!(corrected.quantile(0.95) >= 899.0);
    // The corrected buckets survive a result file and a merge.
    let json = serde_json::to_string(&result).expect("json");
    let back: LoadResult = serde_json::from_str(&json).expect("parses");
    let merged = merge(&[
        ("a".into(), back.clone()),
        ("b".into(), {
            let mut b = back;
            b.meta.worker = Some((2, 2));
            b
        }),
    ])
    .expect("merge");
    let m = counts_of(&merged.series[0].counts);
    assert_eq!(m.corrected_ms().map(|d| d.len()), Some(38));
}

#[test]
fn without_a_rate_nothing_is_corrected() {
    let c = Collector::new(vec![key()], Duration::from_secs(10));
    c.record(0, Outcome::Status(200), Duration::from_secs(1));
    let result = c.result(meta());
    assert!(result.series[0].counts.corrected_us.is_empty());
    assert!(counts_of(&result.series[0].counts).corrected_ms().is_none());
}
