//! `index.html`: one self-contained page (inline CSS, no script, no network) a person opens
//! to see the routes table, per-path differences side by side, noise with its reasons, and
//! a latency chart.

use minijinja::{Environment, context};

use super::model::Report;

const TEMPLATE: &str = include_str!("report.html.j2");

pub fn render(report: &Report) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let chart = chart(report);
    env.get_template("report.html")?.render(context! {
        report => minijinja::Value::from(minijinja::value::Serde(report)),
        chart => minijinja::Value::from(minijinja::value::Serde(chart)),
    })
}

/// One latency bar pair per route, widths in percent on a log scale (sub-millisecond
/// answers and 300 ms streams share one chart and both stay visible).
#[derive(serde::Serialize)]
struct Bar {
    route: String,
    primary_pct: f64,
    candidate_pct: f64,
    primary_ms: f64,
    candidate_ms: f64,
    slow: bool,
}

fn chart(report: &Report) -> Vec<Bar> {
    let scale = |ms: f64| (1.0 + ms.max(0.0) * 10.0).log10();
    let max = report
        .routes
        .iter()
        .flat_map(|r| [r.latency.primary.p95_ms, r.latency.candidate.p95_ms])
        .map(scale)
        .fold(f64::MIN_POSITIVE, f64::max);
    let pct = |ms: f64| (scale(ms) / max * 100.0).clamp(0.5, 100.0);
    report
        .routes
        .iter()
        .map(|r| Bar {
            route: r.route.clone(),
            primary_pct: pct(r.latency.primary.p95_ms),
            candidate_pct: pct(r.latency.candidate.p95_ms),
            primary_ms: r.latency.primary.p95_ms,
            candidate_ms: r.latency.candidate.p95_ms,
            slow: r.latency.finding.is_some(),
        })
        .collect()
}
