//! The one way every renderer (terminal line, `summary.md`, `index.html`, `junit.xml`)
//! presents a route's differences: array positions folded into one group per shape
//! (`/items/0/id`, `/items/1/id` → `/items/*/id`), status changes as headlines with the
//! differences that came with them folded beneath, values shown with `null` distinct from
//! absent, and text diffs split into classed unified-diff lines.
//!
//! Pure functions of the model: nothing here computes a figure `report.json` lacks.

use serde::Serialize;
use serde_json::Value;

use super::model::{PathReport, ReasonCount, RouteReport};
use super::order::is_headline;
use crate::compare::DiffKind;
use crate::pipeline::aggregate::Example;

/// `/3/id` → `/*/id`: array positions replaced by `*`.
pub fn index_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// JSON Pointer `""` is the whole body.
pub fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// Differences of one shape and kind (array positions folded).
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The path with array positions as `*`, as displayed (`/` for the whole body).
    pub shape: String,
    pub kind: DiffKind,
    /// Exchanges showing it at its most frequent position.
    pub count: u64,
    /// The differing paths folded into this group, most frequent first.
    pub members: Vec<&'a PathReport>,
}

impl<'a> Group<'a> {
    /// How many array positions (distinct paths) the group folds.
    pub fn positions(&self) -> usize {
        self.members.len()
    }

    /// Examples of the group, the most frequent position's first (at most `max`).
    pub fn examples(&self, max: usize) -> Vec<&'a Example> {
        self.members
            .iter()
            .flat_map(|m| m.examples.iter())
            .take(max)
            .collect()
    }

    /// `"/items/*/id value_changed"`.
    pub fn title(&self) -> String {
        format!("{} {}", self.shape, self.kind.as_str())
    }
}

/// A status change (or transport failure) with the differences that came with it.
#[derive(Debug, Clone)]
pub struct Lead<'a> {
    pub group: Group<'a>,
    /// `200 → 500 (12×), 201 → 200 (3×)`.
    pub label: String,
    /// Differences that appeared only together with this headline.
    pub folded: Vec<Group<'a>>,
}

impl Lead<'_> {
    /// `status 200 → 500 (12×)`, `transport response 200 → timeout`.
    pub fn title(&self) -> String {
        if self.group.kind == DiffKind::Status {
            format!("status {}", self.label)
        } else {
            format!("{} {}", self.group.shape, self.label)
        }
    }
}

/// A route's differences as every renderer shows them: leads first, then the rest.
#[derive(Debug, Clone, Default)]
pub struct RouteView<'a> {
    pub leads: Vec<Lead<'a>>,
    pub rest: Vec<Group<'a>>,
}

impl RouteView<'_> {
    /// Groups in display order: each lead, its folded groups, then the rest.
    pub fn group_count(&self) -> usize {
        self.leads.iter().map(|l| 1 + l.folded.len()).sum::<usize>() + self.rest.len()
    }
}

/// Group `route`'s differences (kept in the model's order, which already leads with status
/// changes, 5xx first) by shape and kind, and fold each under its headline.
pub fn route_view(route: &RouteReport) -> RouteView<'_> {
    let mut groups: Vec<(Group<'_>, Option<&str>)> = Vec::new();
    for d in &route.differences {
        let shape = display_path(&index_shape(&d.path)).to_string();
        match groups
            .iter_mut()
            // Each status pair is its own group (its own count and examples).
            .find(|(g, _)| g.kind == d.kind && g.shape == shape && g.members[0].status == d.status)
        {
            Some((g, head)) => {
                g.count = g.count.max(d.count);
                g.members.push(d);
                if *head != d.headline.as_deref() {
                    *head = None;
                }
            }
            None => groups.push((
                Group {
                    shape,
                    kind: d.kind,
                    count: d.count,
                    members: vec![d],
                },
                d.headline.as_deref(),
            )),
        }
    }
    let status_groups = groups
        .iter()
        .filter(|(g, _)| g.kind == DiffKind::Status)
        .count();
    let mut view = RouteView::default();
    let mut pending = Vec::new();
    for (group, head) in groups {
        if is_headline(group.kind) {
            let label = lead_label(route, &group, status_groups == 1);
            view.leads.push(Lead {
                group,
                label,
                folded: Vec::new(),
            });
        } else {
            pending.push((group, head));
        }
    }
    for (group, head) in pending {
        let lead = head.and_then(|h| {
            view.leads
                .iter_mut()
                .find(|l| l.group.members.iter().any(|m| m.path == h))
        });
        match lead {
            Some(lead) => lead.folded.push(group),
            None => view.rest.push(group),
        }
    }
    view
}

/// What leads a route, as `(kind, words)`: its first status change (or transport failure),
/// else its first difference group, else its first fired gate, else its first other
/// finding; `("parity", failures)` when none of these exists.
pub fn headline(r: &RouteReport) -> (String, String) {
    let view = route_view(r);
    if let Some(lead) = view.leads.first() {
        return (
            lead.group.kind.as_str().to_string(),
            format!(
                "{} in {} of {} exchanges",
                lead.title(),
                lead.group.count,
                r.compared
            ),
        );
    }
    if let Some(g) = view.rest.first() {
        return (
            g.kind.as_str().to_string(),
            format!("{} in {} of {} exchanges", g.title(), g.count, r.compared),
        );
    }
    if let Some(g) = r.gates.iter().find(|g| g.fired) {
        return (g.gate.as_str().to_string(), g.message.clone());
    }
    if let Some(f) = r.findings.first() {
        return (f.kind.clone(), format!("{} {}", f.analyzer, f.code));
    }
    ("parity".to_string(), r.failures.join("; "))
}

