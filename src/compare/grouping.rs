//! Route grouping: `GET /auth/users/17?x=1` → `GET /auth/users/{id}`, with a hard cap on the
//! number of routes.
//!
//! Owns how exchanges are grouped into report rows, and nothing else (no I/O, no clock; the
//! result depends only on the configuration and the order of the requests seen). In order:
//!
//! 1. **Explicit templates** (`[grouping] templates`, OpenAPI paths): `(method or "*",
//!    "/users/{user_id}/posts/{post_id}")`, where `{name}` matches exactly one non-empty
//!    segment. The most literal template wins, then a method-specific one before `*`.
//! 2. **Segment shape** ([`classify`]): numbers, UUIDs, hex of 8+ characters with a digit and
//!    base64url-ish tokens of 20+ characters with a digit become `{id}`; segments longer than
//!    [`MAX_LITERAL_BYTES`] become `{param}`.
//! 3. **Learned parameters**: every other segment is a literal *candidate* at its position
//!    (method + template so far + segment index). A position keeps the first `param_after`
//!    distinct literals it sees as literals; any further distinct value at that position
//!    becomes `{param}`. `/m/a`, `/m/b`, … thus give at most `param_after` literal routes,
//!    then `GET /m/{param}`, whatever the values look like.
//! 4. **Route cap**: once `max_routes` distinct route names were given out, any new one is
//!    folded into [`OVERFLOW_ROUTE`] and counted.
//!
//! Memory is bounded by configuration, never by input: positions tracked ≤
//! [`MAX_POSITIONS`] (past it, unknown positions give `{param}`), literals per position ≤
//! `param_after` (kept as 64-bit hashes), routes ≤ `max_routes`, segments per route ≤
//! [`MAX_SEGMENTS`] (the rest is `/{tail}`), methods ≤ [`MAX_METHOD_BYTES`] (longer ones are
//! `{method}`). Query strings and fragments are dropped.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::normalise::is_uuid;

/// The one route exchanges past the route cap are folded into.
pub const OVERFLOW_ROUTE: &str = "* {overflow}";
/// Default `[grouping] max_routes`.
pub const DEFAULT_MAX_ROUTES: usize = 500;
/// Default `[grouping] param_after`: distinct literals a position keeps before `{param}`.
pub const DEFAULT_PARAM_AFTER: usize = 32;
/// Positions (method + template prefix + index) whose literals are tracked.
pub const MAX_POSITIONS: usize = 4096;
/// Segments longer than this are parameters, never literals.
pub const MAX_LITERAL_BYTES: usize = 64;
/// Segments kept in a route name; deeper ones become one `/{tail}`.
pub const MAX_SEGMENTS: usize = 32;
/// Longer (extension) methods are grouped as `{method}`.
pub const MAX_METHOD_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Param,
}

#[derive(Debug, Clone)]
struct Template {
    /// `None` = any method (`*`).
    method: Option<String>,
    source: String,
    parts: Vec<Part>,
}

/// Limits of the learned grouping (`[grouping]` in `cutover.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupingLimits {
    /// Distinct literals a position keeps before further values become `{param}`.
    pub param_after: usize,
    /// Distinct routes given out before new ones fold into [`OVERFLOW_ROUTE`].
    pub max_routes: usize,
}

impl Default for GroupingLimits {
    fn default() -> Self {
        GroupingLimits {
            param_after: DEFAULT_PARAM_AFTER,
            max_routes: DEFAULT_MAX_ROUTES,
        }
    }
}

/// How much state the grouper holds (for tests and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupingStats {
    /// Distinct route names given out (without the overflow route).
    pub routes: usize,
    /// Positions whose literals are tracked.
    pub positions: usize,
    /// Literal hashes held over all positions.
    pub literals: usize,
    /// Requests folded into [`OVERFLOW_ROUTE`].
    pub folded: u64,
}

