//! Renderings of a [`LoadReport`]: `load.md`, `junit.xml` (one case per trigger and route)
//! and `load.html` (self-contained, no script: the verdict table, side-by-side latency bars
//! per route, and inline-SVG timelines of P95 and error rate). Formatting only.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::collect::Side;
use super::model::{LoadReport, TimelinePoint};
use crate::pipeline::load_gates::Decision;

fn decision(d: Decision) -> &'static str {
    match d {
        Decision::Pass => "PASS",
        Decision::Fail => "FAIL",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

/// `load.md`.
pub fn markdown(r: &LoadReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Load stage: {}\n", r.verdict.as_str());
    let _ = writeln!(
        s,
        "{} vs {} · {} · {} users{} · {:.1} s{}\n",
        r.candidates.join(", "),
        r.baseline,
        r.workload,
        r.users,
        r.rate
            .map(|x| format!(" · ≤ {x} req/s"))
            .unwrap_or_default(),
        r.duration_s,
        if r.parts > 1 {
            format!(" · merged from {} parts", r.parts)
        } else {
            String::new()
        }
    );
    if r.calibrate {
        let _ = writeln!(
            s,
            "**A/A calibration**: the baseline against itself; every FAIL below is a false alarm.\n"
        );
    }
    if r.not_sent > 0 {
        let _ = writeln!(
            s,
            "{} scenario step runs were not sent: a variable they need was never set (a capture failed).\n",
            r.not_sent
        );
    }
    for reason in &r.reasons {
        let _ = writeln!(s, "- {reason}");
    }
    if !r.reasons.is_empty() {
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "| route | verdict | target | requests | rps | errors | 4xx | p50 ms | p95 ms | p99 ms |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for route in &r.routes {
        for (i, side) in [&route.baseline, &route.candidate].into_iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {} ({:.2}%) | {} | {:.1} | {:.1} | {:.1} |",
                if i == 0 { route.route.as_str() } else { "" },
                if i == 0 { route.verdict.as_str() } else { "" },
                side.target,
                side.requests,
                side.rps,
                side.errors,
                side.error_pct,
                side.status_4xx,
                side.p50_ms,
                side.p95_ms,
                side.p99_ms
            );
        }
    }
    if r.routes.iter().any(|x| x.candidate.corrected.is_some()) {
        let _ = writeln!(
            s,
            "\n## Coordinated-omission corrected latency\n\nWith a rate, a slow answer also stands for the requests its user held back meanwhile (HdrHistogram `record_correct`, expected interval = users / rate). The triggers decide on the raw samples above.\n"
        );
        let _ = writeln!(s, "| route | target | p50 ms | p95 ms | p99 ms |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|");
        for route in &r.routes {
            for side in [&route.baseline, &route.candidate] {
                if let Some(c) = &side.corrected {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.1} | {:.1} | {:.1} |",
                        route.route, side.target, c.p50_ms, c.p95_ms, c.p99_ms
                    );
                }
            }
        }
    }
    let _ = writeln!(s, "\n## Triggers\n");
    let _ = writeln!(s, "| route | trigger | decision | detail |");
    let _ = writeln!(s, "|---|---|---|---|");
    for route in &r.routes {
        for t in &route.triggers {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                route.route,
                t.trigger.as_str(),
                decision(t.decision),
                t.message.replace('|', "\\|")
            );
        }
    }
    if !r.calibration.is_empty() {
        let _ = writeln!(s, "\n## A/A false alarms\n");
        let _ = writeln!(
            s,
            "| trigger | routes | fired | inconclusive | false alarms |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for c in &r.calibration {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.1}% |",
                c.trigger.as_str(),
                c.routes,
                c.fired,
                c.inconclusive,
                c.false_alarm_pct
            );
        }
    }
    let t = &r.triggers;
    let _ = writeln!(
        s,
        "\nTriggers: candidate P95 ≤ {} ms; P95 ≤ baseline × {:.2} (and at least +{} ms){}{}; error rate ≤ {}%{}; ≥ {} samples a side; {:.0}% confidence.",
        t.p95_ms,
        1.0 + t.p95_increase_pct / 100.0,
        t.latency_floor_ms,
        t.p50_overhead_ms
            .map(|m| format!("; P50 ≤ baseline + {m} ms"))
            .unwrap_or_default(),
        t.p99_overhead_ms
            .map(|m| format!("; P99 ≤ baseline + {m} ms"))
            .unwrap_or_default(),
        t.error_rate_pct,
        if t.errors_include_4xx {
            " (4xx included)"
        } else {
            " (5xx and transport failures)"
        },
        t.min_samples,
        t.confidence * 100.0
    );
    s
}

