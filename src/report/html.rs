//! `index.html`: one self-contained page (inline CSS, no script, no network) a person opens
//! to see the routes table (worst first, each failing route's headline), per-route status
//! changes leading with the differences they brought folded beneath, the other differences
//! side by side (`null` distinct from absent; text bodies as coloured unified diffs), noise
//! with its reasons, and a latency chart.

use minijinja::{Environment, context};
use serde::Serialize;

use super::model::{Gate, Report, RouteReport};
use super::view::{self, DiffLine, Group, value_text};

const TEMPLATE: &str = include_str!("report.html.j2");

pub fn render(report: &Report) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let chart = chart(report);
    let views: Vec<RouteHtml> = report.routes.iter().map(route_html).collect();
    env.get_template("report.html")?.render(context! {
        report => minijinja::Value::from(minijinja::value::Serde(report)),
        chart => minijinja::Value::from(minijinja::value::Serde(chart)),
        views => minijinja::Value::from(minijinja::value::Serde(views)),
    })
}

/// One route's differences as the page shows them (see [`view::route_view`]).
#[derive(Serialize)]
struct RouteHtml {
    /// What leads a failing route (`status 200 → 500 (4×) in 4 of 40 exchanges`).
    headline: Option<String>,
    leads: Vec<LeadHtml>,
    rest: Vec<GroupHtml>,
    suppressed: Vec<view::SuppressedGroup>,
}

#[derive(Serialize)]
struct LeadHtml {
    title: String,
    /// The candidate answered 5xx or failed at the transport level.
    server_error: bool,
    group: GroupHtml,
    folded: Vec<GroupHtml>,
}

#[derive(Serialize)]
struct GroupHtml {
    shape: String,
    kind: &'static str,
    count: u64,
    /// The folded array positions' paths when there are several.
    paths: Vec<String>,
    /// Which identities it appeared for (`for guest2 only`), when exchanges carried one.
    identities: Option<String>,
    examples: Vec<ExampleHtml>,
}

#[derive(Serialize)]
struct ExampleHtml {
    exchange: u64,
    request: String,
    request_body: Option<String>,
    /// JSON text, `null`, or `(absent)`.
    primary: String,
    candidate: String,
    /// Classed unified-diff lines (text and SSE bodies), shown instead of the two values.
    diff: Option<Vec<DiffLine>>,
    detail: Option<String>,
}

fn route_html(r: &RouteReport) -> RouteHtml {
    let v = view::route_view(r);
    RouteHtml {
        headline: (r.gate == Gate::Fail).then(|| view::headline(r).1),
        leads: v
            .leads
            .iter()
            .map(|l| LeadHtml {
                title: l.title(),
                server_error: l
                    .group
                    .members
                    .iter()
                    .any(|m| super::order::is_server_error(m)),
                group: group_html(&l.group),
                folded: l.folded.iter().map(group_html).collect(),
            })
            .collect(),
        rest: v.rest.iter().map(group_html).collect(),
        suppressed: view::suppressed_groups(r),
    }
}

fn group_html(g: &Group<'_>) -> GroupHtml {
    GroupHtml {
        shape: g.shape.clone(),
        kind: g.kind.as_str(),
        count: g.count,
        paths: if g.positions() > 1 {
            g.members
                .iter()
                .map(|m| view::display_path(&m.path).to_string())
                .collect()
        } else {
            Vec::new()
        },
        identities: g
            .members
            .first()
            .and_then(|d| d.identities.as_ref())
            .map(|i| i.summary.clone()),
        examples: g
            .examples(crate::pipeline::aggregate::EXAMPLES_PER_PATH)
            .into_iter()
            .map(|ex| {
                let diff = view::diff_lines(ex).filter(|_| view::shows_as_diff(ex));
                ExampleHtml {
                    exchange: ex.exchange,
                    request: ex.request.clone(),
                    request_body: ex.request_body.clone(),
                    primary: value_text(ex.primary.as_ref()),
                    candidate: value_text(ex.candidate.as_ref()),
                    detail: if diff.is_some() {
                        None
                    } else {
                        ex.detail.clone()
                    },
                    diff,
                }
            })
            .collect(),
    }
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