/// What a segment is, by its shape alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// Looks like an identifier: `{id}`.
    Id,
    /// A parameter whatever the position learned: `{param}`.
    Param,
    /// A literal candidate; the position decides.
    Literal,
}

/// Groups request paths into route templates, learning parameters per position.
#[derive(Debug, Clone, Default)]
pub struct RouteGrouper {
    templates: Vec<Template>,
    limits: GroupingLimits,
    /// Position key → hashes of the literals it keeps (≤ `param_after`).
    positions: HashMap<u64, Vec<u64>>,
    routes: HashSet<String>,
    folded: u64,
}

impl RouteGrouper {
    /// A grouper that knows these `(method or "*", path template)` pairs, with the default
    /// limits.
    pub fn new<M: AsRef<str>, P: AsRef<str>>(
        templates: impl IntoIterator<Item = (M, P)>,
    ) -> RouteGrouper {
        let mut templates: Vec<Template> = templates
            .into_iter()
            .map(|(m, p)| {
                let m = m.as_ref().trim().to_ascii_uppercase();
                let source = p.as_ref().to_string();
                let parts = segments(&source)
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Part::Param
                        } else {
                            Part::Literal(s.to_string())
                        }
                    })
                    .collect();
                Template {
                    method: (m != "*" && !m.is_empty()).then_some(m),
                    source,
                    parts,
                }
            })
            .collect();
        // Most literal segments first, then method-specific before `*`.
        templates.sort_by_key(|t| {
            let literals = t.parts.iter().filter(|p| **p != Part::Param).count();
            (std::cmp::Reverse(literals), t.method.is_none())
        });
        RouteGrouper {
            templates,
            ..RouteGrouper::default()
        }
    }

    /// The same grouper with these limits (a zero is taken as 1).
    pub fn with_limits(mut self, limits: GroupingLimits) -> RouteGrouper {
        self.limits = GroupingLimits {
            param_after: limits.param_after.max(1),
            max_routes: limits.max_routes.max(1),
        };
        self
    }

    pub fn limits(&self) -> GroupingLimits {
        self.limits
    }

    pub fn stats(&self) -> GroupingStats {
        GroupingStats {
            routes: self.routes.len(),
            positions: self.positions.len(),
            literals: self.positions.values().map(Vec::len).sum(),
            folded: self.folded,
        }
    }

    /// `METHOD /template` for a request (`uri` in origin form, query allowed); learns from
    /// it. Past the route cap, [`OVERFLOW_ROUTE`].
    pub fn group(&mut self, method: &str, uri: &str) -> String {
        let name = self.template_of(method, uri);
        if self.routes.contains(&name) {
            return name;
        }
        if self.routes.len() < self.limits.max_routes {
            self.routes.insert(name.clone());
            return name;
        }
        self.folded += 1;
        OVERFLOW_ROUTE.to_string()
    }

    fn template_of(&mut self, method: &str, uri: &str) -> String {
        let method = if method.len() > MAX_METHOD_BYTES {
            "{method}".to_string()
        } else {
            method.to_ascii_uppercase()
        };
        let path = uri.split(['?', '#']).next().unwrap_or("");
        let segs: Vec<&str> = segments(path).collect();
        let known = self.templates.iter().find(|t| {
            t.method.as_deref().is_none_or(|m| m == method)
                && t.parts.len() == segs.len()
                && t.parts.iter().zip(&segs).all(|(p, s)| match p {
                    Part::Param => !s.is_empty(),
                    Part::Literal(l) => l == s,
                })
        });
        if let Some(t) = known {
            return format!("{method} {}", t.source);
        }
        let mut out = String::with_capacity(path.len().min(1024) + method.len() + 1);
        out.push_str(&method);
        out.push(' ');
        if segs.is_empty() {
            out.push('/');
        }
        // The position key: method, the template so far, and the segment index.
        let mut prefix = DefaultHasher::new();
        method.hash(&mut prefix);
        for (i, s) in segs.iter().enumerate() {
            if i == MAX_SEGMENTS {
                out.push_str("/{tail}");
                return out;
            }
            let part = match classify(s) {
                SegmentKind::Id => "{id}",
                SegmentKind::Param => "{param}",
                SegmentKind::Literal => {
                    let mut key = prefix.clone();
                    i.hash(&mut key);
                    if self.learned_literal(key.finish(), s) {
                        s
                    } else {
                        "{param}"
                    }
                }
            };
            part.hash(&mut prefix);
            out.push('/');
            out.push_str(part);
        }
        if path.ends_with('/') && path.len() > 1 {
            out.push('/');
        }
        out
    }

    /// Does the position keep `literal` as a literal (one of its first `param_after`
    /// distinct values)? Learns it when there is room.
    fn learned_literal(&mut self, position: u64, literal: &str) -> bool {
        let value = hash_of(literal);
        let room = self.positions.len() < MAX_POSITIONS;
        match self.positions.get_mut(&position) {
            Some(values) if values.contains(&value) => true,
            Some(values) if values.len() < self.limits.param_after => {
                values.push(value);
                true
            }
            Some(_) => false,
            None if room => {
                self.positions.insert(position, vec![value]);
                true
            }
            // No room to learn a new position: conservative, a parameter.
            None => false,
        }
    }
}

