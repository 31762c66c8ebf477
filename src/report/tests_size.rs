//! `summary.md` stays within a pull-request comment and never leaves out a failing route:
//! models with hundreds of routes and heavy differences.

use super::model::RouteReport;
use super::tests_render::{route, status_report};
use super::*;

/// A failing route with 40 differing paths, each with 5 large examples and a text diff.
fn heavy_failing(name: &str, template: &RouteReport) -> RouteReport {
    let mut r = template.clone();
    r.route = name.to_string();
    let big = serde_json::Value::String("x".repeat(1_500));
    let diff = format!(
        "--- primary\n+++ candidate\n@@ -1,40 +1,40 @@\n{}",
        (0..40)
            .map(|i| format!("-line {i} of the primary\n+line {i} of the candidate\n"))
            .collect::<String>()
    );
    r.differences = (0..40)
        .map(|i| super::model::PathReport {
            path: format!("/field{i}"),
            status: None,
            identities: None,
            kind: if i % 2 == 0 {
                crate::compare::DiffKind::ValueChanged
            } else {
                crate::compare::DiffKind::Text
            },
            count: 3,
            examples: (0..5)
                .map(|e| crate::pipeline::aggregate::Example {
                    exchange: e,
                    request: format!("{name} #{e}"),
                    request_body: Some("b".repeat(500)),
                    primary: (i % 2 == 0).then(|| big.clone()),
                    candidate: (i % 2 == 0).then_some(serde_json::Value::Null),
                    detail: (i % 2 == 1).then(|| diff.clone()),
                })
                .collect(),
            headline: None,
        })
        .collect();
    r
}

fn large_report(failing: usize, passing: usize) -> Report {
    let base = status_report();
    let fail = route(&base, "GET /ai/models").clone();
    let mut pass = fail.clone();
    pass.gate = Gate::Pass;
    pass.failures.clear();
    pass.differences.clear();
    pass.parity = 1.0;
    let mut report = base.clone();
    report.routes = (0..failing)
        .map(|i| heavy_failing(&format!("GET /fail/route-{i:04}"), &fail))
        .chain((0..passing).map(|i| {
            let mut r = pass.clone();
            r.route = format!("GET /pass/route-{i:04}");
            r
        }))
        .collect();
    report.totals.routes_failing = failing;
    report
}

#[test]
fn summary_md_with_500_routes_and_50_failures_lists_every_failure_within_the_limit() {
    let report = large_report(50, 450);
    let md = markdown::render(&report);
    eprintln!("summary.md for 500 routes, 50 failing: {} bytes", md.len());
    assert!(md.len() < 65_536, "{} bytes", md.len());
    for i in 0..50 {
        let name = format!("GET /fail/route-{i:04}");
        assert!(md.contains(&format!("**`{name}`**")), "{name} cut");
    }
    assert!(
        md.contains("450 passing routes not listed"),
        "passing collapse first"
    );
    assert!(!md.contains("(cut"), "nothing is cut");
}

#[test]
fn summary_md_keeps_full_detail_when_it_fits() {
    let report = large_report(2, 3);
    let md = markdown::render(&report);
    assert!(md.len() < markdown::MAX_BYTES);
    assert!(md.contains("GET /pass/route-0002"), "passing rows listed");
    assert!(md.contains("```diff"), "diff blocks kept");
    assert!(!md.contains("more differing paths"));
}

#[test]
fn summary_md_says_so_when_even_one_line_per_failing_route_does_not_fit() {
    let report = large_report(3_000, 10);
    let md = markdown::render(&report);
    eprintln!(
        "summary.md for 3,010 routes, 3,000 failing: {} bytes",
        md.len()
    );
    assert!(md.len() < 65_536, "{} bytes", md.len());
    assert!(md.contains("GET /fail/route-0000"));
    assert!(
        md.contains("more failing routes not listed here"),
        "the cut is said"
    );
}
