//! Secret values in raw body bytes, whatever the body claims to be.
//!
//! The declared content type only finds a multipart boundary; every body then goes through
//! every scanner that can apply to its bytes: multipart parts (by their name, then their
//! content recursively), JSON-style `"name": value` pairs (valid or not, UTF-8 or not, at
//! any depth, wherever they appear — SSE `data:` lines, truncated captures, text), XML
//! elements and attributes when the body is XML, and `name=value` pairs when the body is
//! shaped like a form. Only the bytes of a secret
//! value change; a body without secrets is returned unchanged (`None`).

use super::marker::{bytes_marker, is_json_marker, is_marker_bytes, json_marker};
use super::pairs::{form_shaped, redact_pairs};
use super::{Redaction, uri, xml};

/// Multipart nesting and scanner recursion stop here.
const MAX_DEPTH: usize = 4;

/// Redact a body's bytes; `None` when nothing secret was found.
pub(super) fn redact_bytes(
    bytes: &[u8],
    content_type: Option<&str>,
    rules: &Redaction,
) -> Option<Vec<u8>> {
    redact_depth(bytes, content_type, rules, 0)
}

fn redact_depth(
    bytes: &[u8],
    content_type: Option<&str>,
    rules: &Redaction,
    depth: usize,
) -> Option<Vec<u8>> {
    let mut current: Option<Vec<u8>> = None;
    if depth < MAX_DEPTH {
        if let Some(parts) = boundary(content_type, bytes)
            .and_then(|b| split_parts(bytes, &b))
            .filter(|p| !p.is_empty())
        {
            current = redact_parts(bytes, &parts, rules, depth);
        }
    }
    let now = current.as_deref().unwrap_or(bytes);
    if let Some(r) = scan_json(now, rules, depth) {
        current = Some(r);
    }
    let now = current.as_deref().unwrap_or(bytes);
    if xml::applies(now, content_type) {
        if let Some(r) = xml::scan(now, rules) {
            current = Some(r);
        }
    }
    let now = current.as_deref().unwrap_or(bytes);
    if form_shaped(now) {
        if let Some(r) = redact_pairs(now, rules) {
            current = Some(r);
        }
    }
    current
}

/// Scan for `"name" : value` where the name is secret; replace the whole value (string,
/// number, literal, object or array; to the end of the input when it is cut) by its
/// marker, a JSON string ([`super::marker`]). String
/// values that hold JSON, a form or a URL of their own are redacted inside (re-escaped).
pub(super) fn scan_json(b: &[u8], rules: &Redaction, depth: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
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
        let j = skip_ws(b, end + 1);
        if j >= b.len() || b[j] != b':' {
            if let Some(enc) = nested_string(&b[i..=end], rules, depth) {
                out.extend_from_slice(&b[last..i]);
                out.extend_from_slice(&enc);
                last = end + 1;
                changed = true;
            }
            i = end + 1;
            continue;
        }
        if !rules.is_secret_field(&key_name(&b[i..=end])) {
            i = j + 1;
            continue;
        }
        let k = skip_ws(b, j + 1);
        let vend = value_end(b, k);
        let value = &b[k..vend];
        if !value.is_empty() && value != b"null" && !is_json_marker(value.trim_ascii_end()) {
            out.extend_from_slice(&b[last..k]);
            out.extend_from_slice(&json_marker(value.trim_ascii_end()));
            let trailing = value.len() - value.trim_ascii_end().len();
            out.extend_from_slice(&value[value.len() - trailing..]);
            last = vend;
            changed = true;
        }
        i = vend.max(j + 1);
    }
    if !changed {
        return None;
    }
    out.extend_from_slice(&b[last..]);
    Some(out)
}

/// A quoted JSON string value with secrets inside it, re-encoded; `None` when clean.
fn nested_string(quoted: &[u8], rules: &Redaction, depth: usize) -> Option<Vec<u8>> {
    let inner = &quoted[1..quoted.len() - 1];
    let worth = inner.contains(&b'=')
        || inner.starts_with(b"/")
        || inner.starts_with(b"http")
        || inner.windows(2).any(|w| w == b"\\\"");
    if !worth || depth + 1 >= MAX_DEPTH {
        return None;
    }
    let s: String = serde_json::from_slice(quoted).ok()?;
    let r = redact_string(&s, rules, depth + 1)?;
    serde_json::to_string(&r).ok().map(String::into_bytes)
}

