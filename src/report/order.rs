//! What a report leads with: routes worst first, and within a route its status changes
//! first with the body differences they explain folded beneath them.
//!
//! Pure ordering over the model and the aggregate's per-exchange difference sets; it never
//! formats anything (the renderers share [`super::view`] for that).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::model::{Gate, PathReport, RouteReport};
use crate::compare::DiffKind;
use crate::pipeline::aggregate::{DiffKey, RouteStats};

/// Differences that headline their exchange: a changed status or a transport failure.
pub fn is_headline(kind: DiffKind) -> bool {
    matches!(kind, DiffKind::Status | DiffKind::Transport)
}

/// A status difference whose candidate answered 5xx (or failed at the transport level).
pub fn is_server_error(d: &PathReport) -> bool {
    d.kind == DiffKind::Transport
        || (d.kind == DiffKind::Status
            && d.examples.iter().any(|e| {
                e.candidate
                    .as_ref()
                    .and_then(serde_json::Value::as_u64)
                    .is_some_and(|s| s >= 500)
            }))
}

/// Candidate answers that were 5xx or transport failures where the primary answered below
/// 500, from the status matrix (`err` labels and fold rows count when the primary did not
/// fail).
pub fn candidate_server_errors(route: &RouteReport) -> u64 {
    let status = |s: &str| s.parse::<u16>().ok();
    route
        .status_matrix
        .iter()
        .filter(|c| {
            let primary_ok = status(&c.primary).is_some_and(|p| p < 500);
            let candidate_bad = match status(&c.candidate) {
                Some(s) => s >= 500,
                None => c.candidate != "other",
            };
            primary_ok && candidate_bad
        })
        .map(|c| c.count)
        .sum()
}

/// Routes worst first — the documented sort key of `report.json`'s `routes`:
/// failing before passing; then more candidate server errors (5xx or transport failures
/// where the primary answered below 500) first; then lower parity; then more mismatched
/// exchanges; then the route's name.
pub fn sort_routes(routes: &mut [RouteReport]) {
    routes.sort_by_cached_key(|r| {
        (
            r.gate != Gate::Fail,
            Reverse(candidate_server_errors(r)),
            // Parity is in [0, 1]; millionths keep the key an integer.
            (r.parity * 1_000_000.0).round() as u64,
            Reverse(r.mismatched),
            r.route.clone(),
        )
    });
}

/// Order a route's differences — headlines (status, transport) first, 5xx first, then by
/// count; the rest by count — and mark each difference that appeared only together with a
/// headline with that headline's path (the one it co-occurred with most), from the
/// per-exchange difference sets the aggregate kept.
pub fn lead_with_status(differences: &mut [PathReport], stats: &RouteStats) {
    let mut shown: BTreeMap<DiffKey, Coverage> = BTreeMap::new();
    for (keys, count) in stats.signatures() {
        let heads: Vec<&DiffKey> = keys
            .iter()
            .copied()
            .filter(|k| is_headline(k.kind))
            .collect();
        for key in keys.iter().filter(|k| !is_headline(k.kind)) {
            let c = shown.entry((*key).clone()).or_default();
            c.total += count;
            if !heads.is_empty() {
                c.covered += count;
            }
            for h in &heads {
                *c.with.entry(h.path.clone()).or_default() += count;
            }
        }
    }
    let headline_paths: Vec<&str> = differences
        .iter()
        .filter(|d| is_headline(d.kind))
        .map(|d| d.path.as_str())
        .collect();
    let mut marks = Vec::with_capacity(differences.len());
    for d in differences.iter() {
        let key = DiffKey {
            path: d.path.clone(),
            kind: d.kind,
            status: d.status.map(|s| (s.primary, s.candidate)),
        };
        let mark = shown.get(&key).and_then(|c| {
            (c.total > 0 && c.covered == c.total)
                .then(|| {
                    c.with
                        .iter()
                        .filter(|(h, _)| headline_paths.contains(&h.as_str()))
                        .max_by_key(|(h, n)| (**n, Reverse((*h).clone())))
                        .map(|(h, _)| h.clone())
                })
                .flatten()
        });
        marks.push(mark);
    }
    for (d, mark) in differences.iter_mut().zip(marks) {
        d.headline = if is_headline(d.kind) { None } else { mark };
    }
    differences.sort_by_cached_key(|d| {
        (
            !is_headline(d.kind),
            !is_server_error(d),
            Reverse(d.count),
            d.path.clone(),
            d.kind,
        )
    });
}

#[derive(Default)]
struct Coverage {
    /// Exchanges showing the difference.
    total: u64,
    /// Of them, those that also showed a headline.
    covered: u64,
    /// Per headline path, exchanges showing both.
    with: BTreeMap<String, u64>,
}
