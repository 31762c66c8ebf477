//! Relations among the volatile fields of one object, compared across the two sides.
//!
//! Timestamps and ids are noise one by one, but how they relate is not: an `updated_at`
//! that equals `created_at` on the candidate after an update while the primary's moved on,
//! or an `owner_id` that stops being the object's own `id`. For every object pair the walk
//! enters, the fields that are of the same volatile kind on both sides (by the path's
//! `normalise` rule, else automatic detection) are related pairwise on each side —
//! timestamps ordered (`<`, `=`, `>`, compared as written when a side has no zone, at the
//! coarsest precision of the four values so milliseconds against microseconds cannot flip
//! an order), ids
//! equal or not — and a relation that differs is a `relation_changed` difference at the
//! later field, both sides' relation as its values. Part of [`Walk`](super::Walk).
//!
//! Bounded: at most [`MAX_OBJECTS`] objects per comparison, the first [`MAX_KEYS`] keys of
//! each and [`MAX_FIELDS`] timestamps and as many ids per object (at most 56 pairs).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::Walk;
use crate::compare::DiffKind;
use crate::compare::normalise::{AUTOMATIC, NormaliserKind, Stamp};
use crate::compare::path::Seg;

/// Objects examined per comparison.
pub const MAX_OBJECTS: usize = 1024;
/// Keys looked at per object.
const MAX_KEYS: usize = 64;
/// Volatile fields related per object, of each sort (timestamps, ids).
const MAX_FIELDS: usize = 8;

/// One volatile field as both sides have it.
enum Field<'a> {
    Time(Stamp, Stamp),
    Id(&'a str, &'a str),
}

impl<'a> Walk<'a, '_> {
    /// Compare the relations among the volatile fields of two objects at the current path.
    pub(super) fn relations(&mut self, a: &'a Map<String, Value>, b: &'a Map<String, Value>) {
        let detecting = self.rules.automatic || !self.rules.normalise.is_empty();
        if self.relation_budget == 0 || !detecting {
            return;
        }
        // Only objects where some scalar differs can relate differently.
        let differs = a.iter().take(MAX_KEYS).any(|(k, x)| {
            !matches!(x, Value::Object(_) | Value::Array(_)) && b.get(k).is_some_and(|y| x != y)
        });
        if !differs {
            return;
        }
        self.relation_budget -= 1;
        let mut fields: Vec<(&'a str, Field<'a>)> = Vec::new();
        let (mut times, mut ids) = (0, 0);
        for (k, x) in a.iter().take(MAX_KEYS) {
            if times >= MAX_FIELDS && ids >= MAX_FIELDS {
                break;
            }
            let Some(y) = b.get(k) else { continue };
            self.path.push(Seg::Key(k.as_str()));
            let field = if self.rules.ignored(&self.path).is_some() {
                None
            } else {
                self.volatile(x, y)
            };
            self.path.pop();
            let count = match &field {
                Some(Field::Time(..)) => &mut times,
                Some(Field::Id(..)) => &mut ids,
                None => continue,
            };
            if *count < MAX_FIELDS
                && let Some(f) = field
            {
                *count += 1;
                fields.push((k.as_str(), f));
            }
        }
        for j in 1..fields.len() {
            for i in 0..j {
                let (first, second) = (&fields[i], &fields[j]);
                let relation = match (&first.1, &second.1) {
                    (Field::Time(p1, c1), Field::Time(p2, c2)) => {
                        // At the coarsest precision of the four values: a side that writes
                        // milliseconds must not flip an order decided by microseconds.
                        let d = p1.digits.min(p2.digits).min(c1.digits).min(c2.digits);
                        let cmp =
                            |x: &Stamp, y: &Stamp| x.truncated(d).cmp_written(&y.truncated(d));
                        let (p, c) = (cmp(p2, p1), cmp(c2, c1));
                        (p != c).then(|| (order(p), order(c)))
                    }
                    (Field::Id(p1, c1), Field::Id(p2, c2)) => {
                        let (p, c) = (p1 == p2, c1 == c2);
                        let say = |eq: bool| if eq { "=" } else { "≠" };
                        (p != c).then(|| (say(p), say(c)))
                    }
                    _ => None,
                };
                if let Some((p, c)) = relation {
                    let (x, y) = (second.0, first.0);
                    let (pv, cv) = (format!("{x} {p} {y}"), format!("{x} {c} {y}"));
                    let detail = format!(
                        "volatile fields relate differently (each is noise alone): primary {pv}, candidate {cv}"
                    );
                    self.path.push(Seg::Key(x));
                    self.emit_raw(
                        DiffKind::RelationChanged,
                        Some(Value::from(pv)),
                        Some(Value::from(cv)),
                        Some(detail),
                    );
                    self.path.pop();
                }
            }
        }
    }

    /// The field's kind when both sides hold a volatile value of the same kind.
    fn volatile(&self, x: &'a Value, y: &'a Value) -> Option<Field<'a>> {
        let one;
        let (explicit, kinds): (bool, &[NormaliserKind]) =
            match self.rules.normaliser_at(&self.path) {
                Some((_, kind)) => {
                    one = [kind];
                    (true, &one)
                }
                None if self.rules.automatic => (false, &AUTOMATIC),
                None => return None,
            };
        for &kind in kinds {
            if let (Some(p), Some(c)) = (kind.stamp(x, explicit), kind.stamp(y, explicit)) {
                return Some(Field::Time(p, c));
            }
            if matches!(
                kind,
                NormaliserKind::Uuid | NormaliserKind::Token | NormaliserKind::Jwt
            ) && let (Value::String(p), Value::String(c)) = (x, y)
            {
                let detects = |v| {
                    if explicit {
                        kind.detects(v)
                    } else {
                        kind.detects_automatically(v)
                    }
                };
                if detects(x) && detects(y) {
                    return Some(Field::Id(p.as_str(), c.as_str()));
                }
            }
        }
        None
    }
}

fn order(o: Ordering) -> &'static str {
    match o {
        Ordering::Less => "<",
        Ordering::Equal => "=",
        Ordering::Greater => ">",
    }
}
