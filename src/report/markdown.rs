//! `summary.md`: the report as a pull-request comment. Failing routes first, worst first;
//! each failing route's status changes lead, with the differences they brought folded
//! beneath; one example each (text bodies as a ```diff block); suppressed noise folded away.
//!
//! It always fits a GitHub comment (65,536 characters): when the full rendering is too
//! long, detail is given up in this order — the suppressed-noise list, the passing routes'
//! rows (collapsed to a count), diff blocks, examples, then all but the leading groups of
//! each failing route. A failing route is never left out unless even one line per failing
//! route does not fit (thousands of failing routes), and then the cut is said.

use std::fmt::Write as _;

use super::model::{Gate, Report, RouteReport};
use super::view::{self, Group, cut_chars, short_value};
use crate::pipeline::gates::GateKind;

pub use super::view::{display_path, index_shape};

/// GitHub rejects comments over 65,536 characters; stay below it in bytes (≥ characters).
pub const MAX_BYTES: usize = 60_000;

/// Lines of a text diff shown in a ```diff block.
const DIFF_LINES: usize = 24;

/// How much detail one rendering gives.
#[derive(Debug, Clone, Copy)]
struct Detail {
    /// One table row per passing route (else a count).
    passing_rows: bool,
    /// The suppressed-noise list (else a count).
    suppressed: bool,
    /// ```diff blocks for text bodies.
    diffs: bool,
    /// One example per group.
    examples: bool,
    /// Groups shown per failing route (leads count first).
    max_groups: usize,
    /// Other analyzers' findings listed (else counted).
    findings: bool,
}

const LEVELS: [Detail; 7] = [
    Detail {
        passing_rows: true,
        suppressed: true,
        diffs: true,
        examples: true,
        max_groups: usize::MAX,
        findings: true,
    },
    Detail {
        passing_rows: true,
        suppressed: false,
        diffs: true,
        examples: true,
        max_groups: usize::MAX,
        findings: true,
    },
    Detail {
        passing_rows: false,
        suppressed: false,
        diffs: true,
        examples: true,
        max_groups: usize::MAX,
        findings: true,
    },
    Detail {
        passing_rows: false,
        suppressed: false,
        diffs: false,
        examples: true,
        max_groups: usize::MAX,
        findings: true,
    },
    Detail {
        passing_rows: false,
        suppressed: false,
        diffs: false,
        examples: false,
        max_groups: 12,
        findings: true,
    },
    Detail {
        passing_rows: false,
        suppressed: false,
        diffs: false,
        examples: false,
        max_groups: 4,
        findings: false,
    },
    Detail {
        passing_rows: false,
        suppressed: false,
        diffs: false,
        examples: false,
        max_groups: 1,
        findings: false,
    },
];

pub fn render(report: &Report) -> String {
    for detail in LEVELS {
        if let Some(text) = render_with(report, detail, usize::MAX) {
            return text;
        }
    }
    // One line per failing route does not fit: as many failing routes as fit, then the cut
    // said in words.
    let (mut lo, mut hi) = (0, report.totals.routes_failing);
    let last = LEVELS[LEVELS.len() - 1];
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if render_with(report, last, mid).is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    render_with(report, last, lo).unwrap_or_default()
}

