//! [`RouteKey`]: the one meaning of "route" after grouping — a method and a path template
//! (`GET /auth/users/{id}`). Every per-route table (noise state, aggregates, report rows,
//! gates) is keyed by it; configuration globs (`[[routes]] match`) are looked up with its
//! [`RouteKey::template`], never by splitting a joined string.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A grouped route: `method` (upper case, `*` for the overflow row) and `template`.
///
/// Ordered, compared and hashed like its display form `METHOD template`, which it keeps so
/// maps keyed by it can be looked up with a `&str` (`routes["GET /x"]`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    /// `METHOD template`.
    name: String,
    /// Length of the method in `name`.
    method_len: usize,
}

impl RouteKey {
    pub fn new(method: &str, template: &str) -> RouteKey {
        RouteKey {
            name: format!("{method} {template}"),
            method_len: method.len(),
        }
    }

    /// From the grouper's `METHOD template` output (a method never contains a space).
    pub(crate) fn from_grouped(name: String) -> RouteKey {
        let method_len = name.find(' ').unwrap_or(0);
        RouteKey { name, method_len }
    }

    /// The row exchanges past `[grouping] max_routes` are folded into (`* {overflow}`).
    pub fn overflow() -> RouteKey {
        RouteKey::new("*", "{overflow}")
    }

    pub fn method(&self) -> &str {
        &self.name[..self.method_len]
    }

    /// The path template (`/auth/users/{id}`).
    pub fn template(&self) -> &str {
        self.name.get(self.method_len + 1..).unwrap_or("")
    }

    /// `METHOD template`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn is_overflow(&self) -> bool {
        self.name == crate::compare::grouping::OVERFLOW_ROUTE
    }
}

impl Borrow<str> for RouteKey {
    fn borrow(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)
    }
}

impl Serialize for RouteKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for RouteKey {
    /// From its display form; a string without a space is a method-less template.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RouteKey, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.split_once(' ') {
            Some((m, t)) => RouteKey::new(m, t),
            None => RouteKey::new("", &s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_lookup_by_str() {
        let k = RouteKey::new("GET", "/users/{id}");
        assert_eq!(k.method(), "GET");
        assert_eq!(k.template(), "/users/{id}");
        let mut m = std::collections::BTreeMap::new();
        m.insert(k.clone(), 1);
        assert_eq!(m["GET /users/{id}"], 1);
        assert!(RouteKey::overflow().is_overflow());
        assert_eq!(RouteKey::overflow().template(), "{overflow}");
    }
}
