//! The terminal verdict `cutover demo`, `cutover report` and `cutover proxy` print: one
//! line per route, worst first, each failing route with what leads it (its status changes,
//! then its other differences with array positions folded as in every report file, then
//! fired triggers), the verdict line, and where the report is. Plain text, no colour.

use std::fmt::Write as _;
use std::path::Path;

use super::model::{Gate, Report, RouteReport};
use super::view;
use crate::pipeline::gates::GateKind;

/// The lines, each ending with a newline.
pub fn render(report: &Report, html: &Path) -> String {
    let mut out = String::new();
    for r in &report.routes {
        let _ = writeln!(
            out,
            "{:<4} {:<36} {:>6} compared  {:>6.1}% parity{}",
            match r.gate {
                Gate::Pass => "ok",
                Gate::Fail => "FAIL",
            },
            r.route,
            r.compared,
            r.parity * 100.0,
            failure_hint(r)
        );
        if let Some(c) = &r.contracts {
            contract_line(&mut out, c);
        }
        if let Some(t) = &r.translation {
            let _ = writeln!(out, "     {}", super::translation::line(t));
        }
    }
    let _ = writeln!(
        out,
        "verdict: {} — {:.2}% parity over {} compared exchanges, {} of {} routes failing",
        match report.verdict {
            Gate::Pass => "PASS",
            Gate::Fail => "FAIL",
        },
        report.totals.parity * 100.0,
        report.totals.compared,
        report.totals.routes_failing,
        report.routes.len()
    );
    if let Some(c) = &report.totals.contracts {
        use super::contracts::phrase;
        let _ = writeln!(
            out,
            "contracts: primary {}, candidate {}, requests {}; {} routes covered, {} uncovered",
            phrase(&c.primary),
            phrase(&c.candidate),
            phrase(&c.request),
            c.routes_covered,
            c.routes_uncovered
        );
    }
    if let Some(o) = &report.totals.overflow {
        let _ = writeln!(out, "warning: {}", o.sentence());
    }
    let _ = writeln!(out, "report: {}", html.display());
    out
}

/// A few words on why a route failed: its status changes first (with how many differences
/// came with them), then its other differences, array positions folded as in every report
/// file, then every fired trigger.
pub fn failure_hint(r: &RouteReport) -> String {
    if r.failures.is_empty() {
        return String::new();
    }
    let view = view::route_view(r);
    let mut diffs: Vec<String> = Vec::new();
    for lead in view.leads.iter().take(2) {
        let mut text = lead.title();
        let with: usize = lead.folded.len();
        if with > 0 {
            text.push_str(&format!(
                " (+{with} {} with it)",
                if with == 1 {
                    "difference"
                } else {
                    "differences"
                }
            ));
        }
        diffs.push(text);
    }
    if view.leads.len() > 2 {
        diffs.push(format!("{} more status changes", view.leads.len() - 2));
    }
    let room = 3usize.saturating_sub(diffs.len());
    for g in view.rest.iter().take(room) {
        let mut text = g.title();
        if g.positions() > 1 {
            text.push_str(&format!(" (at {} array positions)", g.positions()));
        }
        diffs.push(text);
    }
    if view.rest.len() > room {
        diffs.push(format!("+{} more", view.rest.len() - room));
    }
    let mut parts = Vec::new();
    if !diffs.is_empty() {
        parts.push(diffs.join(", "));
    }
    if r.candidate_errors > 0 {
        parts.push(format!(
            "candidate errors {} ({} × 5xx)",
            r.candidate_errors, r.candidate_5xx
        ));
    }
    if let Some(b) = r.baseline.as_ref().filter(|b| b.unhealthy > 0) {
        parts.push(format!("unhealthy baseline on {} exchanges", b.unhealthy));
    }
    for g in r.gates.iter().filter(|g| g.fired) {
        match g.gate {
            GateKind::LatencyP95 | GateKind::LatencyIncrease => parts.push(format!(
                "P95 {:.1} → {:.1} ms",
                r.latency.primary.p95_ms, r.latency.candidate.p95_ms
            )),
            GateKind::ErrorRate => parts.push(format!(
                "errors {:.1}% (primary {:.1}%, limit {:.1}%)",
                g.value,
                g.primary.unwrap_or(0.0),
                g.limit
            )),
            GateKind::Contract => parts.push(format!("{} contract violations", g.value)),
            GateKind::Parity => {}
        }
    }
    parts.dedup();
    format!("  — {}", parts.join("; "))
}

/// `     contract: 9 of 9 operations; primary conforms, candidate 4 violations — ...`.
fn contract_line(out: &mut String, c: &super::contracts::RouteContracts) {
    use super::contracts::phrase;
    let violations: Vec<String> = c
        .violations
        .iter()
        .take(3)
        .map(|v| {
            let at = if v.instance_path.is_empty() {
                "/"
            } else {
                &v.instance_path
            };
            format!("{} {} at {at}", v.side.as_str(), v.kind.as_str())
        })
        .collect();
    let _ = writeln!(
        out,
        "     contract: {}; primary {}, candidate {}{}",
        c.coverage(),
        phrase(&c.primary),
        phrase(&c.candidate),
        if violations.is_empty() {
            String::new()
        } else {
            format!(" — {}", violations.join(", "))
        }
    );
}