/// The summary at one level of detail with at most `max_failing` failing routes, or `None`
/// as soon as it exceeds [`MAX_BYTES`] (the work per attempt stays bounded by the limit).
fn render_with(report: &Report, detail: Detail, max_failing: usize) -> Option<String> {
    let mut out = String::new();
    let t = &report.totals;
    let verdict = match report.verdict {
        Gate::Pass => "✅ PASS",
        Gate::Fail => "❌ FAIL",
    };
    let _ = writeln!(
        out,
        "## cutover parity: {verdict} — {:.2}% parity over {} compared exchanges, {} of {} routes failing\n",
        t.parity * 100.0,
        t.compared,
        t.routes_failing,
        report.routes.len()
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
    let failing: Vec<&RouteReport> = report
        .routes
        .iter()
        .filter(|r| r.gate == Gate::Fail)
        .collect();
    let passing = report.routes.len() - failing.len();
    let shown_failing = &failing[..failing.len().min(max_failing)];
    let rows: Vec<&RouteReport> = if detail.passing_rows {
        shown_failing
            .iter()
            .copied()
            .chain(report.routes.iter().filter(|r| r.gate == Gate::Pass))
            .collect()
    } else {
        shown_failing.to_vec()
    };
    if !rows.is_empty() {
        table(&mut out, &rows)?;
    }
    if shown_failing.len() < failing.len() {
        let _ = writeln!(
            out,
            "\n… {} more failing routes not listed here (the comment would exceed GitHub's \
             limit); see report.json or index.html.",
            failing.len() - shown_failing.len()
        );
    }
    if !detail.passing_rows && passing > 0 {
        let _ = writeln!(
            out,
            "\n✅ {passing} passing routes not listed (see index.html for every route)."
        );
    }
    if !shown_failing.is_empty() {
        out.push_str("\n### What differs\n");
        for r in shown_failing {
            route_details(&mut out, r, detail);
            fits(&out)?;
        }
    }
    super::md_sections::contracts(report, &mut out);
    super::md_sections::baseline(report, &mut out);
    super::translation::markdown(report, &mut out);
    findings(&mut out, report, detail);
    fits(&out)?;
    suppressed(&mut out, report, detail);
    fits(&out)?;
    Some(out)
}

fn fits(out: &str) -> Option<()> {
    (out.len() <= MAX_BYTES).then_some(())
}

fn table(out: &mut String, rows: &[&RouteReport]) -> Option<()> {
    out.push_str(
        "| route | candidate | compared | parity | P95 primary → candidate | errors primary → candidate | gate |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for r in rows {
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
        fits(out)?;
    }
    Some(())
}

fn route_details(out: &mut String, r: &RouteReport, detail: Detail) {
    let _ = writeln!(out, "\n**`{}`**", r.route);
    for f in &r.failures {
        let _ = writeln!(out, "- {f}");
    }
    if r.candidate_errors > 0 {
        let _ = writeln!(
            out,
            "- {} errors: {} ({} answered 5xx, {} transport failures)",
            other_side(r),
            r.candidate_errors,
            r.candidate_5xx,
            r.candidate_errors - r.candidate_5xx
        );
    }
    // Status changes attributed to the identities that saw them.
    for st in r
        .status_matrix
        .iter()
        .filter(|st| st.primary != st.candidate)
    {
        if let Some(who) = &st.identities {
            let _ = writeln!(
                out,
                "- status {} → {} in {} exchanges {}",
                st.primary, st.candidate, st.count, who.summary
            );
        }
    }
    let view = view::route_view(r);
    let mut budget = detail.max_groups;
    let mut hidden = 0usize;
    for lead in &view.leads {
        if budget == 0 {
            hidden += 1 + lead.folded.len();
            continue;
        }
        budget -= 1;
        let _ = write!(
            out,
            "- **{}** in {} of {} exchanges",
            lead.title(),
            lead.group.count,
            r.compared
        );
        example(out, &lead.group, detail, "  ");
        for g in &lead.folded {
            if budget == 0 {
                hidden += 1;
                continue;
            }
            budget -= 1;
            group_line(out, g, r, detail, "  ");
        }
    }
    for g in &view.rest {
        if budget == 0 {
            hidden += 1;
            continue;
        }
        budget -= 1;
        group_line(out, g, r, detail, "");
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "- … {hidden} more differing paths (see report.json or index.html)"
        );
    }
}

fn group_line(out: &mut String, g: &Group<'_>, r: &RouteReport, detail: Detail, indent: &str) {
    let _ = write!(
        out,
        "{indent}- `{}` {} in {} of {} exchanges",
        g.shape,
        g.kind.as_str(),
        g.count,
        r.compared
    );
    if g.positions() > 1 {
        let _ = write!(out, " (at {} array positions)", g.positions());
    }
    if let Some(who) = g.members.first().and_then(|d| d.identities.as_ref()) {
        let _ = write!(out, " — {}", who.summary);
    }
    example(out, g, detail, &format!("{indent}  "));
}