/// `junit.xml`: one test case per route and trigger; FAIL is a failure, INCONCLUSIVE an
/// error (the stage could not decide).
pub fn junit(r: &LoadReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("cutover");
    let mut suite = TestSuite::new("cutover load");
    for route in &r.routes {
        for t in &route.triggers {
            let status = match t.decision {
                Decision::Pass => TestCaseStatus::success(),
                Decision::Fail | Decision::Inconclusive => {
                    let kind = if t.decision == Decision::Fail {
                        NonSuccessKind::Failure
                    } else {
                        NonSuccessKind::Error
                    };
                    let mut s = TestCaseStatus::non_success(kind);
                    s.set_message(t.message.clone());
                    s.set_type(decision(t.decision));
                    s
                }
            };
            let mut case = TestCase::new(format!("{} {}", route.route, t.trigger.as_str()), status);
            case.set_classname(route.candidate.target.clone());
            suite.add_test_case(case);
        }
    }
    junit.add_test_suite(suite);
    junit.to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.n{text-align:right}.PROCEED,.PASS{color:#176f2c;font-weight:bold}.ROLLBACK,.FAIL{color:#b3261e;font-weight:bold}
.INCONCLUSIVE{color:#8a5a00;font-weight:bold}.bars td{border:none;padding:1px 4px}
.b{background:#5b8def;height:8px}.c{background:#e8833a;height:8px}.legend span{padding:0 8px}
svg{background:#fafafa;border:1px solid #ddd}";

/// `load.html`.
pub fn html(r: &LoadReport) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cutover load: {v}</title><style>{CSS}</style></head><body>\
         <h1>Load stage: <span class=\"{v}\">{v}</span></h1><p>{c} vs {b} · {w} · {u} users · {d:.1} s{parts}</p>",
        v = r.verdict.as_str(),
        c = esc(&r.candidates.join(", ")),
        b = esc(&r.baseline),
        w = esc(&r.workload),
        u = r.users,
        d = r.duration_s,
        parts = if r.parts > 1 {
            format!(" · merged from {} parts", r.parts)
        } else {
            String::new()
        },
    );
    if r.calibrate {
        s.push_str("<p><b>A/A calibration</b>: the baseline against itself; every FAIL is a false alarm.</p>");
    }
    if r.not_sent > 0 {
        let _ = write!(
            s,
            "<p>{} scenario step runs were not sent: a variable they need was never set (a capture failed).</p>",
            r.not_sent
        );
    }
    if !r.reasons.is_empty() {
        s.push_str("<ul>");
        for reason in &r.reasons {
            let _ = write!(s, "<li>{}</li>", esc(reason));
        }
        s.push_str("</ul>");
    }
    s.push_str("<h2>Verdict per route and trigger</h2><table><tr><th>route</th><th>trigger</th><th>decision</th><th>candidate</th><th>limit</th><th>detail</th></tr>");
    for route in &r.routes {
        for t in &route.triggers {
            let d = decision(t.decision);
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"{d}\">{d}</td><td class=\"n\">{:.2} {u}</td><td class=\"n\">{:.2} {u}</td><td>{}</td></tr>",
                esc(&route.route),
                t.trigger.as_str(),
                t.value,
                t.limit,
                esc(&t.message),
                u = esc(&t.unit)
            );
        }
    }
    s.push_str("</table><h2>Per route</h2><p class=\"legend\"><span class=\"b\">&nbsp;&nbsp;</span> baseline <span class=\"c\">&nbsp;&nbsp;</span> candidate</p>");
    for route in &r.routes {
        let _ = write!(
            s,
            "<h3>{} <span class=\"{v}\">{v}</span></h3><table><tr><th>target</th><th>requests</th><th>rps</th><th>errors</th><th>4xx</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>",
            esc(&route.route),
            v = route.verdict.as_str()
        );
        for side in [&route.baseline, &route.candidate] {
            let _ = write!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{} ({:.2}%)</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td></tr>",
                esc(&side.target),
                side.requests,
                side.rps,
                side.errors,
                side.error_pct,
                side.status_4xx,
                side.p50_ms,
                side.p95_ms,
                side.p99_ms,
                side.max_ms
            );
            if let Some(c) = &side.corrected {
                let _ = write!(
                    s,
                    "<tr><td>{} (CO-corrected)</td><td></td><td></td><td></td><td></td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td></td></tr>",
                    esc(&side.target),
                    c.p50_ms,
                    c.p95_ms,
                    c.p99_ms
                );
            }
        }
        s.push_str("</table><table class=\"bars\">");
        for bar in &route.distribution {
            let _ = write!(
                s,
                "<tr><td class=\"n\">≤ {:.2} ms</td><td style=\"width:320px\"><div class=\"b\" style=\"width:{:.1}%\"></div><div class=\"c\" style=\"width:{:.1}%\"></div></td><td class=\"n\">{:.1}% / {:.1}%</td></tr>",
                bar.to_ms, bar.baseline_pct, bar.candidate_pct, bar.baseline_pct, bar.candidate_pct
            );
        }
        s.push_str("</table>");
    }
    s.push_str("<h2>Over time</h2>");
    s.push_str(&chart(&r.timeline, "P95 ms", |p| p.p95_ms));
    s.push_str(&chart(&r.timeline, "error rate %", |p| p.error_pct));
    s.push_str(&chart(&r.timeline, "requests/s", |p| p.rps));
    s.push_str("</body></html>\n");
    s
}

/// A line chart of both sides over the run, as inline SVG.
fn chart(points: &[TimelinePoint], label: &str, value: impl Fn(&TimelinePoint) -> f64) -> String {
    let (w, h, pad) = (640.0, 160.0, 30.0);
    let max_t = points.iter().map(|p| p.start_s).max().unwrap_or(0).max(1) as f64;
    let max_v = points.iter().map(&value).fold(0.0, f64::max).max(1e-9);
    let mut s = format!(
        "<p>{} (max {max_v:.2})</p><svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(label),
        esc(label)
    );
    for (side, color) in [(Side::Baseline, "#5b8def"), (Side::Candidate, "#e8833a")] {
        let pts: Vec<String> = points
            .iter()
            .filter(|p| p.side == side)
            .map(|p| {
                let x = pad + (p.start_s as f64 / max_t) * (w - 2.0 * pad);
                let y = h - pad - (value(p) / max_v) * (h - 2.0 * pad);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#999\"/><text x=\"{pad}\" y=\"{ty}\" font-size=\"10\">0 s</text><text x=\"{x2}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"end\">{max_t:.0} s</text></svg>",
        y = h - pad,
        x2 = w - pad,
        ty = h - pad + 14.0
    );
    s
}
