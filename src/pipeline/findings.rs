//! The aggregate of non-parity findings (contract violations, assertion failures,
//! triggers): per route, counts per (kind, analyzer, code) with a few example exchanges.
//!
//! Bounded by constants, never by traffic: at most [`MAX_FINDING_KEYS`] distinct keys per
//! route (later ones count under the code `{other}`), [`FINDING_EXAMPLES`] examples each,
//! messages cut to [`MAX_MESSAGE_BYTES`]. Messages and codes are redacted like any
//! difference value before they are kept: reports never see a secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::analysis::Note;
use crate::redact::{self, Redaction};

/// Distinct (kind, analyzer, code) kept per route.
pub const MAX_FINDING_KEYS: usize = 256;
/// Example exchanges (id and message) kept per key.
pub const FINDING_EXAMPLES: usize = 5;
/// Messages longer than this are cut.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// What findings are counted by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FindingKey {
    /// `contract_violation`, `assertion_failed`, `trigger`.
    pub kind: String,
    pub analyzer: String,
    pub code: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingCount {
    pub count: u64,
    pub examples: Vec<FindingExample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingExample {
    pub exchange: u64,
    pub message: String,
}

/// Per-route counts of non-parity findings.
#[derive(Debug, Clone, Default)]
pub struct FindingStats {
    pub counts: BTreeMap<FindingKey, FindingCount>,
}

impl FindingStats {
    pub fn add(&mut self, kind: &str, note: &Note, exchange: u64, redaction: &Redaction) {
        let clean = |s: &str| redact::redact_text(s, redaction).unwrap_or_else(|| s.to_string());
        let mut key = FindingKey {
            kind: kind.to_string(),
            analyzer: cut(&note.analyzer, 64),
            code: cut(&clean(&note.code), 256),
        };
        if self.counts.len() >= MAX_FINDING_KEYS && !self.counts.contains_key(&key) {
            key.code = "{other}".to_string();
        }
        let entry = self.counts.entry(key).or_default();
        entry.count += 1;
        if entry.examples.len() < FINDING_EXAMPLES {
            entry.examples.push(FindingExample {
                exchange,
                message: cut(&clean(&note.message), MAX_MESSAGE_BYTES),
            });
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded() {
        let mut f = FindingStats::default();
        for i in 0..(MAX_FINDING_KEYS + 50) {
            let note = Note {
                analyzer: "t".into(),
                code: format!("c{i}"),
                message: "x".repeat(5000),
            };
            f.add("trigger", &note, i as u64, &Redaction::default());
        }
        assert!(f.counts.len() <= MAX_FINDING_KEYS + 1);
        let other = f.counts.keys().find(|k| k.code == "{other}").cloned();
        let other = other.map(|k| f.counts[&k].count);
        assert_eq!(other, Some(50));
        assert!(
            f.counts
                .values()
                .all(|c| c.examples.len() <= FINDING_EXAMPLES)
        );
        assert!(
            f.counts
                .values()
                .flat_map(|c| &c.examples)
                .all(|e| e.message.len() <= MAX_MESSAGE_BYTES + 4)
        );
    }

    #[test]
    fn secrets_in_messages_are_redacted() {
        let mut f = FindingStats::default();
        let note = Note {
            analyzer: "t".into(),
            code: "c".into(),
            message: r#"answer was {"password":"hunter2-secret"}"#.into(),
        };
        f.add("contract_violation", &note, 1, &Redaction::default());
        let kept = &f
            .counts
            .values()
            .next()
            .map(|c| c.examples[0].message.clone());
        let kept = kept.clone().unwrap_or_default();
        assert!(!kept.contains("hunter2-secret"), "{kept}");
    }
}
