//! Redaction: removing secrets from an [`Exchange`] before it is written anywhere.
//!
//! Pure functions, no I/O; the recording, report examples, route names and metric labels
//! all go through them. What is secret:
//! A secret value becomes a [`marker`] that keeps its kind and its equality class
//! (`[REDACTED jwt 3f9a1c0b7d2e4f61]`, a keyed hash under a per-process key that is never
//! written), so a recording re-analysed later reaches the live verdict: a token that
//! becomes a number is still a changed kind, two different JWTs are still "same kind".
//!
//! - headers named like a credential ([`names::DEFAULT_HEADERS`] plus configured ones):
//!   `Authorization`/`Proxy-Authorization` keep their scheme (`Bearer [REDACTED jwt …]`),
//!   `Cookie` its cookie names, `Set-Cookie` its name and attributes, others get one
//!   marker for the whole value; URLs in any other header lose their secret parameters and
//!   segments;
//! - fields named like a credential ([`names::DEFAULT_FIELDS`] plus configured ones, names
//!   compared case- and separator-insensitively) get their value's marker, in every body
//!   whatever its declared type or encoding (JSON-style pairs, forms, multipart
//!   parts, XML elements and attributes), in query strings and fragments (`&` and `;` separators) and in `;name=value`
//!   path parameters;
//! - path segments that look like secrets ([`looks_secret_segment`]) become markers.
//!
//! Redaction is idempotent: a marker (or the legacy `[REDACTED]`) is never redacted again.
//!
//! Bodies without secrets keep their exact bytes; a redacted non-UTF-8 body stays
//! non-UTF-8 (and is stored as base64 of the *redacted* bytes); gzip/deflate bodies are
//! scanned decompressed and bodies in codings cutover cannot read are not kept
//! ([`encoding`]).

mod body;
pub mod encoding;
mod headers;
pub mod marker;
pub mod names;
mod pairs;
mod uri;
mod xml;

use serde_json::Value;

use crate::compare::Difference;
use crate::config::{ConfigFile, RecordingConfig, RedactionConfig};
use crate::exchange::{Body, Exchange, Headers, OutcomeResult, header};
pub use headers::{redact_header_value, redact_headers};
pub use marker::{SecretKind, is_marker, value_marker};
use names::{NameSet, Pattern};
pub use uri::{SECRET_SEGMENT_MIN_LEN, looks_secret_segment, redact_path, redact_uri};

/// The legacy replacement text (before markers); still recognised, and used where a text
/// is hidden whole (a difference's detail, a configuration line shown in an error).
pub const MASK: &str = "[REDACTED]";

/// What to redact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    headers: NameSet,
    fields: NameSet,
    path_segments: bool,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            headers: NameSet::from_defaults(names::DEFAULT_HEADERS, names::DEFAULT_KEEP_HEADERS),
            fields: NameSet::from_defaults(names::DEFAULT_FIELDS, &[]),
            path_segments: true,
        }
    }
}

impl Redaction {
    /// The built-in rules plus extra header names and field-name fragments (the legacy
    /// `[recording] redact_headers` / `redact_fields` meaning; invalid entries are skipped,
    /// configuration validation reports them).
    pub fn new(extra_headers: &[String], extra_fields: &[String]) -> Redaction {
        let mut r = Redaction::default();
        for h in extra_headers {
            if let Ok(p) = Pattern::parse(h) {
                r.headers.add(p);
            }
        }
        for f in extra_fields {
            if let Ok(p) = Pattern::fragment(f) {
                r.fields.add(p);
            }
        }
        r
    }

    /// The rules a `[recording]` section asks for (without `[redaction]`).
    pub fn from_config(cfg: &RecordingConfig) -> Redaction {
        Redaction::new(&cfg.redact_headers, &cfg.redact_fields)
    }

    /// The rules a whole configuration asks for: `[recording] redact_*` and `[redaction]`.
    pub fn for_config(file: &ConfigFile) -> Redaction {
        Redaction::from_config(&file.recording).with(&file.redaction)
    }

