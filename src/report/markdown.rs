//! `summary.md`: the report as a pull-request comment. Short: one table, then the counted
//! differences with one example each, suppressed noise folded away. Kept under GitHub's
//! comment limit.

use std::fmt::Write as _;

use super::model::{Gate, Report};
use crate::pipeline::gates::GateKind;

/// GitHub rejects comments over 65,536 characters; stay well below.
const MAX_CHARS: usize = 60_000;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let t = &report.totals;
    let verdict = match report.verdict {
        Gate::Pass => "✅ PASS",
        Gate::Fail => "❌ FAIL",
    };
    let _ = writeln!(
        out,
        "## cutover parity: {verdict} — {:.2}% parity over {} compared exchanges\n",
        t.parity * 100.0,
        t.compared
    );
    if !report.run.divergences.is_empty() {
        let _ = writeln!(
            out,
            "Reference system with divergences: `{}`\n",
            report.run.divergences.join("`, `")
        );
    }
    if let Some(o) = &t.overflow {
        let _ = writeln!(out, "⚠️ {}\n", o.sentence());
    }
    out.push_str(
        "| route | candidate | compared | parity | P95 primary → candidate | errors primary → candidate | gate |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for r in &report.routes {
        let errors = r
            .gates
            .iter()
            .find(|g| g.gate == GateKind::ErrorRate)
            .map_or("–".to_string(), |g| {
                format!("{:.1}% → {:.1}%", g.primary.unwrap_or(0.0), g.value)
            });
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.1}% | {:.1} → {:.1} ms | {} | {} |",
            r.route,
            r.candidate.as_deref().unwrap_or("–"),
            r.compared,
            r.parity * 100.0,
            r.latency.primary.p95_ms,
            r.latency.candidate.p95_ms,
            errors,
            match r.gate {
                Gate::Pass => "pass",
                Gate::Fail => "**fail**",
            }
        );
    }
    let failing: Vec<_> = report
        .routes
        .iter()
        .filter(|r| r.gate == Gate::Fail)
        .collect();
    if !failing.is_empty() {
        out.push_str("\n### What differs\n");
        for r in failing {
            let _ = writeln!(out, "\n**`{}`**", r.route);
            for f in &r.failures {
                let _ = writeln!(out, "- {f}");
            }
            // Array positions folded (`/0/id`, `/1/id` → `/*/id`): one line per shape.
            let mut shown: Vec<(String, &str)> = Vec::new();
            for d in &r.differences {
                let shape = (index_shape(&d.path), d.kind.as_str());
                if shown.contains(&shape) {
                    continue;
                }
                let positions = r
                    .differences
                    .iter()
                    .filter(|x| x.kind == d.kind && index_shape(&x.path) == shape.0)
                    .count();
                let _ = write!(
                    out,
                    "- `{}` {} in {} of {} exchanges",
                    display_path(&shape.0),
                    shape.1,
                    d.count,
                    r.compared
                );
                if positions > 1 {
                    let _ = write!(out, " (at {positions} array positions)");
                }
                if let Some(ex) = d.examples.first() {
                    let _ = write!(
                        out,
                        " — e.g. `{}`: primary `{}`, candidate `{}`",
                        ex.request,
                        short(ex.primary.as_ref()),
                        short(ex.candidate.as_ref())
                    );
                }
                out.push('\n');
                shown.push(shape);
            }
        }
    }
    contracts_section(report, &mut out);
    if report.routes.iter().any(|r| !r.findings.is_empty()) {
        out.push_str("\n### Other findings\n\n");
        for r in &report.routes {
            for f in &r.findings {
                let example = f.examples.first().map_or("", |e| e.message.as_str());
                let _ = writeln!(
                    out,
                    "- `{}` {} ({}) `{}` in {} exchanges: {}",
                    r.route, f.kind, f.analyzer, f.code, f.count, example
                );
            }
        }
    }
    let suppressed: usize = report.routes.iter().map(|r| r.suppressed.len()).sum();
    if suppressed > 0 {
        let _ = writeln!(
            out,
            "\n<details><summary>Suppressed as noise ({suppressed} route paths)</summary>\n"
        );
        for r in &report.routes {
            for s in &r.suppressed {
                let reasons: Vec<String> = s
                    .reasons
                    .iter()
                    .map(|rc| format!("{} ({}×)", rc.reason, rc.count))
                    .collect();
                let _ = writeln!(
                    out,
                    "- `{}` `{}`: {}",
                    r.route,
                    display_path(&s.path),
                    reasons.join("; ")
                );
            }
        }
        out.push_str("\n</details>\n");
    }
    if out.len() > MAX_CHARS {
        let mut end = MAX_CHARS;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("\n\n… (cut; see report.json / index.html for the rest)\n");
    }
    out
}

/// `/3/id` → `/*/id`: array positions replaced by `*`.
pub fn index_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// JSON Pointer `""` is the whole body.
pub fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn short(v: Option<&serde_json::Value>) -> String {
    let Some(v) = v else {
        return "(absent)".into();
    };
    let s = v.to_string().replace('`', "'");
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Conformance per route and side; violations are listed under "Other findings".
fn contracts_section(report: &Report, out: &mut String) {
    use super::contracts::phrase;
    let Some(t) = &report.totals.contracts else {
        return;
    };
    let _ = writeln!(
        out,
        "\n### Contracts\n\nRequests {}, primary {}, candidate {}; {} routes covered, {} uncovered.\n",
        phrase(&t.request),
        phrase(&t.primary),
        phrase(&t.candidate),
        t.routes_covered,
        t.routes_uncovered
    );
    out.push_str("| route | coverage | request | primary | candidate | violations |\n");
    out.push_str("|---|---|---|---|---|---:|\n");
    for r in &report.routes {
        let Some(c) = &r.contracts else { continue };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.route,
            c.coverage(),
            phrase(&c.request),
            phrase(&c.primary),
            phrase(&c.candidate),
            c.violations.iter().map(|v| v.count).sum::<u64>()
        );
    }
}
