//! The report's translation section per route (`[translate]`, issue 12): how many
//! exchanges were compared with a translated credential or translated ids, how many copies
//! were untranslated (not sent, not compared, outside the parity denominator) and why, and
//! which id mappings the differences of mismatched exchanges involved. Built from
//! [`TranslationStats`]; renderers only print it (markdown and terminal lines here, the
//! HTML template reads the same fields).

use serde::{Deserialize, Serialize};

use crate::pipeline::translation::TranslationStats;

/// The sentence every renderer prints next to untranslated counts.
pub const UNTRANSLATED_NOTE: &str = "untranslated copies were not sent (no learned credential for the target): not compared, outside the parity denominator";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TranslationReport {
    /// Compared exchanges whose copy carried the target's own (learned) credential.
    pub credential: u64,
    /// Compared exchanges whose copy or answer used learned id mappings.
    pub ids: u64,
    /// Copies not sent for want of a learned credential (not in `compared`).
    pub untranslated: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untranslated_reasons: Vec<Reason>,
    /// Mismatched exchanges that used id mappings.
    #[serde(default)]
    pub mismatched_with_ids: u64,
    /// Differing path and the mapping involved (`17 → 1017 (candidate)`), with counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub involved: Vec<Involved>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reason {
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Involved {
    pub path: String,
    pub mapping: String,
    pub count: u64,
}

/// The section, absent when nothing was translated on the route.
pub fn route_translation(stats: &TranslationStats) -> Option<TranslationReport> {
    if stats.is_empty() {
        return None;
    }
    Some(TranslationReport {
        credential: stats.credential,
        ids: stats.ids,
        untranslated: stats.untranslated.values().sum(),
        untranslated_reasons: stats
            .untranslated
            .iter()
            .map(|(reason, count)| Reason {
                reason: reason.clone(),
                count: *count,
            })
            .collect(),
        mismatched_with_ids: stats.mismatched_with_ids,
        involved: stats
            .involved
            .iter()
            .map(|((path, mapping), count)| Involved {
                path: path.clone(),
                mapping: mapping.clone(),
                count: *count,
            })
            .collect(),
    })
}

/// One line for the terminal and summary.md.
pub fn line(t: &TranslationReport) -> String {
    let mut s = format!(
        "translation: {} compared with translated credentials, {} with translated ids",
        t.credential, t.ids
    );
    if t.untranslated > 0 {
        let reasons: Vec<String> = t
            .untranslated_reasons
            .iter()
            .map(|r| format!("{} ×{}", r.reason, r.count))
            .collect();
        s.push_str(&format!(
            "; {} untranslated ({}) — {UNTRANSLATED_NOTE}",
            t.untranslated,
            reasons.join(", ")
        ));
    }
    if !t.involved.is_empty() {
        let inv: Vec<String> = t
            .involved
            .iter()
            .take(5)
            .map(|i| format!("`{}` with {} ×{}", i.path, i.mapping, i.count))
            .collect();
        s.push_str(&format!("; differences involved {}", inv.join(", ")));
    }
    s
}

/// summary.md's `Translation` section: one line per route that translated anything.
pub fn markdown(report: &super::model::Report, out: &mut String) {
    use std::fmt::Write as _;
    let rows: Vec<_> = report
        .routes
        .iter()
        .filter_map(|r| r.translation.as_ref().map(|t| (r, t)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Translation\n");
    let _ = writeln!(
        out,
        "Credentials and ids learned from mirrored logins and creates; answers compared modulo \
         the id mapping. Untranslated copies were not sent and are outside the parity \
         denominator.\n"
    );
    for (r, t) in rows {
        let _ = writeln!(out, "- `{}` — {}", r.route, line(t));
    }
}
