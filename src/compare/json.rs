//! The structural JSON diff: two `serde_json::Value`s → differences at JSON Pointer paths.
//!
//! Owns the walk and its cost model. The walk is iterative (an explicit frame stack, one
//! frame per nesting level, children produced lazily), so neither depth nor width can
//! overflow the stack or allocate per element up front. Objects are merge-joined on their
//! sorted keys; arrays are compared through per-element structural hashes (equal elements
//! are skipped without a walk, a reordering is one `order_only` difference, insertions and
//! removals are aligned by common prefix and suffix). Values are cloned only for reported
//! differences. Never parses, never does I/O, never formats reports.

use std::iter::Peekable;

use serde_json::{Value, map};

use super::normalise::{AUTOMATIC, NormaliserKind, Verdict as Judged, json_type, shape};
use super::path::{Seg, pointer};
use super::rules::Rules;
use super::value::{equal, same_type, scalar_equal};
use super::{Comparison, DiffKind, Difference, Reason, RuleWarning};

/// Values nested deeper than this inside a reported difference are elided.
const CLONE_DEPTH: usize = 64;

/// Compare two JSON values under `rules`, appending to `out`. Paths start at `prefix`
/// (the body root is `""`).
pub fn diff_values(a: &Value, b: &Value, rules: &Rules, out: &mut Comparison) {
    let mut walk = Walk {
        rules,
        path: Vec::new(),
        out,
        relation_budget: relations::MAX_OBJECTS,
    };
    walk.run(a, b);
}

enum Frame<'a> {
    Object {
        a: Peekable<map::Iter<'a>>,
        b: Peekable<map::Iter<'a>>,
    },
    /// Positional pairs `(i, j)` to descend into; the child path uses the primary's index.
    Pairs {
        a: &'a [Value],
        b: &'a [Value],
        pairs: Vec<(usize, usize)>,
        next: usize,
    },
}

