//! Arrays in the JSON walk: positional pairs by structural hash, `order_only` (also when the
//! reordering hides behind noisy fields), `array_length` with prefix/suffix alignment, and
//! `unordered` rules (multisets, optionally keyed). Part of [`Walk`](super::Walk).

use std::collections::HashMap;

use serde_json::Value;

use super::{Frame, Walk, clone_bounded};
use crate::compare::path::{Seg, pointer};
use crate::compare::value::hash;
use crate::compare::{Comparison, DiffKind, Difference, Reason};

/// Arrays longer than this are not searched for reorderings hidden behind noise.
const REORDER_SEARCH_MAX: usize = 64;

impl<'a> Walk<'a, '_> {
    pub(super) fn enter_array(
        &mut self,
        a: &'a [Value],
        b: &'a [Value],
        stack: &mut Vec<Frame<'a>>,
    ) -> bool {
        if a.is_empty() && b.is_empty() {
            return false;
        }
        if let Some(rule) = self.rules.unordered_at(&self.path) {
            let key = rule.key.clone();
            let pattern = rule.pattern.source.clone();
            return self.enter_unordered(a, b, key.as_deref(), &pattern, stack);
        }
        if a.len() == 1 && b.len() == 1 {
            // Nothing to align or reorder; skipping the hashes keeps deep nesting linear.
            return self.push_pairs(a, b, vec![(0, 0)], stack);
        }
        let ha: Vec<u64> = a.iter().map(hash).collect();
        let hb: Vec<u64> = b.iter().map(hash).collect();
        let pairs: Vec<(usize, usize)> = if a.len() == b.len() {
            let differing: Vec<(usize, usize)> = (0..a.len())
                .filter(|&i| ha[i] != hb[i])
                .map(|i| (i, i))
                .collect();
            if differing.is_empty() {
                return false;
            }
            let (mut sa, mut sb) = (ha.clone(), hb.clone());
            sa.sort_unstable();
            sb.sort_unstable();
            if sa == sb {
                let whole =
                    |xs: &[Value]| Value::Array(xs.iter().map(|x| clone_bounded(x, 1)).collect());
                self.emit_raw(
                    DiffKind::OrderOnly,
                    Some(whole(a)),
                    Some(whole(b)),
                    Some("same elements, different order".into()),
                );
                return false;
            }
            if let Some(perm) = self.reordering_modulo_noise(a, b, &differing) {
                let whole =
                    |xs: &[Value]| Value::Array(xs.iter().map(|x| clone_bounded(x, 1)).collect());
                self.emit_raw(
                    DiffKind::OrderOnly,
                    Some(whole(a)),
                    Some(whole(b)),
                    Some("same elements (up to noise), different order".into()),
                );
                // Walk the matched pairs so their noise is still listed with its reasons.
                let pairs = perm
                    .into_iter()
                    .enumerate()
                    .filter(|(i, j)| ha[*i] != hb[*j])
                    .collect();
                return self.push_pairs(a, b, pairs, stack);
            }
            differing
        } else {
            self.emit_raw(
                DiffKind::ArrayLength,
                Some(Value::from(a.len())),
                Some(Value::from(b.len())),
                None,
            );
            let prefix = ha.iter().zip(&hb).take_while(|(x, y)| x == y).count();
            let max_suffix = a.len().min(b.len()) - prefix;
            let suffix = ha
                .iter()
                .rev()
                .zip(hb.iter().rev())
                .take(max_suffix)
                .take_while(|(x, y)| x == y)
                .count();
            let (mid_a, mid_b) = (a.len() - suffix, b.len() - suffix);
            let common = (mid_a - prefix).min(mid_b - prefix);
            let pairs = (prefix..prefix + common)
                .filter(|&i| ha[i] != hb[i])
                .map(|i| (i, i))
                .collect();
            let start = prefix + common;
            for (i, x) in a.iter().enumerate().take(mid_a).skip(start) {
                if self.out.cut {
                    break;
                }
                self.at(Seg::Index(i), |w| {
                    w.emit(DiffKind::Missing, Some(x), None, None)
                });
            }
            for (j, y) in b.iter().enumerate().take(mid_b).skip(start) {
                if self.out.cut {
                    break;
                }
                self.at(Seg::Index(j), |w| {
                    w.emit(DiffKind::Extra, None, Some(y), None)
                });
            }
            pairs
        };
        self.push_pairs(a, b, pairs, stack)
    }

    fn enter_unordered(
        &mut self,
        a: &'a [Value],
        b: &'a [Value],
        key: Option<&str>,
        pattern: &str,
        stack: &mut Vec<Frame<'a>>,
    ) -> bool {
        // Match by key when the element has it, else by whole value.
        let ident = |v: &Value| -> (bool, u64) {
            match key.and_then(|k| v.get(k)) {
                Some(k) => (true, hash(k)),
                None => (false, hash(v)),
            }
        };
        let mut pool: HashMap<(bool, u64), Vec<usize>> = HashMap::new();
        for (j, v) in b.iter().enumerate().rev() {
            pool.entry(ident(v)).or_default().push(j);
        }
        let mut used = vec![false; b.len()];
        let mut pairs = Vec::new();
        let mut moved = false;
        for (i, v) in a.iter().enumerate() {
            let id = ident(v);
            match pool.get_mut(&id).and_then(Vec::pop) {
                Some(j) => {
                    used[j] = true;
                    moved |= i != j;
                    if id.0 && hash(v) != hash(&b[j]) {
                        pairs.push((i, j));
                    }
                }
                None => self.at(Seg::Index(i), |w| {
                    w.emit(DiffKind::Missing, Some(v), None, None)
                }),
            }
        }
        for (j, v) in b.iter().enumerate() {
            if !used[j] {
                self.at(Seg::Index(j), |w| {
                    w.emit(DiffKind::Extra, None, Some(v), None)
                });
            }
        }
        if moved {
            let d = Difference {
                path: pointer(&self.path),
                kind: DiffKind::OrderOnly,
                primary: None,
                candidate: None,
                detail: Some("elements reordered".into()),
            };
            self.out
                .noise(d, Reason::Rule(format!("unordered {pattern}")));
        }
        self.push_pairs(a, b, pairs, stack)
    }

    /// When elements differ position by position, find out whether `b` is a reordering of
    /// `a` once noise is set aside (timestamps, tokens, ...: a structural hash cannot see
    /// that). Returns `perm` with `a[i]` ≈ `b[perm[i]]`, or `None` when some element has no
    /// noise-equal partner or positions already agree. Quadratic, so only for short arrays.
    fn reordering_modulo_noise(
        &self,
        a: &'a [Value],
        b: &'a [Value],
        differing: &[(usize, usize)],
    ) -> Option<Vec<usize>> {
        if a.len() > REORDER_SEARCH_MAX {
            return None;
        }
        if differing
            .iter()
            .all(|&(i, j)| self.noise_equal(i, &a[i], &b[j]))
        {
            return None;
        }
        let mut used = vec![false; b.len()];
        let mut perm = Vec::with_capacity(a.len());
        for (i, x) in a.iter().enumerate() {
            let j = (0..b.len()).find(|&j| !used[j] && self.noise_equal(i, x, &b[j]))?;
            used[j] = true;
            perm.push(j);
        }
        Some(perm)
    }

    /// Do `x` (at index `i` of the current array) and `y` differ only in noise?
    fn noise_equal(&self, i: usize, x: &'a Value, y: &'a Value) -> bool {
        let mut sub = Comparison::default();
        let mut path = self.path.clone();
        path.push(Seg::Index(i));
        let mut walk = Walk {
            rules: self.rules,
            path,
            out: &mut sub,
            relation_budget: super::relations::MAX_OBJECTS,
        };
        walk.run(x, y);
        sub.differences.is_empty() && !sub.cut
    }

    fn push_pairs(
        &mut self,
        a: &'a [Value],
        b: &'a [Value],
        pairs: Vec<(usize, usize)>,
        stack: &mut Vec<Frame<'a>>,
    ) -> bool {
        if pairs.is_empty() {
            return false;
        }
        stack.push(Frame::Pairs {
            a,
            b,
            pairs,
            next: 0,
        });
        true
    }
}
