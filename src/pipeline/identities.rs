//! Who saw a difference: per differing path and per differing status pair, the identity
//! labels of the exchanges that showed it (`Exchange::identity`), with counts.
//!
//! Bounded: at most [`MAX_LABELS`] labels per entry; exchanges of further labels are only
//! counted (`other`), anonymous ones too (`anonymous`). Labels are cut to
//! [`crate::identity::MAX_LABEL_CHARS`] characters by the source; this module cuts again so
//! a hostile recording cannot grow it. Owns the counts and the sentence that states them
//! ("for guest2 only"); never reads requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels kept per differing path or status pair.
pub const MAX_LABELS: usize = 8;
/// Longest label kept (characters).
const MAX_LABEL_CHARS: usize = crate::identity::MAX_LABEL_CHARS;

/// Exchanges per identity label, bounded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdentityCounts {
    pub labels: BTreeMap<String, u64>,
    /// Exchanges of labels past [`MAX_LABELS`].
    pub other: u64,
    /// Exchanges without a label.
    pub anonymous: u64,
}

impl IdentityCounts {
    pub fn add(&mut self, label: Option<&str>) {
        let Some(label) = label else {
            self.anonymous += 1;
            return;
        };
        let label: String = if label.chars().count() > MAX_LABEL_CHARS {
            label.chars().take(MAX_LABEL_CHARS).collect()
        } else {
            label.to_string()
        };
        if let Some(c) = self.labels.get_mut(&label) {
            *c += 1;
        } else if self.labels.len() < MAX_LABELS {
            self.labels.insert(label, 1);
        } else {
            self.other += 1;
        }
    }

    /// Did any exchange carry a label?
    pub fn any_label(&self) -> bool {
        !self.labels.is_empty() || self.other > 0
    }

    /// The report's form: labels most frequent first, and the sentence; `None` when no
    /// exchange carried a label (nothing to attribute).
    pub fn report(&self) -> Option<IdentityReport> {
        if !self.any_label() {
            return None;
        }
        let mut labels: Vec<LabelCount> = self
            .labels
            .iter()
            .map(|(label, count)| LabelCount {
                label: label.clone(),
                count: *count,
            })
            .collect();
        labels.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
        let summary = summary(&labels, self.other, self.anonymous);
        Some(IdentityReport {
            labels,
            other: self.other,
            anonymous: self.anonymous,
            summary,
        })
    }
}

/// Which identities a difference appeared for (report form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityReport {
    /// Up to 8 labels, most exchanges first.
    pub labels: Vec<LabelCount>,
    /// Exchanges of further identities (past the 8 kept).
    #[serde(default)]
    pub other: u64,
    /// Exchanges without an identity label.
    #[serde(default)]
    pub anonymous: u64,
    /// `for guest2 only`, `for guest2 (3×), guest1 (1×) and 4 exchanges of other identities`.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCount {
    pub label: String,
    pub count: u64,
}

fn summary(labels: &[LabelCount], other: u64, anonymous: u64) -> String {
    if let [only] = labels
        && other == 0
        && anonymous == 0
    {
        return format!("for {} only", only.label);
    }
    let mut parts: Vec<String> = labels
        .iter()
        .map(|l| format!("{} ({}×)", l.label, l.count))
        .collect();
    if other > 0 {
        parts.push(format!("{other} exchanges of other identities"));
    }
    if anonymous > 0 {
        parts.push(format!("{anonymous} anonymous"));
    }
    match parts.len() {
        0 => String::new(),
        1 => format!("for {}", parts[0]),
        n => format!("for {} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_label_is_only_that_identity() {
        let mut c = IdentityCounts::default();
        c.add(Some("guest2"));
        c.add(Some("guest2"));
        let r = c.report().expect("labelled");
        assert_eq!(r.summary, "for guest2 only");
        assert_eq!(
            r.labels,
            vec![LabelCount {
                label: "guest2".into(),
                count: 2
            }]
        );
        c.add(None);
        assert_eq!(
            c.report().expect("labelled").summary,
            "for guest2 (2×) and 1 anonymous"
        );
    }

    #[test]
    fn bounded_with_the_rest_counted() {
        let mut c = IdentityCounts::default();
        for i in 0..20 {
            c.add(Some(&format!("user{i:02}")));
        }
        c.add(Some("user00"));
        c.add(Some(&"x".repeat(1000)));
        assert_eq!(c.labels.len(), MAX_LABELS);
        assert_eq!(c.other, 13);
        let r = c.report().expect("labelled");
        assert_eq!(r.labels[0].label, "user00");
        assert!(
            r.summary.ends_with("and 13 exchanges of other identities"),
            "{}",
            r.summary
        );
        let mut anon = IdentityCounts::default();
        anon.add(None);
        assert!(anon.report().is_none());
    }
}