enum Child<'a> {
    Both(&'a Value, &'a Value),
    Missing(&'a Value),
    Extra(&'a Value),
}

struct Walk<'a, 'r> {
    rules: &'r Rules,
    path: Vec<Seg<'a>>,
    out: &'r mut Comparison,
    /// Objects left whose volatile fields may still be compared for relations.
    relation_budget: usize,
}

impl<'a> Walk<'a, '_> {
    fn run(&mut self, a: &'a Value, b: &'a Value) {
        let mut stack: Vec<Frame<'a>> = Vec::new();
        self.enter(a, b, &mut stack);
        while let Some(top) = stack.last_mut() {
            if self.out.cut {
                return;
            }
            let Some((seg, child)) = next_child(top) else {
                stack.pop();
                self.path.pop();
                continue;
            };
            if let Child::Both(x, y) = child
                && !is_container(x)
                && scalar_equal(x, y)
            {
                continue;
            }
            self.path.push(seg);
            let pushed = match child {
                Child::Both(x, y) => self.enter(x, y, &mut stack),
                Child::Missing(x) => {
                    self.emit(DiffKind::Missing, Some(x), None, None);
                    false
                }
                Child::Extra(y) => {
                    self.emit(DiffKind::Extra, None, Some(y), None);
                    false
                }
            };
            if !pushed {
                self.path.pop();
            }
        }
    }

    /// Compare `a` and `b` at the current path. Returns true when a frame was pushed (the
    /// path segment then stays until the frame is exhausted).
    fn enter(&mut self, a: &'a Value, b: &'a Value, stack: &mut Vec<Frame<'a>>) -> bool {
        if !self.rules.ignore.is_empty()
            && let Some(pattern) = self.rules.ignored(&self.path)
        {
            if !equal(a, b) {
                let kind = if same_type(a, b) {
                    DiffKind::ValueChanged
                } else {
                    DiffKind::TypeChanged
                };
                let containers = is_container(a) || is_container(b);
                let d = Difference {
                    path: pointer(&self.path),
                    kind,
                    primary: (!containers).then(|| clone_bounded(a, 0)),
                    candidate: (!containers).then(|| clone_bounded(b, 0)),
                    detail: containers.then(|| "subtree differs".to_string()),
                };
                self.out
                    .noise(d, Reason::Rule(format!("ignore {}", pattern.source)));
            }
            return false;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                if x.is_empty() && y.is_empty() {
                    return false;
                }
                self.relations(x, y);
                stack.push(Frame::Object {
                    a: x.iter().peekable(),
                    b: y.iter().peekable(),
                });
                true
            }
            (Value::Array(x), Value::Array(y)) => self.enter_array(x, y, stack),
            _ if scalar_equal(a, b) => false,
            _ => {
                self.leaf(a, b);
                false
            }
        }
    }

    /// Run `f` with `seg` appended to the path.
    fn at(&mut self, seg: Seg<'a>, f: impl FnOnce(&mut Self)) {
        self.path.push(seg);
        f(self);
        self.path.pop();
    }

    /// Two differing non-container values (or a type change) at the current path.
    fn leaf(&mut self, a: &Value, b: &Value) {
        // A redaction marker keeps the JSON type of its secret (`[REDACTED number …]`).
        let (ta, tb) = (json_type(a), json_type(b));
        let kind = if ta == tb {
            DiffKind::ValueChanged
        } else {
            DiffKind::TypeChanged
        };
        if let (Value::Number(x), Value::Number(y)) = (a, b)
            && let Some(t) = self.rules.tolerance_at(&self.path)
            && let (Some(x), Some(y)) = (x.as_f64(), y.as_f64())
            && t.accepts(x, y)
        {
            self.suppress(kind, a, b, || Reason::Tolerance(t.describe()));
            return;
        }
        let mut not_applicable = None;
        if let Some((pattern, norm)) = self.rules.normaliser_at(&self.path) {
            match norm.judge(a, b) {
                Judged::Noise(why) => {
                    self.suppress(kind, a, b, || Reason::Normaliser {
                        kind: norm,
                        detail: why,
                        rule: Some(pattern.source.clone()),
                    });
                    self.precision(norm, a, b, true);
                    return;
                }
                Judged::KindChanged(why) => {
                    self.emit(kind, Some(a), Some(b), Some(why));
                    return;
                }
                Judged::NotApplicable => {
                    // The rule never applies here: say so once, and let the automatic
                    // detectors judge the values (a `token` rule over timestamps must not
                    // turn them into differences).
                    let rule = format!("normalise {} as {}", pattern.source, norm.as_str());
                    self.out.warn(RuleWarning {
                        rule,
                        path: pointer(&self.path),
                        shape: shape(a),
                    });
                    not_applicable = Some(format!("neither side is a {}", norm.as_str()));
                }
            }
        }
        if self.rules.automatic {
            for norm in AUTOMATIC {
                match norm.judge_automatically(a, b) {
                    Judged::Noise(why) => {
                        self.suppress(kind, a, b, || Reason::Normaliser {
                            kind: norm,
                            detail: why,
                            rule: None,
                        });
                        self.precision(norm, a, b, false);
                        return;
                    }
                    Judged::KindChanged(why) => {
                        self.emit(kind, Some(a), Some(b), Some(why));
                        return;
                    }
                    Judged::NotApplicable => {}
                }
            }
        }
        let detail = match not_applicable {
            Some(why) => Some(why),
            None => (kind == DiffKind::TypeChanged).then(|| format!("{ta} → {tb}")),
        };
        self.emit(kind, Some(a), Some(b), detail);
    }

    /// Two timestamps judged noise one by one whose precision as written changed (whole
    /// seconds on one side, a dropped zone): a `precision_changed` difference.
    fn precision(&mut self, norm: NormaliserKind, a: &Value, b: &Value, explicit: bool) {
        if let Some([p, q]) = norm.precision_change(a, b, explicit) {
            let detail = format!("timestamp precision changed: {p} → {q}");
            self.emit_raw(
                DiffKind::PrecisionChanged,
                Some(Value::from(p)),
                Some(Value::from(q)),
                Some(detail),
            );
        }
    }

    /// Record a suppressed leaf difference; past the cap only count it (no clone).
    fn suppress(&mut self, kind: DiffKind, a: &Value, b: &Value, reason: impl FnOnce() -> Reason) {
        if self.out.suppressed.len() >= super::MAX_SUPPRESSED {
            self.out.omitted += 1;
            return;
        }
        let d = self.difference(kind, Some(a), Some(b), None);
        self.out.noise(d, reason());
    }

    fn difference(
        &self,
        kind: DiffKind,
        a: Option<&Value>,
        b: Option<&Value>,
        detail: Option<String>,
    ) -> Difference {
        Difference {
            path: pointer(&self.path),
            kind,
            primary: a.map(|v| clone_bounded(v, 0)),
            candidate: b.map(|v| clone_bounded(v, 0)),
            detail,
        }
    }

    /// Report a difference at the current path unless an ignore rule covers it.
    fn emit(
        &mut self,
        kind: DiffKind,
        a: Option<&Value>,
        b: Option<&Value>,
        detail: Option<String>,
    ) {
        if self.out.cut {
            return;
        }
        let d = self.difference(kind, a, b, detail);
        self.route(d);
    }

    fn emit_raw(
        &mut self,
        kind: DiffKind,
        a: Option<Value>,
        b: Option<Value>,
        detail: Option<String>,
    ) {
        let d = Difference {
            path: pointer(&self.path),
            kind,
            primary: a,
            candidate: b,
            detail,
        };
        self.route(d);
    }

    fn route(&mut self, d: Difference) {
        match self.rules.ignored(&self.path) {
            Some(p) => {
                let reason = Reason::Rule(format!("ignore {}", p.source));
                self.out.noise(d, reason);
            }
            None => self.out.real(d),
        }
    }
}

fn next_child<'a>(frame: &mut Frame<'a>) -> Option<(Seg<'a>, Child<'a>)> {
    match frame {
        Frame::Object { a, b } => {
            let order = match (a.peek(), b.peek()) {
                (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => return None,
            };
            match order {
                std::cmp::Ordering::Equal => {
                    let (k, x) = a.next()?;
                    let (_, y) = b.next()?;
                    Some((Seg::Key(k.as_str()), Child::Both(x, y)))
                }
                std::cmp::Ordering::Less => {
                    let (k, x) = a.next()?;
                    Some((Seg::Key(k.as_str()), Child::Missing(x)))
                }
                std::cmp::Ordering::Greater => {
                    let (k, y) = b.next()?;
                    Some((Seg::Key(k.as_str()), Child::Extra(y)))
                }
            }
        }
        Frame::Pairs { a, b, pairs, next } => {
            let (i, j) = *pairs.get(*next)?;
            *next += 1;
            Some((Seg::Index(i), Child::Both(a.get(i)?, b.get(j)?)))
        }
    }
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

/// Clone a value for a report, eliding what lies deeper than [`CLONE_DEPTH`] (recursion is
/// bounded by that depth).
pub fn clone_bounded(v: &Value, depth: usize) -> Value {
    match v {
        Value::Array(items) if depth >= CLONE_DEPTH => {
            Value::String(format!("<array of {} elided: too deep>", items.len()))
        }
        Value::Object(m) if depth >= CLONE_DEPTH => {
            Value::String(format!("<object of {} keys elided: too deep>", m.len()))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|x| clone_bounded(x, depth + 1)).collect())
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), clone_bounded(x, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

mod array;
mod relations;

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
