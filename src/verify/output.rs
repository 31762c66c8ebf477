//! What `cutover verify` shows and writes: the human summary (each failing step with its
//! file:line, the request as a curl line, the failed assertions and the differences),
//! JUnit XML (quick-junit: a testsuite per scenario file, a testcase per step run with
//! `file` and `line` attributes) and JSON (`cutover.verify/v1`).
//!
//! Renders only what the outcome holds; every value shown is already redacted or is
//! redacted here (differences) by the configured redaction rules.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;
use serde_json::Value;

use super::VerifyOutcome;
use crate::compare::Difference;
use crate::redact::{self, Redaction};
use crate::scenario::{ScenarioResult, SideRun, StepResult};

/// The JSON output's format name.
pub const FORMAT: &str = "cutover.verify/v1";

fn step_title(s: &StepResult) -> String {
    match s.iteration {
        Some(i) => format!("{} [{i}]", s.name),
        None => s.name.clone(),
    }
}

fn redacted(d: &Difference, rules: &Redaction) -> Difference {
    let mut d = d.clone();
    redact::redact_difference(&mut d, rules);
    d
}

fn show(v: &Option<Value>) -> String {
    v.as_ref()
        .map_or_else(|| "(absent)".into(), |v| v.to_string())
}

/// One line per difference: `path  kind  primary → other`.
fn difference_line(d: &Difference) -> String {
    let mut line = format!(
        "{}  {}  {} → {}",
        if d.path.is_empty() { "/" } else { &d.path },
        d.kind.as_str(),
        show(&d.primary),
        show(&d.candidate)
    );
    if let Some(detail) = &d.detail {
        for l in detail.lines().take(12) {
            let _ = write!(line, "\n      {l}");
        }
    }
    line
}

fn side_lines(out: &mut String, label: &str, side: &SideRun, verbose: bool) {
    if let Some(why) = &side.skipped
        && side.failures.is_empty()
    {
        if verbose {
            let _ = writeln!(out, "      {label}: {why}");
        }
        return;
    }
    if side.failures.is_empty() && !verbose {
        return;
    }
    if let Some(curl) = &side.curl {
        let _ = writeln!(out, "      {label} request: {curl}");
    }
    if let Some(r) = side.outcome.as_ref().and_then(|o| o.response()) {
        let _ = writeln!(
            out,
            "      {label} answered {} in {} ms",
            r.status,
            r.total_us / 1000
        );
    }
    for f in &side.failures {
        let _ = writeln!(out, "      {label} assertion failed: {f}");
    }
}

/// The human summary.
pub fn human(o: &VerifyOutcome, rules: &Redaction) -> String {
    let mut out = String::new();
    let target = &o.target;
    for r in &o.results {
        let _ = writeln!(
            out,
            "{} {}  ({})",
            if r.passed() { "PASS" } else { "FAIL" },
            r.name,
            r.file
        );
        for s in &r.steps {
            let mark = if !s.passed() {
                "FAIL"
            } else if s.skipped() {
                "skip"
            } else {
                "ok"
            };
            let _ = writeln!(out, "  {mark:<4}  {}  {}:{}", step_title(s), r.file, s.line);
            if s.passed() {
                continue;
            }
            side_lines(&mut out, target, &s.target, false);
            if let (Some(a), Some(name)) = (&s.against, &o.against) {
                side_lines(&mut out, name, a, false);
            }
            if !s.differences.is_empty() {
                if s.target.failures.is_empty()
                    && let Some(curl) = &s.target.curl
                {
                    let _ = writeln!(out, "      {target} request: {curl}");
                }
                let _ = writeln!(
                    out,
                    "      differences {target} → {}:",
                    o.against.as_deref().unwrap_or("?")
                );
                for d in &s.differences {
                    let _ = writeln!(out, "        {}", difference_line(&redacted(d, rules)));
                }
            }
        }
    }
    let steps: Vec<&StepResult> = o.results.iter().flat_map(|r| &r.steps).collect();
    let failed = steps.iter().filter(|s| !s.passed()).count();
    let divergent = steps.iter().filter(|s| !s.differences.is_empty()).count();
    let skipped = steps.iter().filter(|s| s.skipped()).count();
    let _ = writeln!(
        out,
        "verify: {} — {} scenarios, {} step runs: {} passed, {} failed{}, {} skipped ({}{})",
        if failed == 0 { "PASS" } else { "FAIL" },
        o.results.len(),
        steps.len(),
        steps.len() - failed - skipped,
        failed,
        if o.against.is_some() {
            format!(" ({divergent} with differences)")
        } else {
            String::new()
        },
        skipped,
        target,
        o.against
            .as_ref()
            .map(|a| format!(" against {a}"))
            .unwrap_or_default()
    );
    out
}

