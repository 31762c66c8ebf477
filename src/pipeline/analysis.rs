//! What analyzers conclude about one exchange: an [`Analysis`] holding the exchange's
//! [`RouteKey`], the parity [`Verdict`] and typed [`Finding`]s from every analyzer.
//!
//! The finding kinds are a closed enum: parity differences (counted or suppressed with a
//! reason), and contract violations, assertion failures and triggers for analyzers to come.
//! Nothing here compares or aggregates; it is the data analyzers hand to aggregates and sinks.

use serde::{Deserialize, Serialize};

use super::route::RouteKey;
use crate::compare::Difference;

/// Everything the analyzers concluded about one exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The route the exchange was grouped into, once, before any analyzer ran.
    pub route: RouteKey,
    /// The parity verdict (`not_compared` until the parity analyzer compares).
    pub verdict: Verdict,
    /// Typed findings, in the order the analyzers added them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Differences between primary and secondary (what two identical deployments disagree
    /// on): the parity analyzer's baseline, not a finding about the candidate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise: Vec<Difference>,
    /// Contract checks of the request and each answer (empty without `[contracts]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<super::contracts::SideCheck>,
}

/// One typed finding about an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// A primary ≠ candidate difference that counts.
    Difference(Difference),
    /// A primary ≠ candidate difference classified as noise, with the reason.
    Suppressed(Suppressed),
    /// The candidate's answer breaks a contract (e.g. an OpenAPI response schema).
    ContractViolation(Note),
    /// A scenario assertion that did not hold.
    AssertionFailed(Note),
    /// A rollback trigger observed on this exchange.
    Trigger(Note),
}

impl Finding {
    /// `difference`, `suppressed`, `contract_violation`, `assertion_failed`, `trigger`.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Difference(_) => "difference",
            Finding::Suppressed(_) => "suppressed",
            Finding::ContractViolation(_) => "contract_violation",
            Finding::AssertionFailed(_) => "assertion_failed",
            Finding::Trigger(_) => "trigger",
        }
    }

    /// The note of a non-parity finding.
    pub fn note(&self) -> Option<&Note> {
        match self {
            Finding::ContractViolation(n) | Finding::AssertionFailed(n) | Finding::Trigger(n) => {
                Some(n)
            }
            Finding::Difference(_) | Finding::Suppressed(_) => None,
        }
    }
}

/// A non-parity finding: which analyzer, a stable code to count by, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The analyzer that found it (its [`super::Analyzer::name`]).
    pub analyzer: String,
    /// What is counted together (a schema path, an assertion name, a trigger name).
    pub code: String,
    /// One sentence for people (already redacted by the analyzer).
    pub message: String,
}

/// A difference that is not counted, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    pub difference: Difference,
    pub reason: String,
    /// Suppressed by learned noise (counts so far), not by a rule or normaliser: the report
    /// decides again over the final counts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The candidate answered like the primary (modulo noise).
    Match,
    /// At least one difference counts.
    Mismatch,
    /// No candidate outcome to compare (not mirrored, or dropped), or no primary answer to
    /// compare it with (the client went away first).
    NotCompared,
}

impl Analysis {
    /// A fresh analysis of an exchange grouped into `route`: nothing compared yet.
    pub fn new(route: RouteKey) -> Analysis {
        Analysis {
            route,
            verdict: Verdict::NotCompared,
            findings: Vec::new(),
            noise: Vec::new(),
            contracts: Vec::new(),
        }
    }

    /// An exchange with no candidate outcome to compare.
    pub fn not_compared(route: RouteKey) -> Analysis {
        Analysis::new(route)
    }

    /// A compared exchange; the verdict follows from whether any difference counts.
    pub fn compared(
        route: RouteKey,
        differences: Vec<Difference>,
        suppressed: Vec<Suppressed>,
        noise: Vec<Difference>,
    ) -> Analysis {
        let mut a = Analysis::new(route);
        a.set_parity(differences, suppressed, noise);
        a
    }

    /// Record the parity comparison: its findings, baseline and verdict.
    pub fn set_parity(
        &mut self,
        differences: Vec<Difference>,
        suppressed: Vec<Suppressed>,
        noise: Vec<Difference>,
    ) {
        self.verdict = if differences.is_empty() {
            Verdict::Match
        } else {
            Verdict::Mismatch
        };
        self.findings
            .extend(differences.into_iter().map(Finding::Difference));
        self.findings
            .extend(suppressed.into_iter().map(Finding::Suppressed));
        self.noise = noise;
    }

    /// Add a finding.
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Parity differences that count.
    pub fn differences(&self) -> impl Iterator<Item = &Difference> + '_ {
        self.findings.iter().filter_map(|f| match f {
            Finding::Difference(d) => Some(d),
            _ => None,
        })
    }

    /// Parity differences classified as noise.
    pub fn suppressed(&self) -> impl Iterator<Item = &Suppressed> + '_ {
        self.findings.iter().filter_map(|f| match f {
            Finding::Suppressed(s) => Some(s),
            _ => None,
        })
    }

    /// Findings that are neither counted nor suppressed parity differences.
    pub fn notes(&self) -> impl Iterator<Item = (&'static str, &Note)> + '_ {
        self.findings
            .iter()
            .filter_map(|f| f.note().map(|n| (f.kind(), n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::DiffKind;

    #[test]
    fn findings_round_trip_through_json() {
        let d = Difference {
            path: "/id".into(),
            kind: DiffKind::TypeChanged,
            primary: Some(1.into()),
            candidate: Some("1".into()),
            detail: None,
        };
        let mut a = Analysis::compared(
            RouteKey::new("GET", "/users/{id}"),
            vec![d.clone()],
            vec![Suppressed {
                difference: d,
                reason: "rule".into(),
                learned: false,
            }],
            Vec::new(),
        );
        a.push(Finding::Trigger(Note {
            analyzer: "t".into(),
            code: "c".into(),
            message: "m".into(),
        }));
        let text = serde_json::to_string(&a).unwrap_or_default();
        let back: Analysis = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, a);
        assert_eq!(a.verdict, Verdict::Mismatch);
        assert_eq!(a.differences().count(), 1);
        assert_eq!(a.suppressed().count(), 1);
        assert_eq!(a.notes().map(|(k, _)| k).collect::<Vec<_>>(), ["trigger"]);
    }
}
