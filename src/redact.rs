//! Redaction: removing secrets from an [`Exchange`] before it is written anywhere.
//!
//! Pure functions, no I/O; reports reuse them. Headers `Authorization`, `Proxy-Authorization`
//! (scheme kept: `Bearer [REDACTED]`), `Cookie` (names kept: `sid=[REDACTED]`), `Set-Cookie`
//! (name and attributes kept), plus configured ones (whole value). Body and query fields
//! whose name contains `password`, `token` or `secret` (case-insensitive, plus configured
//! fragments) get the value `"[REDACTED]"` at any depth: in JSON bodies (parsed; a body that
//! does not parse, e.g. truncated, is scanned textually for `"name": value` pairs), in
//! `application/x-www-form-urlencoded` bodies and in the request's query string.

use serde_json::Value;

use crate::compare::Difference;
use crate::config::RecordingConfig;
use crate::exchange::{Body, Exchange, Headers, OutcomeResult, header};

/// The replacement text.
pub const MASK: &str = "[REDACTED]";

/// What to redact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Lower-case header names.
    headers: Vec<String>,
    /// Lower-case field-name fragments.
    fields: Vec<String>,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction::new(&[], &[])
    }
}

impl Redaction {
    /// The built-in rules plus extra header names and field-name fragments.
    pub fn new(extra_headers: &[String], extra_fields: &[String]) -> Redaction {
        let mut headers: Vec<String> = [
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        headers.extend(extra_headers.iter().map(|h| h.trim().to_ascii_lowercase()));
        let mut fields: Vec<String> = ["password", "token", "secret"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        fields.extend(
            extra_fields
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty()),
        );
        Redaction { headers, fields }
    }

    /// The rules a `[recording]` section asks for.
    pub fn from_config(cfg: &RecordingConfig) -> Redaction {
        Redaction::new(&cfg.redact_headers, &cfg.redact_fields)
    }

    /// Is a body, form or query field with this name secret?
    ///
    /// A name is secret when it contains one of the fragments — except that `token` only
    /// counts as the name's last word (`token`, `access_token`, `csrfToken`): descriptive
    /// fields such as `token_type` or `tokens` (a usage count) carry no secret, and
    /// redacting them would hide real differences (`Bearer` vs `bearer`) from every report
    /// built from a recording.
    pub fn is_secret_field(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        self.fields.iter().any(|f| {
            if f == "token" {
                lower.ends_with("token")
            } else {
                lower.contains(f.as_str())
            }
        })
    }

    pub fn is_secret_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// A copy of `exchange` with every secret replaced.
pub fn redact(exchange: &Exchange, rules: &Redaction) -> Exchange {
    let mut copy = exchange.clone();
    redact_in_place(&mut copy, rules);
    copy
}

/// Replace every secret in `exchange`.
pub fn redact_in_place(exchange: &mut Exchange, rules: &Redaction) {
    let req = &mut exchange.request;
    if let Some((path, query)) = req.uri.split_once('?') {
        if let Some(q) = redact_form(query, rules) {
            req.uri = format!("{path}?{q}");
        }
    }
    let ct = header(&req.headers, "content-type").map(str::to_string);
    redact_body(&mut req.body, ct.as_deref(), rules);
    redact_headers(&mut req.headers, rules);
    let o = &mut exchange.outcomes;
    for outcome in std::iter::once(&mut o.primary)
        .chain(o.secondary.as_mut())
        .chain(o.candidate.as_mut())
    {
        if let OutcomeResult::Response(resp) = &mut outcome.result {
            let ct = header(&resp.headers, "content-type").map(str::to_string);
            redact_body(&mut resp.body, ct.as_deref(), rules);
            redact_headers(&mut resp.headers, rules);
        }
    }
}

/// Redact the values of a reported difference: a secret header's value, a value under a
/// secret field name (`/access_token`), and secret fields inside object values.
pub fn redact_difference(d: &mut Difference, rules: &Redaction) {
    let secret_here = match d.path.strip_prefix("header:") {
        Some(name) => rules.is_secret_header(name),
        None => d.path.rsplit('/').next().is_some_and(|last| {
            !last.is_empty() && rules.is_secret_field(&last.replace("~1", "/").replace("~0", "~"))
        }),
    };
    for value in [d.primary.as_mut(), d.candidate.as_mut()]
        .into_iter()
        .flatten()
    {
        if secret_here {
            *value = Value::String(MASK.to_string());
        } else {
            redact_json(value, rules);
        }
    }
    if secret_here {
        d.detail = d.detail.as_ref().map(|_| MASK.to_string());
    }
}

/// Redact secret header values in place.
pub fn redact_headers(headers: &mut Headers, rules: &Redaction) {
    for (name, value) in headers.iter_mut() {
        if rules.is_secret_header(name) {
            *value = redact_header_value(name, value);
        }
    }
}

fn redact_header_value(name: &str, value: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "authorization" | "proxy-authorization" => match value.trim().split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {MASK}"),
            None => MASK.to_string(),
        },
        "cookie" => value
            .split(';')
            .map(|c| match c.trim().split_once('=') {
                Some((n, _)) => format!("{n}={MASK}"),
                None => MASK.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        "set-cookie" => {
            let (pair, attrs) = value.split_once(';').unwrap_or((value, ""));
            let name = pair.split_once('=').map_or("", |(n, _)| n.trim());
            if attrs.is_empty() {
                format!("{name}={MASK}")
            } else {
                format!("{name}={MASK};{attrs}")
            }
        }
        _ => MASK.to_string(),
    }
}

/// Redact secret fields in a body, according to its content type.
pub fn redact_body(body: &mut Body, content_type: Option<&str>, rules: &Redaction) {
    let Ok(text) = std::str::from_utf8(body.as_bytes()) else {
        return;
    };
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let redacted = if ct.contains("x-www-form-urlencoded") {
        redact_form(text, rules)
    } else {
        redact_json_text(text, rules)
    };
    if let Some(r) = redacted {
        *body = Body::from(r.into_bytes());
    }
}

/// Redact fields of a JSON document; falls back to a textual scan when it does not parse.
fn redact_json_text(text: &str, rules: &Redaction) -> Option<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(mut value) = serde_json::from_str::<Value>(text) {
            return redact_json(&mut value, rules)
                .then(|| serde_json::to_string(&value).ok())
                .flatten();
        }
    }
    if text.contains('"') {
        redact_text(text, rules)
    } else {
        None
    }
}