/// The pairs a headline stands for: from the status matrix when it is the route's only
/// status group (every changed pair with its count, 5xx first), else from its examples.
fn lead_label(route: &RouteReport, group: &Group<'_>, whole_matrix: bool) -> String {
    let mut pairs: Vec<(String, String, Option<u64>)> = Vec::new();
    if group.kind == DiffKind::Status && whole_matrix {
        for c in route
            .status_matrix
            .iter()
            .filter(|c| c.primary != c.candidate)
        {
            pairs.push((c.primary.clone(), c.candidate.clone(), Some(c.count)));
        }
    }
    if pairs.is_empty() {
        for ex in group.examples(usize::MAX) {
            let pair = (plain(ex.primary.as_ref()), plain(ex.candidate.as_ref()));
            if !pairs.iter().any(|(p, c, _)| (p, c) == (&pair.0, &pair.1)) {
                let count = route
                    .status_matrix
                    .iter()
                    .find(|c| c.primary == pair.0 && c.candidate == pair.1)
                    .map(|c| c.count);
                pairs.push((pair.0, pair.1, count));
            }
        }
    }
    let server_error = |c: &str| c.parse::<u16>().map_or(true, |s| s >= 500);
    pairs.sort_by_key(|(_, c, n)| (!server_error(c), std::cmp::Reverse(n.unwrap_or(0))));
    if pairs.is_empty() {
        return group.shape.clone();
    }
    pairs
        .iter()
        .map(|(p, c, n)| match n {
            Some(n) => format!("{p} → {c} ({n}×)"),
            None => format!("{p} → {c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Suppressed paths of one shape (array positions folded), with their reasons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuppressedGroup {
    /// The path with array positions as `*`, as displayed.
    pub shape: String,
    /// Exchanges at the most frequent position.
    pub count: u64,
    /// Distinct paths folded.
    pub positions: usize,
    /// Each reason with its count at the position where it was most frequent.
    pub reasons: Vec<ReasonCount>,
}

/// A route's suppressed paths grouped by shape, in the model's order.
pub fn suppressed_groups(route: &RouteReport) -> Vec<SuppressedGroup> {
    let mut out: Vec<SuppressedGroup> = Vec::new();
    for s in &route.suppressed {
        let shape = display_path(&index_shape(&s.path)).to_string();
        let at = match out.iter().position(|g| g.shape == shape) {
            Some(at) => at,
            None => {
                out.push(SuppressedGroup {
                    shape,
                    count: 0,
                    positions: 0,
                    reasons: Vec::new(),
                });
                out.len() - 1
            }
        };
        let g = &mut out[at];
        g.count = g.count.max(s.count);
        g.positions += 1;
        for rc in &s.reasons {
            match g.reasons.iter_mut().find(|r| r.reason == rc.reason) {
                Some(r) => r.count = r.count.max(rc.count),
                None => g.reasons.push(rc.clone()),
            }
        }
    }
    out
}

/// A value as people read it: `(absent)` when the side has no value, JSON text otherwise
/// (`null` stays `null`).
pub fn value_text(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(v) => v.to_string(),
    }
}

/// Like [`value_text`], strings without quotes (status lines, transport outcomes).
fn plain(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        other => value_text(other),
    }
}

/// [`value_text`] cut to `max` characters with `…`.
pub fn short_value(v: Option<&Value>, max: usize) -> String {
    cut_chars(&value_text(v), max)
}

/// `s` cut to `max` characters with `…`.
pub fn cut_chars(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s.to_string()
    }
}

/// One line of a unified diff with its CSS class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `file` (`---`/`+++`), `hunk` (`@@`), `del`, `add`, `ctx`, or `note` (text around it).
    pub class: &'static str,
    pub text: String,
}

/// The unified diff an example's detail holds (text and SSE bodies), split into classed
/// lines; `None` when the detail is not a diff.
pub fn diff_lines(ex: &Example) -> Option<Vec<DiffLine>> {
    let detail = ex.detail.as_deref()?;
    if !detail.lines().any(|l| l.starts_with("@@")) {
        return None;
    }
    let mut in_diff = false;
    let lines = detail
        .lines()
        .map(|l| {
            let class = if l.starts_with("--- ") || l.starts_with("+++ ") {
                in_diff = true;
                "file"
            } else if l.starts_with("@@") {
                in_diff = true;
                "hunk"
            } else if !in_diff {
                "note"
            } else if l.starts_with('+') {
                "add"
            } else if l.starts_with('-') {
                "del"
            } else if l.starts_with(' ') || l.is_empty() {
                "ctx"
            } else {
                "note"
            };
            DiffLine {
                class,
                text: l.to_string(),
            }
        })
        .collect();
    Some(lines)
}

/// Whether an example is best shown as its diff rather than as two values.
pub fn shows_as_diff(ex: &Example) -> bool {
    ex.primary.is_none() && ex.candidate.is_none() && diff_lines(ex).is_some()
}
