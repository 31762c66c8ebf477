//! Translated exchanges in the analysis (`[translate]`, issue 12).
//!
//! Owns two things: comparing *modulo the learned id mapping* — a target's answer is
//! mapped back to the primary's ids ([`mapped`]) before the parity engine sees it, so the
//! candidate's `{"id":1017}` answering for the primary's `{"id":17}` is a match when
//! 17 ↔ 1017 was learned — and the per-route counts the report shows ([`TranslationStats`]):
//! exchanges compared with a translated credential, with translated ids, untranslated
//! copies per reason (not compared, outside the parity denominator), and which mappings
//! the differences of mismatched exchanges involved. The compare engine knows nothing of
//! this; only the exchange's own recorded mappings are used (never learned state).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Analysis, Verdict};
use crate::exchange::{Body, Exchange, IdMapping, Outcome, OutcomeResult};

/// Distinct (path, mapping) pairs kept per route.
pub const MAX_INVOLVED: usize = 16;
/// Distinct untranslated reasons kept per route (the proxy has four).
const MAX_REASONS: usize = 8;

/// `outcome` with every id its target gave replaced by the primary's, when the exchange
/// recorded mappings for that target and something changed.
pub fn mapped(exchange: &Exchange, outcome: &Outcome) -> Option<Outcome> {
    let ids = &exchange
        .translation
        .iter()
        .find(|t| t.target == outcome.target)?
        .ids;
    if ids.is_empty() {
        return None;
    }
    let OutcomeResult::Response(r) = &outcome.result else {
        return None;
    };
    let back = |v: &str| {
        ids.iter()
            .find(|m| m.target == v)
            .map(|m| m.primary.clone())
    };
    let mut changed = false;
    let mut r = r.clone();
    for (name, value) in r.headers.iter_mut() {
        if name.eq_ignore_ascii_case("location") {
            let new: Vec<String> = value
                .split('/')
                .map(|seg| match back(seg) {
                    Some(p) => {
                        changed = true;
                        p
                    }
                    None => seg.to_string(),
                })
                .collect();
            *value = new.join("/");
        }
    }
    if !r.truncated
        && let Ok(mut v) = serde_json::from_slice::<Value>(r.body.as_bytes())
        && map_json(&mut v, &back) > 0
        && let Ok(bytes) = serde_json::to_vec(&v)
    {
        r.body = Body::from(bytes);
        changed = true;
    }
    changed.then(|| Outcome {
        target: outcome.target.clone(),
        result: OutcomeResult::Response(r),
    })
}

/// Replace id-keyed scalars `back` knows; returns how many.
fn map_json(v: &mut Value, back: &impl Fn(&str) -> Option<String>) -> usize {
    let mut n = 0;
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if crate::identity::rewrite::is_id_key(k) {
                        match child {
                            Value::Array(items) => {
                                for item in items.iter_mut() {
                                    n += replace(item, back);
                                }
                            }
                            Value::Object(_) => stack.push(child),
                            other => n += replace(other, back),
                        }
                    } else {
                        stack.push(child);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    n
}

fn replace(v: &mut Value, back: &impl Fn(&str) -> Option<String>) -> usize {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return 0,
    };
    let Some(p) = back(&text) else { return 0 };
    *v = match (&*v, p.parse::<i64>()) {
        (Value::Number(_), Ok(i)) => Value::from(i),
        _ => Value::String(p),
    };
    1
}

/// Per-route translation counts (bounded).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TranslationStats {
    /// Compared exchanges whose candidate copy carried the candidate's own credential.
    pub credential: u64,
    /// Compared exchanges whose candidate copy or answer used learned id mappings.
    pub ids: u64,
    /// Candidate copies not sent, per reason (not compared; outside parity).
    pub untranslated: BTreeMap<String, u64>,
    /// Mismatched exchanges that used id mappings.
    pub mismatched_with_ids: u64,
    /// (differing path, `primary → target` mapping) → mismatched exchanges showing both.
    pub involved: BTreeMap<(String, String), u64>,
}

impl TranslationStats {
    pub fn is_empty(&self) -> bool {
        self == &TranslationStats::default()
    }

    /// Count one analysed exchange.
    pub fn add(&mut self, exchange: &Exchange, analysis: &Analysis) {
        let Some(cand) = exchange.outcomes.candidate.as_ref() else {
            return;
        };
        let Some(t) = exchange
            .translation
            .iter()
            .find(|t| t.target == cand.target)
        else {
            return;
        };
        if let Some(reason) = &t.untranslated {
            let key = if self.untranslated.len() >= MAX_REASONS
                && !self.untranslated.contains_key(reason)
            {
                "other".to_string()
            } else {
                reason.chars().take(40).collect()
            };
            *self.untranslated.entry(key).or_default() += 1;
            return;
        }
        if analysis.verdict == Verdict::NotCompared {
            return;
        }
        if t.credential.is_some() {
            self.credential += 1;
        }
        if t.ids.is_empty() {
            return;
        }
        self.ids += 1;
        if analysis.verdict != Verdict::Mismatch {
            return;
        }
        self.mismatched_with_ids += 1;
        for d in analysis.differences().take(4) {
            for m in t.ids.iter().take(4) {
                let key = (d.path.clone(), describe(m, &t.target));
                if self.involved.len() < MAX_INVOLVED || self.involved.contains_key(&key) {
                    *self.involved.entry(key).or_default() += 1;
                }
            }
        }
    }
}

/// `17 → 1017 (candidate)`.
pub fn describe(m: &IdMapping, target: &str) -> String {
    format!("{} → {} ({target})", m.primary, m.target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{RecordedResponse, TargetTranslation};

    fn outcome(body: &str, location: Option<&str>) -> Outcome {
        Outcome {
            target: "new".into(),
            result: OutcomeResult::Response(RecordedResponse {
                status: 201,
                headers: location
                    .map(|l| vec![("location".to_string(), l.to_string())])
                    .unwrap_or_default(),
                body: Body::from(body.as_bytes().to_vec()),
                truncated: false,
                ttfb_us: 1,
                total_us: 1,
            }),
        }
    }

    #[test]
    fn target_ids_map_back_to_the_primary_s() {
        let json = r#"{"id":1,"seq":0,"at":"2026-01-01T00:00:00Z","route":"GET /users/17",
            "request":{"method":"GET","uri":"/users/17","headers":[]},
            "outcomes":{"primary":{"target":"old","failure":{"kind":"dropped","elapsed_us":0}}},
            "translation":[{"target":"new","ids":[{"primary":"17","target":"1017"}]}]}"#;
        let ex: Exchange = serde_json::from_str(json).expect("exchange");
        let o = outcome(
            r#"{"id":1017,"name":"x","owner_id":"1017","count":1017,"friends":{"ids":[1017,5]}}"#,
            Some("/users/1017"),
        );
        let m = mapped(&ex, &o).expect("mapped");
        let r = m.response().expect("response");
        let v: Value = serde_json::from_slice(r.body.as_bytes()).expect("json");
        assert_eq!(v["id"], 17);
        assert_eq!(v["owner_id"], "17");
        assert_eq!(v["count"], 1017, "not an id key");
        assert_eq!(v["friends"]["ids"], serde_json::json!([17, 5]));
        assert_eq!(r.header("location"), Some("/users/17"));
        // Another target, or no mapping: untouched.
        let mut other = o.clone();
        other.target = "else".into();
        assert!(mapped(&ex, &other).is_none());
        let _ = TargetTranslation::default();
    }
}
