//! summary.md sections beside the differences: contract conformance per route and side,
//! and the baseline (unhealthy secondaries, A/A routes). Formatting only, like every
//! renderer: nothing here is computed that report.json lacks.

use std::fmt::Write as _;

use super::model::Report;

/// Conformance per route and side; violations are listed under "Other findings".
pub(super) fn contracts(report: &Report, out: &mut String) {
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

/// Routes whose secondary could not serve as a baseline, and A/A routes.
pub(super) fn baseline(report: &Report, out: &mut String) {
    let unhealthy: Vec<_> = report
        .routes
        .iter()
        .filter_map(|r| Some((r, r.baseline.as_ref()?.unhealthy_sentence()?)))
        .collect();
    if !unhealthy.is_empty() {
        out.push_str("\n### Baseline\n\n");
        for (r, sentence) in unhealthy {
            let _ = writeln!(out, "- `{}`: {sentence}", r.route);
        }
    }
    let aa: Vec<_> = report
        .routes
        .iter()
        .filter(|r| r.pair == "primary_secondary")
        .map(|r| format!("`{}`", r.route))
        .collect();
    if !aa.is_empty() {
        let _ = writeln!(
            out,
            "\nA/A routes (no candidate; the secondary is compared with the primary): {}",
            aa.join(", ")
        );
    }
}