/// The group's first example after the line, and its diff block when it is a text diff;
/// ends the line.
fn example(out: &mut String, g: &Group<'_>, detail: Detail, indent: &str) {
    let Some(ex) = g.examples(1).into_iter().next().filter(|_| detail.examples) else {
        out.push('\n');
        return;
    };
    let request = ex.request.replace('`', "'");
    if g.kind == crate::compare::DiffKind::Status {
        // The pair is in the headline already.
        let _ = writeln!(out, " — e.g. `{request}`");
        return;
    }
    match view::diff_lines(ex).filter(|_| view::shows_as_diff(ex)) {
        Some(lines) => {
            let _ = writeln!(out, " — e.g. `{request}`");
            if detail.diffs {
                let _ = writeln!(out, "{indent}```diff");
                for l in lines.iter().take(DIFF_LINES) {
                    let _ = writeln!(out, "{indent}{}", l.text.replace("```", "'''"));
                }
                if lines.len() > DIFF_LINES {
                    let _ = writeln!(out, "{indent}… {} more lines", lines.len() - DIFF_LINES);
                }
                let _ = writeln!(out, "{indent}```");
            }
        }
        None => {
            let _ = write!(
                out,
                " — e.g. `{request}`: primary `{}`, candidate `{}`",
                short_value(ex.primary.as_ref(), 60).replace('`', "'"),
                short_value(ex.candidate.as_ref(), 60).replace('`', "'")
            );
            if ex.primary.is_none()
                && ex.candidate.is_none()
                && let Some(d) = &ex.detail
            {
                let _ = write!(
                    out,
                    " ({})",
                    cut_chars(d.lines().next().unwrap_or(""), 100).replace('`', "'")
                );
            }
            out.push('\n');
        }
    }
}

fn findings(out: &mut String, report: &Report, detail: Detail) {
    let count: usize = report.routes.iter().map(|r| r.findings.len()).sum();
    if count == 0 {
        return;
    }
    if !detail.findings {
        let _ = writeln!(
            out,
            "\n{count} findings of other analyzers not listed (see report.json)."
        );
        return;
    }
    out.push_str("\n### Other findings\n\n");
    for r in &report.routes {
        for f in &r.findings {
            let example = f.examples.first().map_or("", |e| e.message.as_str());
            let _ = writeln!(
                out,
                "- `{}` {} ({}) `{}` in {} exchanges: {}",
                r.route,
                f.kind,
                f.analyzer,
                f.code,
                f.count,
                cut_chars(example, 200)
            );
        }
    }
}

fn suppressed(out: &mut String, report: &Report, detail: Detail) {
    let groups: Vec<(&str, Vec<view::SuppressedGroup>)> = report
        .routes
        .iter()
        .map(|r| (r.route.as_str(), view::suppressed_groups(r)))
        .filter(|(_, g)| !g.is_empty())
        .collect();
    let count: usize = groups.iter().map(|(_, g)| g.len()).sum();
    if count == 0 {
        return;
    }
    if !detail.suppressed {
        let _ = writeln!(
            out,
            "\n{count} route paths suppressed as noise, each with its reason in index.html."
        );
        return;
    }
    let _ = writeln!(
        out,
        "\n<details><summary>Suppressed as noise ({count} route paths)</summary>\n"
    );
    for (route, groups) in &groups {
        for s in groups {
            let reasons: Vec<String> = s
                .reasons
                .iter()
                .map(|rc| format!("{} ({}×)", rc.reason, rc.count))
                .collect();
            let positions = if s.positions > 1 {
                format!(" (at {} array positions)", s.positions)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "- `{route}` `{}`{positions}: {}",
                s.shape,
                reasons.join("; ")
            );
        }
    }
    out.push_str("\n</details>\n");
}

/// What the primary was compared with on a route.
fn other_side(r: &super::model::RouteReport) -> &'static str {
    if r.pair == "primary_secondary" {
        "secondary"
    } else {
        "candidate"
    }
}
