use super::*;

#[test]
fn histogram_buckets_are_cumulative_and_labelled() {
    let m = Metrics::new(vec!["/a/**".into()], vec!["mono".into(), "cand".into()]);
    m.latency(0, 300);
    m.latency(0, 2_000);
    m.latency(0, 20_000_000);
    m.request(Some(0), 1);
    m.request(None, 0);
    m.not_mirrored(0, NotMirrored::Capacity);
    let text = m.render(&Aggregate::default(), &PipelineStats::default(), 0);
    assert!(
        text.contains("cutover_upstream_latency_seconds_bucket{target=\"mono\",le=\"0.0005\"} 1")
    );
    assert!(
        text.contains("cutover_upstream_latency_seconds_bucket{target=\"mono\",le=\"0.0025\"} 2")
    );
    assert!(
        text.contains("cutover_upstream_latency_seconds_bucket{target=\"mono\",le=\"+Inf\"} 3")
    );
    assert!(text.contains("cutover_requests_total{route=\"/a/**\",target=\"cand\"} 1"));
    assert!(text.contains("cutover_requests_total{route=\"none\",target=\"mono\"} 1"));
    assert!(text.contains("cutover_not_mirrored_total{route=\"/a/**\",reason=\"capacity\"} 1"));
}