/// JUnit XML: a testsuite per scenario file, a testcase per step run.
pub fn junit(o: &VerifyOutcome, rules: &Redaction) -> Result<String, quick_junit::SerializeError> {
    let mut report = quick_junit::Report::new("cutover verify");
    for r in &o.results {
        let mut suite = TestSuite::new(r.file.clone());
        for s in &r.steps {
            let status = if !s.passed() {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let mut msgs: Vec<String> = Vec::new();
                let sides = std::iter::once((&o.target, &s.target))
                    .chain(o.against.as_ref().zip(s.against.as_ref()));
                let mut description = String::new();
                for (name, side) in sides {
                    msgs.extend(side.failures.iter().map(|f| format!("{name}: {f}")));
                    if let Some(c) = &side.curl {
                        let _ = writeln!(description, "{name}: {c}");
                    }
                }
                if !s.differences.is_empty() {
                    msgs.push(format!("{} differences", s.differences.len()));
                    for d in &s.differences {
                        let _ = writeln!(description, "{}", difference_line(&redacted(d, rules)));
                    }
                }
                st.set_message(msgs.join("; "));
                st.set_type(if s.differences.is_empty() {
                    "assertion"
                } else {
                    "divergence"
                });
                st.set_description(description);
                st
            } else if s.skipped() {
                TestCaseStatus::skipped()
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(step_title(s), status);
            case.set_classname(r.name.clone());
            case.extra.insert("file".into(), r.file.clone().into());
            case.extra.insert("line".into(), s.line.to_string().into());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

#[derive(Serialize)]
struct JsonOut<'a> {
    format: &'static str,
    target: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    against: Option<&'a str>,
    passed: bool,
    scenarios: Vec<JsonScenario<'a>>,
}

#[derive(Serialize)]
struct JsonScenario<'a> {
    file: &'a str,
    name: &'a str,
    passed: bool,
    steps: Vec<JsonStep<'a>>,
}

#[derive(Serialize)]
struct JsonStep<'a> {
    name: &'a str,
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    iteration: Option<usize>,
    setup: bool,
    status: &'static str,
    target: JsonSide<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    against: Option<JsonSide<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    differences: Vec<Difference>,
}

#[derive(Serialize)]
struct JsonSide<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_ms: Option<f64>,
    failures: &'a [String],
}

fn json_side(s: &SideRun) -> JsonSide<'_> {
    let resp = s.outcome.as_ref().and_then(|o| o.response());
    JsonSide {
        skipped: s.skipped.as_deref(),
        request: s.curl.as_deref(),
        status: resp.map(|r| r.status),
        total_ms: resp.map(|r| r.total_us as f64 / 1000.0),
        failures: &s.failures,
    }
}

fn json_scenario<'a>(r: &'a ScenarioResult, rules: &Redaction) -> JsonScenario<'a> {
    JsonScenario {
        file: &r.file,
        name: &r.name,
        passed: r.passed(),
        steps: r
            .steps
            .iter()
            .map(|s| JsonStep {
                name: &s.name,
                line: s.line,
                iteration: s.iteration,
                setup: s.setup,
                status: if !s.passed() {
                    "failed"
                } else if s.skipped() {
                    "skipped"
                } else {
                    "passed"
                },
                target: json_side(&s.target),
                against: s.against.as_ref().map(json_side),
                differences: s.differences.iter().map(|d| redacted(d, rules)).collect(),
            })
            .collect(),
    }
}

/// The JSON output.
pub fn json(o: &VerifyOutcome, rules: &Redaction) -> String {
    let out = JsonOut {
        format: FORMAT,
        target: &o.target,
        against: o.against.as_deref(),
        passed: o.passed(),
        scenarios: o.results.iter().map(|r| json_scenario(r, rules)).collect(),
    };
    serde_json::to_string_pretty(&out).unwrap_or_default()
}
