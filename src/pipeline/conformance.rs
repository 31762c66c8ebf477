//! Per-route contract conformance: how many requests and answers of each side were checked,
//! conformed or violated, how many were uncovered, and each distinct violation with a few
//! example exchanges.
//!
//! Bounded by constants, never by traffic: ≤ [`MAX_VIOLATION_KEYS`] distinct violations per
//! route (later ones count under one `{other}` entry), ≤ [`VIOLATION_EXAMPLES`] examples
//! each, array indices in instance paths folded to `*` for counting. Messages arrive
//! redacted from the analyzer. Never decides a gate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::contracts::{Conformance, Side, SideCheck};
use crate::contract::ViolationKind;

/// Distinct violations kept per route.
pub const MAX_VIOLATION_KEYS: usize = 64;
/// Examples kept per violation.
pub const VIOLATION_EXAMPLES: usize = 3;
const MAX_TEXT: usize = 512;

/// Checked messages of one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideCounts {
    pub checked: u64,
    pub conforming: u64,
    pub violating: u64,
}

/// What violations are counted by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ViolationKey {
    pub side: Side,
    pub kind: ViolationKind,
    /// Array indices folded to `*`.
    pub instance_path: String,
    pub schema_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationExample {
    pub exchange: u64,
    pub instance_path: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViolationCount {
    pub count: u64,
    pub examples: Vec<ViolationExample>,
}

/// One route's conformance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConformanceStats {
    pub sides: BTreeMap<Side, SideCounts>,
    /// Exchanges no contract covers.
    pub uncovered: u64,
    pub violations: BTreeMap<ViolationKey, ViolationCount>,
}

fn fold_indices(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl ConformanceStats {
    /// Count the checks of one exchange.
    pub fn add(&mut self, checks: &[SideCheck], exchange: u64) {
        if checks
            .iter()
            .any(|c| c.conformance == Conformance::Uncovered)
        {
            self.uncovered += 1;
            return;
        }
        for c in checks {
            let counts = self.sides.entry(c.side).or_default();
            counts.checked += 1;
            match c.conformance {
                Conformance::Conforms => counts.conforming += 1,
                Conformance::Violates => counts.violating += 1,
                Conformance::Uncovered => {}
            }
            for v in &c.violations {
                let mut key = ViolationKey {
                    side: c.side,
                    kind: v.kind,
                    instance_path: cut(&fold_indices(&v.instance_path)),
                    schema_path: cut(&v.schema_path),
                };
                if self.violations.len() >= MAX_VIOLATION_KEYS
                    && !self.violations.contains_key(&key)
                {
                    key.instance_path = "{other}".into();
                    key.schema_path = "{other}".into();
                }
                let entry = self.violations.entry(key).or_default();
                entry.count += 1;
                if entry.examples.len() < VIOLATION_EXAMPLES {
                    entry.examples.push(ViolationExample {
                        exchange,
                        instance_path: cut(&v.instance_path),
                        message: cut(&v.message),
                    });
                }
            }
        }
    }

    /// Whether anything was checked or found uncovered.
    pub fn is_empty(&self) -> bool {
        self.sides.is_empty() && self.uncovered == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Violation;

    fn violates(side: Side, path: &str) -> SideCheck {
        SideCheck {
            side,
            conformance: Conformance::Violates,
            violations: vec![Violation {
                kind: ViolationKind::Schema,
                instance_path: path.into(),
                schema_path: "f#/s".into(),
                message: "m".into(),
                masked_message: "m".into(),
            }],
        }
    }

    #[test]
    fn counts_per_side_and_bounded_keys() {
        let mut s = ConformanceStats::default();
        let ok = SideCheck {
            side: Side::Primary,
            conformance: Conformance::Conforms,
            violations: Vec::new(),
        };
        s.add(&[ok.clone(), violates(Side::Candidate, "/items/3/id")], 1);
        s.add(&[ok, violates(Side::Candidate, "/items/7/id")], 2);
        assert_eq!(s.sides[&Side::Primary].conforming, 2);
        assert_eq!(s.sides[&Side::Candidate].violating, 2);
        assert_eq!(s.violations.len(), 1, "indices fold");
        let uncovered = SideCheck {
            side: Side::Request,
            conformance: Conformance::Uncovered,
            violations: Vec::new(),
        };
        s.add(&[uncovered], 3);
        assert_eq!(s.uncovered, 1);
        for i in 0..(MAX_VIOLATION_KEYS * 2) {
            s.add(&[violates(Side::Candidate, &format!("/f{i}"))], 4);
        }
        assert!(s.violations.len() <= MAX_VIOLATION_KEYS + 1);
    }
}