    /// These rules with a `[redaction]` table applied (added, kept, path segments).
    pub fn with(mut self, cfg: &RedactionConfig) -> Redaction {
        let parsed = |list: &[String]| -> Vec<Pattern> {
            list.iter().filter_map(|p| Pattern::parse(p).ok()).collect()
        };
        parsed(&cfg.headers)
            .into_iter()
            .for_each(|p| self.headers.add(p));
        parsed(&cfg.fields)
            .into_iter()
            .for_each(|p| self.fields.add(p));
        parsed(&cfg.keep_headers)
            .into_iter()
            .for_each(|p| self.headers.keep(p));
        parsed(&cfg.keep_fields)
            .into_iter()
            .for_each(|p| self.fields.keep(p));
        self.path_segments = cfg.path_segments;
        self
    }

    /// Is a body, form or query field with this name secret? (See [`names`].)
    pub fn is_secret_field(&self, name: &str) -> bool {
        self.fields.is_secret(name)
    }

    /// Is a header with this name secret?
    pub fn is_secret_header(&self, name: &str) -> bool {
        self.headers.is_secret(name)
    }

    /// Are secret-looking path segments redacted?
    pub fn path_segments(&self) -> bool {
        self.path_segments
    }
}

/// A copy of `exchange` with every secret replaced.
pub fn redact(exchange: &Exchange, rules: &Redaction) -> Exchange {
    let mut copy = exchange.clone();
    redact_in_place(&mut copy, rules);
    copy
}

/// Replace every secret in `exchange`: request URI and route, headers and bodies of the
/// request and of every response.
pub fn redact_in_place(exchange: &mut Exchange, rules: &Redaction) {
    if let Some(r) = redact_route(&exchange.route, rules) {
        exchange.route = r;
    }
    let req = &mut exchange.request;
    if let Some(u) = redact_uri(&req.uri, rules) {
        req.uri = u;
    }
    redact_body_in(&mut req.body, &req.headers, rules);
    redact_headers(&mut req.headers, rules);
    let o = &mut exchange.outcomes;
    for outcome in std::iter::once(&mut o.primary)
        .chain(o.secondary.as_mut())
        .chain(o.candidate.as_mut())
    {
        if let OutcomeResult::Response(resp) = &mut outcome.result {
            redact_body_in(&mut resp.body, &resp.headers, rules);
            redact_headers(&mut resp.headers, rules);
        }
    }
}

/// `METHOD /path` (or a bare path) with its URI redacted.
pub fn redact_route(route: &str, rules: &Redaction) -> Option<String> {
    match route.split_once(' ') {
        Some((method, uri)) => redact_uri(uri, rules).map(|u| format!("{method} {u}")),
        None => redact_uri(route, rules),
    }
}

/// `METHOD uri` for display (report examples, logs), secrets replaced.
pub fn display_request(method: &str, uri: &str, rules: &Redaction) -> String {
    let uri = redact_uri(uri, rules).unwrap_or_else(|| uri.to_string());
    format!("{method} {uri}")
}

/// Redact the values of a reported difference: a secret header's value, a value at or
/// under a secret field name (`/access_token`, `/credentials/user`), secret fields inside
/// object values, and secrets in text details (unified diffs of bodies).
pub fn redact_difference(d: &mut Difference, rules: &Redaction) {
    let secret_here = match d.path.strip_prefix("header:") {
        Some(name) => rules.is_secret_header(name),
        None => d.path.split('/').skip(1).any(|seg| {
            !seg.is_empty() && rules.is_secret_field(&seg.replace("~1", "/").replace("~0", "~"))
        }),
    };
    let header_name = d.path.strip_prefix("header:").map(str::to_string);
    for value in [d.primary.as_mut(), d.candidate.as_mut()]
        .into_iter()
        .flatten()
    {
        // Header values first: a secret header keeps its structure (`Bearer …`, cookie
        // names), as in the recording, so live and re-analysed reports show one marker.
        if let (Some(name), Value::String(s)) = (&header_name, &mut *value) {
            if let Some(r) = redact_header_value(name, s, rules) {
                *s = r;
            }
            continue;
        }
        if secret_here {
            *value = Value::String(value_marker(value));
            continue;
        }
        redact_json(value, rules);
    }
    if secret_here {
        d.detail = d.detail.as_ref().map(|_| MASK.to_string());
    } else if let Some(detail) = &mut d.detail {
        if let Some(r) = redact_text(detail, rules) {
            *detail = r;
        }
    }
}

