//! `junit.xml`: one test case per route, failing when the route's gate fails, so CI systems
//! show parity like any other test result.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::markdown::display_path;
use super::model::{Gate, Report};

pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("cutover");
    let mut suite = TestSuite::new("cutover parity");
    for r in &report.routes {
        let status = match r.gate {
            Gate::Pass => TestCaseStatus::success(),
            Gate::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(r.failures.join("; "));
                let fired: Vec<&str> = r
                    .gates
                    .iter()
                    .filter(|g| g.fired)
                    .map(|g| g.gate.as_str())
                    .collect();
                s.set_type(if fired.is_empty() {
                    "parity".to_string()
                } else {
                    fired.join(",")
                });
                let mut description = String::new();
                for g in r.gates.iter().filter(|g| g.fired) {
                    description.push_str(&format!("{}: {}\n", g.gate.as_str(), g.message));
                }
                for d in &r.differences {
                    description.push_str(&format!(
                        "{} {} in {} of {} exchanges\n",
                        display_path(&d.path),
                        d.kind.as_str(),
                        d.count,
                        r.compared
                    ));
                    if let Some(who) = &d.identities {
                        description.push_str(&format!("  {}\n", who.summary));
                    }
                    for ex in d.examples.iter().take(2) {
                        description.push_str(&format!(
                            "  {}: primary {} / candidate {}\n",
                            ex.request,
                            ex.primary
                                .as_ref()
                                .map(|v| v.to_string())
                                .unwrap_or_default(),
                            ex.candidate
                                .as_ref()
                                .map(|v| v.to_string())
                                .unwrap_or_default()
                        ));
                    }
                }
                s.set_description(description);
                s
            }
        };
        let mut case = TestCase::new(r.route.clone(), status);
        case.set_classname(r.candidate.clone().unwrap_or_else(|| "unrouted".into()));
        case.set_assertions(r.compared as usize);
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    junit.to_string()
}
