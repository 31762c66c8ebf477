//! Volatility learned from the primary itself, for runs without a secondary.
//!
//! Diffy learns noise from a second primary instance; most teams do not run one. What the
//! traffic already holds is the next best baseline: clients repeat requests (retries,
//! polling, the same question asked twice). When two *identical* requests (same method,
//! URI, body and identity — the caller builds that fingerprint) get primary answers that
//! differ at a path, that path may change on its own. It may also be state: a counter like
//! `remaining` moves on every request, and a candidate that forgets to decrement it must
//! not have that bug learned away. So a repeat is evidence only when it is unambiguous:
//!
//! - both primary answers have the same status, and the compared side (candidate, or the
//!   secondary on an A/A route) answered each of the two with the primary's status;
//! - every difference between the two primary answers (after the rules and normalisers) is
//!   a `value_changed` inside a JSON body — no shape, status or header change, which would
//!   mean the state changed;
//! - each changed path but one moved *in step* on the compared side (the same two values,
//!   or, for numbers, the same delta: `remaining` 5 → 4 on the primary and 4 → 3 on an
//!   off-by-one candidate is state that both sides track, not volatility);
//! - the one remaining path also changed on the compared side between the two requests
//!   (a value that never moves there is a stuck field, not noise).
//!
//! That one path gets one piece of evidence. A path is volatile once `min_repeats` repeats
//! proved it and the route has `min_exchanges` compared exchanges; then only differences of
//! kind `value_changed` there are noise — a type change, a missing field or a status change
//! at the same place is still reported. Why learn from traffic rather than probe: a probe
//! that sends requests to the primary twice doubles load on production and, for unsafe
//! methods, repeats side effects (a rate limit spent twice is a client-visible change), so it
//! could only ever cover GET; learning from repeats costs the primary nothing, covers POST
//! answers like `latency_ms` honestly, and the rules above keep state out. Pure: no I/O,
//! no clock; the caller keeps the previous answers (bounded).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::noise::{Decision, MAX_NOISE_KEYS, MAX_NOISE_PATH_BYTES};
use super::spec::NoiseSpec;
use super::{DiffKind, Difference, Reason, Rules, compare_responses};
use crate::exchange::{Outcome, OutcomeResult, RecordedResponse};

/// The primary's answer and the compared side's answer to one request.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    pub primary: &'a Outcome,
    pub other: &'a Outcome,
}

/// What a repeated identical request shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Repeat {
    /// Not evidence either way (status or shape changed, or several paths moved on their
    /// own and the repeat cannot say which is noise).
    Unusable,
    /// A clean repeat; the path that changed on its own, if one did.
    Usable(Option<Difference>),
}

/// Compare two answers to identical requests (`first` earlier).
pub fn evidence(first: Answers<'_>, second: Answers<'_>, rules: &Rules) -> Repeat {
    let (Some(p1), Some(p2), Some(c1), Some(c2)) = (
        response(first.primary),
        response(second.primary),
        response(first.other),
        response(second.other),
    ) else {
        return Repeat::Unusable;
    };
    if p1.status != p2.status || c1.status != p1.status || c2.status != p2.status {
        return Repeat::Unusable;
    }
    let diff = compare_responses(p1, p2, rules);
    if diff.cut {
        return Repeat::Unusable;
    }
    if diff.differences.is_empty() {
        return Repeat::Usable(None);
    }
    let in_json = |d: &Difference| d.path.is_empty() || d.path.starts_with('/');
    if diff
        .differences
        .iter()
        .any(|d| d.kind != DiffKind::ValueChanged || !in_json(d))
    {
        return Repeat::Unusable;
    }
    let (Ok(j1), Ok(j2)) = (
        serde_json::from_slice::<Value>(c1.body.as_bytes()),
        serde_json::from_slice::<Value>(c2.body.as_bytes()),
    ) else {
        return Repeat::Unusable;
    };
    let mut untracked = Vec::new();
    for d in diff.differences {
        let (a, b) = (j1.pointer(&d.path), j2.pointer(&d.path));
        if !in_step(d.primary.as_ref(), d.candidate.as_ref(), a, b) {
            untracked.push((d, a.cloned(), b.cloned()));
        }
    }
    match untracked.len() {
        0 => Repeat::Usable(None),
        1 => match untracked.pop() {
            Some((d, Some(a), Some(b))) if a != b => Repeat::Usable(Some(d)),
            _ => Repeat::Unusable,
        },
        _ => Repeat::Unusable,
    }
}

fn response(o: &Outcome) -> Option<&RecordedResponse> {
    match &o.result {
        OutcomeResult::Response(r) if !r.truncated => Some(r),
        _ => None,
    }
}

/// Did the compared side move from `c1` to `c2` as the primary moved from `p1` to `p2`?
fn in_step(p1: Option<&Value>, p2: Option<&Value>, c1: Option<&Value>, c2: Option<&Value>) -> bool {
    if p1 == c1 && p2 == c2 {
        return true;
    }
    let num = |v: Option<&Value>| v.and_then(Value::as_f64);
    match (num(p1), num(p2), num(c1), num(c2)) {
        (Some(p1), Some(p2), Some(c1), Some(c2)) => ((p2 - p1) - (c2 - c1)).abs() < 1e-9,
        _ => false,
    }
}

/// Volatility evidence for one route.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VolatileTable {
    /// T: exchanges compared on the route without a healthy baseline.
    pub total: u64,
    /// Usable repeated identical requests.
    pub repeats: u64,
    /// Per JSON path: repeats that proved it changes on its own. At most
    /// [`MAX_NOISE_KEYS`] paths; evidence for further paths is dropped (never folded: a
    /// fold would let one path's noise hide another's change).
    pub changed: BTreeMap<String, u64>,
}

impl VolatileTable {
    /// Count one repeat.
    pub fn record(&mut self, repeat: &Repeat) {
        let Repeat::Usable(found) = repeat else {
            return;
        };
        self.repeats += 1;
        if let Some(d) = found {
            let room = self.changed.len() < MAX_NOISE_KEYS && d.path.len() <= MAX_NOISE_PATH_BYTES;
            if let Some(n) = self.changed.get_mut(&d.path) {
                *n += 1;
            } else if room {
                self.changed.insert(d.path.clone(), 1);
            }
        }
    }

    /// Decide for one difference with the evidence so far.
    pub fn decide(&self, d: &Difference, spec: &NoiseSpec) -> Decision {
        let changed = self.changed.get(&d.path).copied().unwrap_or(0);
        decide(d.kind, changed, self.repeats, self.total, spec)
    }
}

/// The decision for a difference of `kind` at a path that changed on its own `changed`
/// times in `repeats` usable repeats, on a route with `total` compared exchanges.
pub fn decide(
    kind: DiffKind,
    changed: u64,
    repeats: u64,
    total: u64,
    spec: &NoiseSpec,
) -> Decision {
    if kind != DiffKind::ValueChanged || total < spec.min_exchanges || changed < spec.min_repeats {
        return Decision::Report;
    }
    Decision::Noise(Reason::Volatile {
        changed,
        repeats,
        total,
    })
}

#[cfg(test)]
#[path = "volatile_tests.rs"]
mod tests;
