//! `index.html`: one self-contained page (inline CSS, no script, no network) a person opens
//! to see the routes table, per-path differences side by side, noise with its reasons, and
//! a latency chart.

use minijinja::{Environment, context};

use super::model::Report;

const TEMPLATE: &str = include_str!("report.html.j2");

pub fn render(report: &Report) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let chart_max = report
        .routes
        .iter()
        .flat_map(|r| [r.latency.primary.p95_ms, r.latency.candidate.p95_ms])
        .fold(0.001_f64, f64::max);
    env.get_template("report.html")?
        .render(context! { report => minijinja::Value::from(minijinja::value::Serde(report)), chart_max => chart_max })
}
