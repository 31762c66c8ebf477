//! Header comparison: names case-insensitive, repeated headers joined in order.
//!
//! Owns the built-in treatment of volatile headers: the ignore list (date, server,
//! x-request-id, hop-by-hop), `content-length` (ignored when both bodies were captured whole: the body comparison says
//! what differs) and
//! `set-cookie` (compared per cookie by name and attributes, never by value; `expires` and
//! `max-age` by presence only), `content-type` compared as a media type ([`super::media`]),
//! and the headers that only describe a body (`content-type`, `content-length`,
//! `content-encoding`, `content-language`) left out when both bodies are empty.
//! `compare_headers` overrides all of that. Paths are
//! `header:<name>` and `header:set-cookie:<cookie>`. Pure: no I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use super::media;
use super::rules::{DEFAULT_IGNORED_HEADERS, Rules};
use super::{Comparison, DiffKind, Difference, Reason};
use crate::exchange::Headers;

/// Headers that only describe the body: not compared when both bodies are empty (a 204,
/// a 304, an answer to HEAD).
const BODY_HEADERS: [&str; 4] = [
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
];

/// What the body comparison knows that the headers need.
#[derive(Debug, Clone, Copy)]
pub struct Bodies {
    /// Both bodies were captured whole (not truncated).
    pub whole: bool,
    /// Both bodies are empty (and whole).
    pub empty: bool,
}

pub fn compare_headers(
    primary: &Headers,
    other: &Headers,
    bodies: Bodies,
    rules: &Rules,
    out: &mut Comparison,
) {
    let bodies_whole = bodies.whole;
    let p = group(primary);
    let o = group(other);
    let mut names: Vec<&String> = p.keys().chain(o.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let a = p.get(name);
        let b = o.get(name);
        let compared = rules.compared_headers.contains(name.as_str());
        if !compared && name == "set-cookie" {
            cookies(a, b, out);
            continue;
        }
        if a == b {
            continue;
        }
        let d = difference(format!("header:{name}"), a, b);
        if compared {
            out.real(d);
        } else if bodies.empty && BODY_HEADERS.contains(&name.as_str()) {
            let why = format!("{name} ignored: both bodies are empty");
            out.noise(d, Reason::Header(why));
        } else if name == "content-type"
            && let (Some(x), Some(y)) = (a, b)
            && media::same(&x.join(", "), &y.join(", "))
        {
            let why = "content-type: the same media type (case, parameter order, spacing and \
                       quotes aside; charset=utf-8 is JSON's only charset)";
            out.noise(d, Reason::Header(why.into()));
        } else if rules.ignored_headers.contains(name.as_str()) {
            let why = if DEFAULT_IGNORED_HEADERS.contains(&name.as_str()) {
                format!("{name} ignored by default")
            } else {
                format!("{name} ignored by ignore_headers")
            };
            out.noise(d, Reason::Header(why));
        } else if name == "content-length" && bodies_whole {
            out.noise(
                d,
                Reason::Header("content-length ignored: the bodies are compared whole".into()),
            );
        } else {
            out.real(d);
        }
    }
}

fn group(headers: &Headers) -> BTreeMap<String, Vec<&str>> {
    let mut map: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        map.entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.as_str());
    }
    map
}

fn difference(path: String, a: Option<&Vec<&str>>, b: Option<&Vec<&str>>) -> Difference {
    let detail = match (a, b) {
        (Some(_), None) => Some("missing on the other side".to_string()),
        (None, Some(_)) => Some("extra on the other side".to_string()),
        _ => None,
    };
    Difference {
        path,
        kind: DiffKind::Header,
        primary: a.map(|v| Value::from(v.join(", "))),
        candidate: b.map(|v| Value::from(v.join(", "))),
        detail,
    }
}

/// `set-cookie` values per cookie name → normalised attributes (value left out).
fn parse_cookies(values: Option<&Vec<&str>>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for value in values.into_iter().flatten() {
        let mut parts = value.split(';');
        let name = parts
            .next()
            .and_then(|nv| nv.split('=').next())
            .unwrap_or("")
            .trim()
            .to_string();
        let mut attrs: Vec<String> = parts
            .filter_map(|attr| {
                let attr = attr.trim();
                if attr.is_empty() {
                    return None;
                }
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                let k = k.trim().to_ascii_lowercase();
                Some(match k.as_str() {
                    "expires" | "max-age" => k,
                    _ if v.is_empty() => k,
                    _ => format!("{k}={}", v.trim()),
                })
            })
            .collect();
        attrs.sort();
        out.insert(name, attrs.join("; "));
    }
    out
}