/// What a segment is by its shape. This is the one place that decides that a literal is a
/// parameter whatever its position learned (identifiers, overlong segments, and — once
/// wired — segments that look like secrets).
pub fn classify(s: &str) -> SegmentKind {
    // A redacted or secret-looking segment (a reset token in the path) is a parameter by
    // shape: it must never become part of a route name, a metric label or a report row.
    if looks_like_id(s) || crate::redact::is_marker(s) || crate::redact::looks_secret_segment(s) {
        SegmentKind::Id
    } else if s.len() > MAX_LITERAL_BYTES {
        SegmentKind::Param
    } else {
        SegmentKind::Literal
    }
}

fn hash_of(s: &str) -> u64 {
    // `DefaultHasher::new()` uses fixed keys: the same input gives the same hash in a run.
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Parse one `[grouping] templates` entry: `"/users/{id}"` (any method) or
/// `"GET /users/{id}"`. Returns `(method or "*", path)`, or what is wrong with it.
pub fn parse_template(text: &str) -> Result<(String, String), String> {
    let text = text.trim();
    let (method, path) = match text.split_once(' ') {
        Some((m, p)) => (m.trim(), p.trim()),
        None => ("*", text),
    };
    if method != "*"
        && (method.is_empty()
            || method.len() > MAX_METHOD_BYTES
            || !method.bytes().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(format!(
            "`{method}` is not a method; write `/path/{{param}}` or `GET /path/{{param}}`"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "a template is a path starting with `/`, got {path:?}"
        ));
    }
    if path.contains(['?', '#', ' ']) {
        return Err(format!(
            "a template is a path without query, fragment or spaces, got {path:?}"
        ));
    }
    for s in segments(path) {
        let braces = s.contains(['{', '}']);
        let param = s.len() > 2 && s.starts_with('{') && s.ends_with('}') && {
            let name = &s[1..s.len() - 1];
            name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        };
        if braces && !param {
            return Err(format!(
                "segment {s:?} must be a literal or a whole `{{name}}` (letters, digits, _)"
            ));
        }
    }
    Ok((method.to_ascii_uppercase(), path.to_string()))
}

/// Does a path segment look like an identifier rather than a name?
pub fn looks_like_id(s: &str) -> bool {
    let has_digit = s.bytes().any(|c| c.is_ascii_digit());
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        || is_uuid(s)
        || (s.len() >= 8 && has_digit && s.bytes().all(|c| c.is_ascii_hexdigit()))
        || (s.len() >= 20
            && has_digit
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
}

#[cfg(test)]
#[path = "grouping_tests.rs"]
mod tests;