/// Redact a free text (a diff, a message): JSON-style pairs anywhere, and every line
/// (a leading `+`, `-` or space of a unified diff ignored) that is shaped like a form or
/// holds a URL.
pub fn redact_text(text: &str, rules: &Redaction) -> Option<String> {
    let mut changed = false;
    let json = body::scan_json(text.as_bytes(), rules, 0);
    let base = match &json {
        Some(b) => {
            changed = true;
            String::from_utf8_lossy(b).into_owned()
        }
        None => text.to_string(),
    };
    let lines: Vec<String> = base
        .split('\n')
        .map(|line| {
            let (mark, rest) = match line.as_bytes().first() {
                Some(b'+' | b'-' | b' ') => line.split_at(1),
                _ => ("", line),
            };
            let mut body = rest.as_bytes().to_vec();
            if let Some(r) = body::redact_bytes(rest.as_bytes(), None, rules) {
                body = r;
            }
            let mut s = String::from_utf8_lossy(&body).into_owned();
            let urls: Vec<String> = s
                .split_whitespace()
                .map(|w| w.trim_matches(|c| matches!(c, '"' | '\'' | ',' | '<' | '>')))
                .filter(|w| w.contains("://") || (w.starts_with('/') && w.contains('?')))
                .map(str::to_string)
                .collect();
            for u in urls {
                if let Some(r) = redact_uri(&u, rules) {
                    s = s.replace(&u, &r);
                }
            }
            if s != rest {
                changed = true;
            }
            format!("{mark}{s}")
        })
        .collect();
    changed.then(|| lines.join("\n"))
}

/// Redact a request's or response's body given its headers: the content type (for a
/// multipart boundary) and the content encoding (gzip and deflate bodies are scanned
/// decompressed, see [`encoding`]).
pub fn redact_body_in(body: &mut Body, headers: &Headers, rules: &Redaction) {
    let ct = header(headers, "content-type");
    let ce = header(headers, "content-encoding");
    match encoding::redact_encoded(body.as_bytes(), ce, ct, rules) {
        encoding::Encoded::Plain => redact_body(body, ct, rules),
        encoding::Encoded::Scanned(Some(r)) => *body = Body::from(r),
        encoding::Encoded::Scanned(None) => {}
    }
}

/// Redact secret fields in a body's raw bytes, whatever its declared content type (used
/// only to find a multipart boundary). Bytes stay as they were when nothing is secret.
pub fn redact_body(body: &mut Body, content_type: Option<&str>, rules: &Redaction) {
    if let Some(r) = body::redact_bytes(body.as_bytes(), content_type, rules) {
        *body = Body::from(r);
    }
}

/// Redact secret fields at any depth of a JSON value. Returns whether anything changed.
pub fn redact_json(value: &mut Value, rules: &Redaction) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (k, v) in map.iter_mut() {
                if rules.is_secret_field(k) {
                    if !v.is_null() && !v.as_str().is_some_and(is_marker) {
                        *v = Value::String(value_marker(v));
                        changed = true;
                    }
                } else {
                    changed |= redact_json(v, rules);
                }
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, v| redact_json(v, rules) | c),
        Value::String(s) => match body::redact_string(s, rules, 1) {
            Some(r) => {
                *s = r;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Redact `name=value` pairs of a form body or query string (`&` or `;` separated);
/// other pairs stay byte for byte.
pub fn redact_form(text: &str, rules: &Redaction) -> Option<String> {
    pairs::redact_pairs(text.as_bytes(), rules).map(|r| String::from_utf8_lossy(&r).into_owned())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bypass;
