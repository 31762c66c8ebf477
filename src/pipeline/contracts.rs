//! The contract analyzer: the request and each target's answer checked against the loaded
//! contracts, on the analysis thread (never on the client's path).
//!
//! Owns which message is checked as what (`request`, `primary`, `candidate`, `secondary`),
//! skipping bodies it cannot judge (truncated at the capture cap, content-encoded): their
//! status and content type are still checked. Each violation becomes a
//! `Finding::ContractViolation` and a [`SideCheck`] on the analysis, with values masked
//! when the location is a secret field and the message redacted like any report text.
//! Never decides a gate (the report does, from `[contracts] fail_on`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::analysis::{Analysis, Finding, Note};
use super::analyzers::Analyzer;
use super::route::RouteKey;
use crate::contract::{Check, Contracts, Violation};
use crate::exchange::{Exchange, Headers, OutcomeResult, header};
use crate::redact::{self, Redaction};

/// The analyzer's name, written into its findings.
pub const NAME: &str = "contracts";

/// Which message of an exchange was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Request,
    Primary,
    Candidate,
    Secondary,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Request => "request",
            Side::Primary => "primary",
            Side::Candidate => "candidate",
            Side::Secondary => "secondary",
        }
    }
}

/// The verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conformance {
    /// No contract covers the route: never a pass.
    Uncovered,
    Conforms,
    Violates,
}

/// One checked message and its (redacted) violations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideCheck {
    pub side: Side,
    pub conformance: Conformance,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

/// The contracts `[contracts]` names, loaded and compiled once; `None` when the table is
/// absent. An error names the file and the location.
pub fn load_configured(
    config: &crate::config::Config,
) -> Result<Option<Arc<Contracts>>, crate::contract::ContractError> {
    match &config.file.contracts {
        None => Ok(None),
        Some(c) => Contracts::load(&c.dir).map(|c| Some(Arc::new(c))),
    }
}

/// Checks exchanges against compiled contracts.
pub struct ContractAnalyzer {
    contracts: Arc<Contracts>,
    redaction: Redaction,
}

impl ContractAnalyzer {
    pub fn new(contracts: Arc<Contracts>, redaction: Redaction) -> ContractAnalyzer {
        ContractAnalyzer {
            contracts,
            redaction,
        }
    }

    /// A violation with values masked where the location names a secret field, and the
    /// message redacted like any report text.
    fn clean(&self, mut v: Violation) -> Violation {
        let secret = v
            .instance_path
            .split('/')
            .any(|seg| !seg.is_empty() && self.redaction.is_secret_field(seg));
        if secret {
            v.message = v.masked_message.clone();
        }
        if let Some(m) = redact::redact_text(&v.message, &self.redaction) {
            v.message = m;
        }
        if let Some(m) = redact::redact_text(&v.masked_message, &self.redaction) {
            v.masked_message = m;
        }
        v
    }

    fn record(&self, side: Side, check: Check, analysis: &mut Analysis) {
        let (conformance, violations) = match check {
            Check::Uncovered => (Conformance::Uncovered, Vec::new()),
            Check::Conforms => (Conformance::Conforms, Vec::new()),
            Check::Violations(list) => (
                Conformance::Violates,
                list.into_iter().map(|v| self.clean(v)).collect(),
            ),
        };
        for v in &violations {
            let at = if v.instance_path.is_empty() {
                String::new()
            } else {
                format!(" at {}", v.instance_path)
            };
            analysis.push(Finding::ContractViolation(Note {
                analyzer: NAME.to_string(),
                code: format!("{} {}{at}", side.as_str(), v.kind.as_str()),
                message: format!("{}: {}", side.as_str(), v.message),
            }));
        }
        analysis.contracts.push(SideCheck {
            side,
            conformance,
            violations,
        });
    }
}

/// A body the checker can judge: complete and not content-encoded.
fn judgeable(headers: &Headers, truncated: bool) -> bool {
    !truncated
        && header(headers, "content-encoding")
            .is_none_or(|e| e.trim().is_empty() || e.eq_ignore_ascii_case("identity"))
}

impl Analyzer for ContractAnalyzer {
    fn name(&self) -> &str {
        NAME
    }

    fn analyze(&self, _route: &RouteKey, exchange: &Exchange, analysis: &mut Analysis) {
        let req = &exchange.request;
        if self.contracts.operation(&req.method, &req.uri).is_none() {
            analysis.contracts.push(SideCheck {
                side: Side::Request,
                conformance: Conformance::Uncovered,
                violations: Vec::new(),
            });
            return;
        }
        let ct = header(&req.headers, "content-type");
        let body: &[u8] = if judgeable(&req.headers, req.truncated) {
            req.body.as_bytes()
        } else {
            b""
        };
        let check = if body.is_empty() && !req.body.is_empty() {
            // A body we cannot judge: only the parameters count.
            match self.contracts.check_request(&req.method, &req.uri, ct, b"") {
                Check::Violations(v) => Check::from_list(
                    v.into_iter()
                        .filter(|v| v.kind != crate::contract::ViolationKind::MissingBody)
                        .collect(),
                ),
                other => other,
            }
        } else {
            self.contracts
                .check_request(&req.method, &req.uri, ct, body)
        };
        self.record(Side::Request, check, analysis);
        let o = &exchange.outcomes;
        let sides = [
            (Side::Primary, Some(&o.primary)),
            (Side::Candidate, o.candidate.as_ref()),
            (Side::Secondary, o.secondary.as_ref()),
        ];
        for (side, outcome) in sides {
            let Some(OutcomeResult::Response(r)) = outcome.map(|o| &o.result) else {
                continue;
            };
            let ct = header(&r.headers, "content-type");
            let check = if judgeable(&r.headers, r.truncated) {
                self.contracts.check_response(
                    &req.method,
                    &req.uri,
                    r.status,
                    ct,
                    r.body.as_bytes(),
                )
            } else {
                // Status and content type only.
                match self
                    .contracts
                    .check_response(&req.method, &req.uri, r.status, ct, b"")
                {
                    Check::Violations(v) => Check::from_list(
                        v.into_iter()
                            .filter(|v| {
                                matches!(
                                    v.kind,
                                    crate::contract::ViolationKind::UndocumentedStatus
                                        | crate::contract::ViolationKind::ContentType
                                )
                            })
                            .collect(),
                    ),
                    other => other,
                }
            };
            self.record(side, check, analysis);
        }
    }
}

#[cfg(test)]
#[path = "contracts_tests.rs"]
mod tests;
