//! Header values: secret headers get markers for their values (keeping what is structural:
//! the `Bearer` scheme, cookie names and attributes), and URLs
//! in any other header (`Location`, `Referer`, `Link`, ...) lose their secret parameters
//! and secret-looking path segments.

use super::marker::{is_marker, text_marker};
use super::{Redaction, uri};
use crate::exchange::Headers;

/// Redact secret header values in place.
pub fn redact_headers(headers: &mut Headers, rules: &Redaction) {
    for (name, value) in headers.iter_mut() {
        if let Some(v) = redact_header_value(name, value, rules) {
            *value = v;
        }
    }
}

/// The redacted value of one header; `None` when it carries nothing secret.
pub fn redact_header_value(name: &str, value: &str, rules: &Redaction) -> Option<String> {
    if rules.is_secret_header(name) {
        let masked = mask_secret_header(name, value);
        return (masked != value).then_some(masked);
    }
    if value.contains('?') || value.contains('/') {
        // URLs, possibly several (`Link: <…>; rel=…`): redact each `<…>` or the whole.
        if value.contains('<') {
            let mut changed = false;
            let out: Vec<String> = value
                .split('<')
                .enumerate()
                .map(|(i, piece)| {
                    if i == 0 {
                        return piece.to_string();
                    }
                    let (url, rest) = piece.split_once('>').unwrap_or((piece, ""));
                    let close = if piece.contains('>') { ">" } else { "" };
                    match uri::redact_uri(url, rules) {
                        Some(u) => {
                            changed = true;
                            format!("{u}{close}{rest}")
                        }
                        None => piece.to_string(),
                    }
                })
                .collect();
            return changed.then(|| out.join("<"));
        }
        if value.starts_with('/') || value.contains("://") {
            return uri::redact_uri(value.trim(), rules);
        }
    }
    None
}

fn mask_secret_header(name: &str, value: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "authorization" | "proxy-authorization" => match value.trim().split_once(' ') {
            Some((scheme, secret)) => format!("{scheme} {}", text_marker(secret.trim())),
            None => text_marker(value.trim()),
        },
        "cookie" => value
            .split(';')
            .map(|c| match c.trim().split_once('=') {
                Some((n, v)) => format!("{n}={}", text_marker(v)),
                None => text_marker(c.trim()),
            })
            .collect::<Vec<_>>()
            .join("; "),
        "set-cookie" => {
            let (pair, attrs) = value.split_once(';').unwrap_or((value, ""));
            let (name, secret) = pair
                .split_once('=')
                .map_or(("", pair), |(n, v)| (n.trim(), v.trim()));
            let secret = text_marker(secret);
            if attrs.is_empty() {
                format!("{name}={secret}")
            } else {
                format!("{name}={secret};{attrs}")
            }
        }
        _ if is_marker(value) => value.to_string(),
        _ => text_marker(value.trim()),
    }
}