/// Redact secret fields at any depth of a JSON value. Returns whether anything changed.
pub fn redact_json(value: &mut Value, rules: &Redaction) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (k, v) in map.iter_mut() {
                if rules.is_secret_field(k) {
                    if !v.is_null() && v.as_str() != Some(MASK) {
                        *v = Value::String(MASK.to_string());
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
        _ => false,
    }
}

/// Redact `name=value` pairs of a form body or query string; other pairs stay byte for byte.
pub fn redact_form(text: &str, rules: &Redaction) -> Option<String> {
    let mut changed = false;
    let pairs: Vec<String> = text
        .split('&')
        .map(|pair| {
            let Some((raw_key, _)) = pair.split_once('=') else {
                return pair.to_string();
            };
            let key = form_urlencoded::parse(raw_key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            if rules.is_secret_field(&key) {
                changed = true;
                format!("{raw_key}={MASK}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    changed.then(|| pairs.join("&"))
}

/// Textual fallback for JSON that does not parse (truncated bodies, SSE `data:` lines):
/// every `"name": value` whose name is secret gets its value masked.
fn redact_text(text: &str, rules: &Redaction) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    let mut changed = false;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let end = string_end(b, i + 1);
        if end >= b.len() {
            break;
        }
        let mut j = skip_ws(b, end + 1);
        if j < b.len() && b[j] == b':' && rules.is_secret_field(&text[i + 1..end]) {
            j = skip_ws(b, j + 1);
            if j < b.len() && b[j] == b'"' {
                let ve = string_end(b, j + 1);
                out.push_str(&text[last..j + 1]);
                out.push_str(MASK);
                last = ve.min(b.len());
                changed = true;
                i = ve + 1;
                continue;
            }
            if j < b.len() && b[j] != b'{' && b[j] != b'[' {
                let ve = j + b[j..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'}' | b']' | b'\n' | b'\r' | b' '))
                    .unwrap_or(b.len() - j);
                out.push_str(&text[last..j]);
                out.push('"');
                out.push_str(MASK);
                out.push('"');
                last = ve;
                changed = true;
                i = ve;
                continue;
            }
        }
        i = end + 1;
    }
    if !changed {
        return None;
    }
    out.push_str(text.get(last..).unwrap_or(""));
    Some(out)
}

/// Index of the closing quote of a JSON string starting at `start`, or `b.len()`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut k = start;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            b'"' => return k,
            _ => k += 1,
        }
    }
    b.len()
}

fn skip_ws(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && b[k].is_ascii_whitespace() {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests;