fn cookies(a: Option<&Vec<&str>>, b: Option<&Vec<&str>>, out: &mut Comparison) {
    let pa = parse_cookies(a);
    let pb = parse_cookies(b);
    let mut names: Vec<&String> = pa.keys().chain(pb.keys()).collect();
    names.sort();
    names.dedup();
    let mut structural = false;
    for name in names {
        let (x, y) = (pa.get(name), pb.get(name));
        if x == y {
            continue;
        }
        structural = true;
        let detail = match (x, y) {
            (Some(_), None) => "cookie missing on the other side",
            (None, Some(_)) => "cookie extra on the other side",
            _ => "cookie attributes differ (values are not compared)",
        };
        out.real(Difference {
            path: format!("header:set-cookie:{name}"),
            kind: DiffKind::Header,
            primary: x.map(|s| Value::from(s.as_str())),
            candidate: y.map(|s| Value::from(s.as_str())),
            detail: Some(detail.into()),
        });
    }
    if !structural && a != b {
        out.noise(
            difference("header:set-cookie".into(), a, b),
            Reason::Header("set-cookie compared by cookie name and attributes, not value".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::spec::RuleSpec;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn run(a: &Headers, b: &Headers, agree: bool, rules: &Rules) -> Comparison {
        let mut out = Comparison::default();
        let bodies = Bodies {
            whole: agree,
            empty: false,
        };
        compare_headers(a, b, bodies, rules, &mut out);
        out
    }

    #[test]
    fn volatile_headers_are_suppressed_with_reasons() {
        let a = h(&[
            ("date", "Mon"),
            ("content-type", "application/json"),
            ("content-length", "10"),
            ("x-request-id", "1"),
        ]);
        let b = h(&[
            ("Date", "Tue"),
            ("content-type", "application/json"),
            ("content-length", "12"),
            ("x-request-id", "2"),
        ]);
        let out = run(&a, &b, true, &Rules::default());
        assert!(out.differences.is_empty(), "{:?}", out.differences);
        assert_eq!(out.suppressed.len(), 3);
        assert_eq!(
            out.suppressed[0].1.to_string(),
            "header: content-length ignored: the bodies are compared whole"
        );
        assert_eq!(
            out.suppressed[1].1.to_string(),
            "header: date ignored by default"
        );
        let out = run(&a, &b, false, &Rules::default());
        assert_eq!(out.differences.len(), 1);
        assert_eq!(out.differences[0].path, "header:content-length");
    }

    #[test]
    fn compare_and_ignore_lists_apply() {
        let spec = RuleSpec {
            compare_headers: vec!["date".into()],
            ignore_headers: vec!["etag".into()],
            ..RuleSpec::default()
        };
        let rules = Rules::compile(&spec).unwrap_or_default();
        let out = run(
            &h(&[("date", "Mon"), ("etag", "1"), ("vary", "accept")]),
            &h(&[("date", "Tue"), ("etag", "2")]),
            true,
            &rules,
        );
        let paths: Vec<_> = out.differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["header:date", "header:vary"]);
        assert_eq!(
            out.differences[1].detail.as_deref(),
            Some("missing on the other side")
        );
        assert_eq!(
            out.suppressed[0].1.to_string(),
            "header: etag ignored by ignore_headers"
        );
    }

    #[test]
    fn set_cookie_by_name_and_attributes() {
        let rules = Rules::default();
        let a = h(&[("set-cookie", "sid=abc; Path=/; HttpOnly; Expires=Mon")]);
        let b = h(&[("set-cookie", "sid=xyz; HttpOnly; path=/; Expires=Tue")]);
        let out = run(&a, &b, true, &rules);
        assert!(out.differences.is_empty());
        assert_eq!(out.suppressed.len(), 1);
        let c = h(&[("set-cookie", "sid=xyz; Path=/")]);
        let out = run(&a, &c, true, &rules);
        assert_eq!(out.differences[0].path, "header:set-cookie:sid");
        let d = h(&[("set-cookie", "session=xyz; Path=/; HttpOnly; Expires=Tue")]);
        let out = run(&a, &d, true, &rules);
        assert_eq!(out.differences.len(), 2);
    }
}
