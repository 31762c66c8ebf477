//! The report's contract sections: per route, each side's conformance (checked, conforming,
//! violating), exchanges no contract covers, and each violation with its instance path,
//! schema path and redacted examples; in the totals, the same summed; and the `contract`
//! gate, decided from `[contracts] fail_on` and `undocumented_status_fails`.
//!
//! Owns these report types and the contract gate's rule. Never re-checks anything: it reads
//! the aggregate's [`ConformanceStats`].

use serde::{Deserialize, Serialize};

use crate::config::{Config, ContractGate};
use crate::contract::ViolationKind;
use crate::pipeline::conformance::{ConformanceStats, SideCounts, ViolationExample};
use crate::pipeline::contracts::Side;
use crate::pipeline::gates::{GateKind, GateResult};

/// One route's conformance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteContracts {
    /// Exchanges no contract covers (a route without a contract is never passing).
    pub uncovered: u64,
    pub request: SideCounts,
    pub primary: SideCounts,
    pub candidate: SideCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<SideCounts>,
    pub violations: Vec<ViolationReport>,
}

impl RouteContracts {
    /// `covered`, `uncovered` or `partly covered`.
    pub fn coverage(&self) -> &'static str {
        match (self.request.checked > 0, self.uncovered > 0) {
            (true, false) => "covered",
            (false, _) => "uncovered",
            (true, true) => "partly covered",
        }
    }
}

/// One distinct violation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViolationReport {
    pub side: Side,
    pub kind: ViolationKind,
    /// JSON pointer into the body, array indices folded to `*`.
    pub instance_path: String,
    /// The contract file and the schema keyword that failed.
    pub schema_path: String,
    pub count: u64,
    pub examples: Vec<ViolationExample>,
}

/// Conformance over every route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContractTotals {
    pub routes_covered: usize,
    pub routes_uncovered: usize,
    pub request: SideCounts,
    pub primary: SideCounts,
    pub candidate: SideCounts,
    /// Exchanges no contract covers.
    pub uncovered: u64,
}

/// A side's conformance as one phrase: `12/12 conform`.
pub fn phrase(c: &SideCounts) -> String {
    if c.checked == 0 {
        return "not checked".into();
    }
    format!("{}/{} conform", c.conforming, c.checked)
}

/// The route section, when the route was checked at all.
pub fn route_contracts(stats: &ConformanceStats) -> Option<RouteContracts> {
    if stats.is_empty() {
        return None;
    }
    let side = |s: Side| stats.sides.get(&s).copied().unwrap_or_default();
    let mut violations: Vec<ViolationReport> = stats
        .violations
        .iter()
        .map(|(k, c)| ViolationReport {
            side: k.side,
            kind: k.kind,
            instance_path: k.instance_path.clone(),
            schema_path: k.schema_path.clone(),
            count: c.count,
            examples: c.examples.clone(),
        })
        .collect();
    violations.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.side.cmp(&b.side)));
    Some(RouteContracts {
        uncovered: stats.uncovered,
        request: side(Side::Request),
        primary: side(Side::Primary),
        candidate: side(Side::Candidate),
        secondary: stats.sides.get(&Side::Secondary).copied(),
        violations,
    })
}

/// The sum over routes, when any route was checked.
pub fn totals<'a>(
    routes: impl Iterator<Item = Option<&'a RouteContracts>>,
) -> Option<ContractTotals> {
    let mut t = ContractTotals::default();
    let mut any = false;
    for r in routes.flatten() {
        any = true;
        if r.request.checked > 0 {
            t.routes_covered += 1;
        } else {
            t.routes_uncovered += 1;
        }
        t.uncovered += r.uncovered;
        for (sum, s) in [
            (&mut t.request, &r.request),
            (&mut t.primary, &r.primary),
            (&mut t.candidate, &r.candidate),
        ] {
            sum.checked += s.checked;
            sum.conforming += s.conforming;
            sum.violating += s.violating;
        }
    }
    any.then_some(t)
}

/// The `contract` gate of a route: fires when a gated side has a counted violation.
/// `None` when the route was not checked or `fail_on = "none"`.
pub fn gate(contracts: Option<&RouteContracts>, config: &Config) -> Option<GateResult> {
    let c = contracts?;
    if c.request.checked == 0 {
        return None;
    }
    let (fail_on, undocumented) = match &config.file.contracts {
        Some(cfg) => (cfg.fail_on, cfg.undocumented_status_fails),
        None => (ContractGate::Candidate, true),
    };
    let gated = |side: Side| match fail_on {
        ContractGate::None => false,
        ContractGate::Candidate => side == Side::Candidate,
        ContractGate::Any => side != Side::Request,
    };
    if fail_on == ContractGate::None {
        return None;
    }
    let counted: Vec<&ViolationReport> = c
        .violations
        .iter()
        .filter(|v| gated(v.side) && (undocumented || v.kind != ViolationKind::UndocumentedStatus))
        .collect();
    let total: u64 = counted.iter().map(|v| v.count).sum();
    let who = match fail_on {
        ContractGate::Candidate => "the candidate",
        _ => "an answer",
    };
    let message = if total == 0 {
        format!("no contract violation by {who}")
    } else {
        let mut kinds: Vec<&str> = counted.iter().map(|v| v.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        format!(
            "{total} contract violations by {who} ({}); first: {} at `{}`",
            kinds.join(", "),
            counted[0].kind.as_str(),
            if counted[0].instance_path.is_empty() {
                "/"
            } else {
                &counted[0].instance_path
            }
        )
    };
    Some(GateResult {
        gate: GateKind::Contract,
        fired: total > 0,
        value: total as f64,
        limit: 0.0,
        unit: "violations".into(),
        primary: None,
        secondary: None,
        message,
    })
}
