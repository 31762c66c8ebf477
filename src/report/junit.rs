//! `junit.xml`: one test case per route (worst first), failing when the route's gate fails,
//! so CI systems show parity like any other test result.
//!
//! A failure's `type` is the kind of what leads it: `status` (or `transport`) when the
//! route's candidate changed status, else the first difference's kind (`value_changed`,
//! `missing`, `text`, ...), else the first fired gate (`latency_p95`, `error_rate`, ...),
//! else the first other finding's kind (`contract_violation`, ...). The message starts with
//! that headline; the description lists every fired gate and difference group the way
//! `summary.md` does. The report and its suite carry the run's `timestamp` and `time`.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::model::{Gate, Report, RouteReport};
use super::view::{self, Group, value_text};

pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("cutover");
    let mut suite = TestSuite::new("cutover parity");
    let timestamp = report.run.generated_at.fixed_offset();
    junit.set_timestamp(timestamp);
    suite.set_timestamp(timestamp);
    if let Some(ms) = report.run.duration_ms {
        let time = std::time::Duration::from_millis(ms);
        junit.set_time(time);
        suite.set_time(time);
    }
    for r in &report.routes {
        let status = match r.gate {
            Gate::Pass => TestCaseStatus::success(),
            Gate::Fail => failure(r),
        };
        let mut case = TestCase::new(r.route.clone(), status);
        case.set_classname(r.candidate.clone().unwrap_or_else(|| "unrouted".into()));
        case.set_assertions(r.compared as usize);
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    junit.to_string()
}

fn failure(r: &RouteReport) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    let (ty, headline) = view::headline(r);
    let mut message = headline;
    for f in &r.failures {
        message.push_str("; ");
        message.push_str(f);
    }
    s.set_message(message);
    s.set_type(ty);
    let mut description = String::new();
    for g in r.gates.iter().filter(|g| g.fired) {
        description.push_str(&format!("{}: {}\n", g.gate.as_str(), g.message));
    }
    let view = view::route_view(r);
    for lead in &view.leads {
        description.push_str(&format!(
            "{} in {} of {} exchanges\n",
            lead.title(),
            lead.group.count,
            r.compared
        ));
        examples(&mut description, &lead.group, "  ");
        for g in &lead.folded {
            group(&mut description, g, r, "  ");
        }
    }
    for g in &view.rest {
        group(&mut description, g, r, "");
    }
    for f in &r.findings {
        description.push_str(&format!(
            "{} ({}) {} in {} exchanges\n",
            f.kind, f.analyzer, f.code, f.count
        ));
    }
    s.set_description(description);
    s
}

fn group(out: &mut String, g: &Group<'_>, r: &RouteReport, indent: &str) {
    out.push_str(&format!(
        "{indent}{} in {} of {} exchanges",
        g.title(),
        g.count,
        r.compared
    ));
    if g.positions() > 1 {
        out.push_str(&format!(" (at {} array positions)", g.positions()));
    }
    out.push('\n');
    if let Some(who) = g.members.first().and_then(|d| d.identities.as_ref()) {
        out.push_str(&format!("{indent}  {}\n", who.summary));
    }
    examples(out, g, &format!("{indent}  "));
}

fn examples(out: &mut String, g: &Group<'_>, indent: &str) {
    for ex in g.examples(2) {
        match view::diff_lines(ex).filter(|_| view::shows_as_diff(ex)) {
            Some(lines) => {
                out.push_str(&format!("{indent}{}:\n", ex.request));
                for l in lines {
                    out.push_str(&format!("{indent}  {}\n", l.text));
                }
            }
            None => out.push_str(&format!(
                "{indent}{}: primary {} / candidate {}\n",
                ex.request,
                value_text(ex.primary.as_ref()),
                value_text(ex.candidate.as_ref())
            )),
        }
    }
}
