//! Where a key's value is in the configuration text, and which key a position belongs to.
//!
//! Lets validation of plain (non-`Spanned`) fields point at file:line:column, and gives
//! serde's type errors their dotted key. Parses the text a second time with toml's span-
//! preserving document parser; never fails (unknown places give `None`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The span of the value at a dotted path (`proxy.max_body_bytes`, `routes.0.sample`).
pub fn value_span(text: &str, path: &str) -> Option<Range<usize>> {
    let doc = DeTable::parse(text).ok()?;
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut current: &Spanned<DeValue> = lookup(doc.get_ref(), first)?;
    for p in parts {
        current = match current.get_ref() {
            DeValue::Table(t) => lookup(t, p)?,
            DeValue::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current.span())
}

fn lookup<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// The dotted key (`proxy.listen`, `routes[1].sample`) whose value contains `offset`.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_in_table(doc.get_ref(), offset, &mut path).then(|| join(&path))
}

enum Part {
    Key(String),
    Index(usize),
}

fn join(path: &[Part]) -> String {
    let mut out = String::new();
    for p in path {
        match p {
            Part::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Part::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn find_in_table(t: &DeTable, offset: usize, path: &mut Vec<Part>) -> bool {
    for (k, v) in t.iter() {
        let span = v.span();
        let inside = span.contains(&offset) || k.span().contains(&offset);
        let nested = matches!(v.get_ref(), DeValue::Table(_) | DeValue::Array(_));
        if inside || nested {
            path.push(Part::Key(k.get_ref().to_string()));
            if find_in_value(v, offset, path) || inside {
                return true;
            }
            path.pop();
        }
    }
    false
}

fn find_in_value(v: &Spanned<DeValue>, offset: usize, path: &mut Vec<Part>) -> bool {
    match v.get_ref() {
        DeValue::Table(t) => find_in_table(t, offset, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Part::Index(i));
                if find_in_value(item, offset, path) || item.span().contains(&offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}
