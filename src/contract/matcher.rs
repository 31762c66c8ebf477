//! Path templates of contract operations: `/auth/users/{id}` matched against a request path.
//!
//! Owns how a concrete request path finds its operation: same segment count, a `{name}`
//! segment matches one non-empty segment (and `prefix{name}suffix` segments match by prefix
//! and suffix), and the most literal template wins — compared segment by segment from the
//! left, as OpenAPI says a concrete path (`/users/search`) wins over a template
//! (`/users/{user_id}`). Never allocates per lookup beyond splitting the path.

use std::collections::HashMap;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Literal(String),
    /// `{name}`, or `prefix{name}suffix`.
    Param {
        prefix: String,
        suffix: String,
    },
}

impl Seg {
    fn parse(text: &str) -> Seg {
        match (text.find('{'), text.rfind('}')) {
            (Some(open), Some(close)) if open < close => Seg::Param {
                prefix: text[..open].to_string(),
                suffix: text[close + 1..].to_string(),
            },
            _ => Seg::Literal(text.to_string()),
        }
    }

    fn matches(&self, segment: &str) -> bool {
        match self {
            Seg::Literal(l) => l == segment,
            Seg::Param { prefix, suffix } => {
                segment.len() > prefix.len() + suffix.len()
                    && segment.starts_with(prefix.as_str())
                    && segment.ends_with(suffix.as_str())
            }
        }
    }

    fn is_literal(&self) -> bool {
        matches!(self, Seg::Literal(_))
    }
}

/// Split a template or a request path (query and fragment dropped) into segments.
pub(crate) fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.trim_start_matches('/').split('/')
}

/// Templates per (method, segment count) → operation index.
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    by_shape: HashMap<(String, usize), Vec<(Vec<Seg>, usize)>>,
}

impl Matcher {
    /// Register `template` for `method` (upper case) as operation `index`.
    pub(crate) fn add(&mut self, method: &str, template: &str, index: usize) {
        let segs: Vec<Seg> = segments(template).map(Seg::parse).collect();
        self.by_shape
            .entry((method.to_ascii_uppercase(), segs.len()))
            .or_default()
            .push((segs, index));
    }

    /// The operation whose template fits `path` best, if any.
    pub(crate) fn find(&self, method: &str, path: &str) -> Option<usize> {
        let parts: Vec<&str> = segments(path).collect();
        let method = method.to_ascii_uppercase();
        let list = self.by_shape.get(&(method, parts.len()))?;
        let mut best: Option<&(Vec<Seg>, usize)> = None;
        for cand in list {
            if !cand.0.iter().zip(&parts).all(|(s, p)| s.matches(p)) {
                continue;
            }
            best = match best {
                Some(b) if !more_literal(&cand.0, &b.0) => Some(b),
                _ => Some(cand),
            };
        }
        best.map(|b| b.1)
    }
}

/// `a` is more literal than `b`: at the first segment where they differ in kind, `a` has the
/// literal.
fn more_literal(a: &[Seg], b: &[Seg]) -> bool {
    for (x, y) in a.iter().zip(b) {
        match (x.is_literal(), y.is_literal()) {
            (true, false) => return true,
            (false, true) => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concrete_path_wins_over_template() {
        let mut m = Matcher::default();
        m.add("get", "/auth/users/{id}", 0);
        m.add("GET", "/auth/users/search", 1);
        m.add("PUT", "/auth/users/{id}", 2);
        m.add("GET", "/files/{name}.json", 3);
        assert_eq!(m.find("GET", "/auth/users/17"), Some(0));
        assert_eq!(m.find("GET", "/auth/users/search?q=a"), Some(1));
        assert_eq!(m.find("PUT", "/auth/users/17"), Some(2));
        assert_eq!(m.find("DELETE", "/auth/users/17"), None);
        assert_eq!(m.find("GET", "/auth/users/17/x"), None);
        assert_eq!(m.find("GET", "/files/a.json"), Some(3));
        assert_eq!(m.find("GET", "/files/a.yaml"), None);
        assert_eq!(
            m.find("GET", "/auth/users/"),
            None,
            "empty segment is no id"
        );
    }
}
