//! Route grouping: `GET /auth/users/17?x=1` → `GET /auth/users/{id}`.
//!
//! Owns how exchanges are grouped into report rows. Known templates (e.g. OpenAPI paths,
//! `(method or "*", "/auth/users/{id}")`) win, the most literal one first; otherwise
//! segments that look like identifiers (numbers, UUIDs, hex of 8+ characters with a digit,
//! base64url-ish tokens of 20+ characters with a digit) become `{id}`. Query strings are
//! dropped. Pure: no I/O, no learned state.

use super::normalise::is_uuid;

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

/// Groups request paths into route templates.
#[derive(Debug, Clone, Default)]
pub struct RouteGrouper {
    templates: Vec<Template>,
}

impl RouteGrouper {
    /// A grouper that knows these `(method or "*", path template)` pairs.
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
        RouteGrouper { templates }
    }

    /// `METHOD /template` for a request (`uri` in origin form, query allowed).
    pub fn group(&self, method: &str, uri: &str) -> String {
        let method = method.to_ascii_uppercase();
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
        let mut out = String::with_capacity(path.len() + method.len() + 1);
        out.push_str(&method);
        out.push(' ');
        if segs.is_empty() {
            out.push('/');
        }
        for s in segs {
            out.push('/');
            let id = looks_like_id(s)
                || s == crate::redact::MASK
                || crate::redact::looks_secret_segment(s);
            out.push_str(if id { "{id}" } else { s });
        }
        if path.ends_with('/') && path.len() > 1 {
            out.push('/');
        }
        out
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
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
mod tests {
    use super::*;

    #[test]
    fn learned_ids() {
        let g = RouteGrouper::default();
        assert_eq!(g.group("GET", "/auth/users/17"), "GET /auth/users/{id}");
        assert_eq!(g.group("get", "/auth/users/42?x=1"), "GET /auth/users/{id}");
        assert_eq!(
            g.group("GET", "/auth/users/search?q=x"),
            "GET /auth/users/search"
        );
        assert_eq!(
            g.group("DELETE", "/s/0b6a4b0e-8c1f-4a53-9f0e-3c2d1b0a9f8e/x"),
            "DELETE /s/{id}/x"
        );
        assert_eq!(g.group("GET", "/blob/deadbeef01"), "GET /blob/{id}");
        assert_eq!(
            g.group("GET", "/t/aGVsbG8gd29ybGQ_12345-xyz"),
            "GET /t/{id}"
        );
        assert_eq!(g.group("GET", "/t/configuration"), "GET /t/configuration");
        assert_eq!(g.group("GET", "/"), "GET /");
        assert_eq!(g.group("GET", "?a=1"), "GET /");
    }

    #[test]
    fn known_templates_win() {
        let g = RouteGrouper::new([
            ("*", "/auth/users/{user}"),
            ("GET", "/auth/users/search"),
            ("POST", "/auth/users/{id}/avatar"),
        ]);
        assert_eq!(
            g.group("GET", "/auth/users/alice"),
            "GET /auth/users/{user}"
        );
        assert_eq!(
            g.group("GET", "/auth/users/search"),
            "GET /auth/users/search"
        );
        assert_eq!(
            g.group("PUT", "/auth/users/search"),
            "PUT /auth/users/{user}"
        );
        assert_eq!(
            g.group("POST", "/auth/users/7/avatar"),
            "POST /auth/users/{id}/avatar"
        );
        assert_eq!(
            g.group("GET", "/auth/users/7/avatar"),
            "GET /auth/users/{id}/avatar"
        );
    }
}