/// A text value (from a JSON string): a URL is redacted as a URI, anything else goes
/// through every body scanner. `None` when clean.
pub(super) fn redact_string(s: &str, rules: &Redaction, depth: usize) -> Option<String> {
    let t = s.trim();
    if (t.starts_with('/') || t.contains("://")) && !t.contains(char::is_whitespace) {
        return uri::redact_uri(t, rules).map(|u| s.replace(t, &u));
    }
    redact_depth(s.as_bytes(), None, rules, depth).map(|r| String::from_utf8_lossy(&r).into_owned())
}

/// The name of a quoted key (`quoted` includes both quotes), escapes decoded when valid.
fn key_name(quoted: &[u8]) -> String {
    let inner = &quoted[1..quoted.len() - 1];
    if inner.contains(&b'\\') {
        if let Ok(s) = serde_json::from_slice::<String>(quoted) {
            return s;
        }
    }
    String::from_utf8_lossy(inner).into_owned()
}

/// Index of the closing quote of a string starting at `start`, or `b.len()`.
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

/// End (exclusive) of the value starting at `k`.
fn value_end(b: &[u8], k: usize) -> usize {
    match b.get(k) {
        None => b.len(),
        Some(b'"') => (string_end(b, k + 1) + 1).min(b.len()),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = k;
            while i < b.len() {
                match b[i] {
                    b'"' => i = string_end(b, i + 1),
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        Some(_) => b[k..]
            .iter()
            .position(|c| matches!(c, b',' | b'}' | b']' | b'\n' | b'\r'))
            .map_or(b.len(), |p| k + p),
    }
}

/// The multipart boundary: from the content type, else sniffed from a first line
/// `--boundary` (so a multipart body labelled otherwise is still split).
fn boundary(content_type: Option<&str>, bytes: &[u8]) -> Option<Vec<u8>> {
    if let Some(ct) = content_type {
        if ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/")
        {
            let found = ct.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("boundary")
                    .then(|| v.trim().trim_matches('"').as_bytes().to_vec())
            });
            if let Some(b) = found.filter(|b| !b.is_empty()) {
                return Some(b);
            }
        }
    }
    let rest = bytes.strip_prefix(b"--")?;
    let line_end = rest.iter().position(|&c| c == b'\n')?;
    let line = rest[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&rest[..line_end]);
    (!line.is_empty() && line.len() <= 200 && line.iter().all(|&c| c > b' ' && c < 0x7f))
        .then(|| line.to_vec())
}

/// Byte ranges of each part's headers+content, between `--boundary` delimiters.
fn split_parts(b: &[u8], boundary: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delim);
    let mut starts: Vec<usize> = finder
        .find_iter(b)
        .filter(|&p| p == 0 || b[p - 1] == b'\n')
        .collect();
    if starts.is_empty() {
        return None;
    }
    starts.push(b.len());
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let after = w[0] + delim.len();
        if b[after..].starts_with(b"--") {
            break;
        }
        // The part starts after the delimiter line and ends before the CRLF that
        // precedes the next delimiter.
        let Some(nl) = b[after..w[1]].iter().position(|&c| c == b'\n') else {
            continue;
        };
        let start = after + nl + 1;
        let mut end = w[1];
        if end < b.len() {
            end = end.saturating_sub(1);
            if end > start && b[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push((start, end.max(start)));
    }
    Some(parts)
}

fn redact_parts(
    b: &[u8],
    parts: &[(usize, usize)],
    rules: &Redaction,
    depth: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    for &(start, end) in parts {
        let part = &b[start..end];
        let (head_len, body_start) = match memchr::memmem::find(part, b"\r\n\r\n") {
            Some(p) => (p, p + 4),
            None => match memchr::memmem::find(part, b"\n\n") {
                Some(p) => (p, p + 2),
                // Cut inside the part's headers: no content to redact.
                None => continue,
            },
        };
        let head = String::from_utf8_lossy(&part[..head_len]);
        let content = &part[body_start..];
        let replacement = if part_name(&head).is_some_and(|n| rules.is_secret_field(&n)) {
            (!is_marker_bytes(content)).then(|| bytes_marker(content).into_bytes())
        } else {
            let ct = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            });
            redact_depth(content, ct.as_deref(), rules, depth + 1)
        };
        if let Some(r) = replacement {
            out.extend_from_slice(&b[last..start + body_start]);
            out.extend_from_slice(&r);
            last = end;
        }
    }
    if last == 0 {
        return None;
    }
    out.extend_from_slice(&b[last..]);
    Some(out)
}

/// `name` of a part's `Content-Disposition` (quoted or not).
fn part_name(head: &str) -> Option<String> {
    let line = head.lines().find(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("name")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}
