//! `name=value` pairs: query strings, form bodies, path-segment parameters.
//!
//! Works on raw bytes (a form body need not be UTF-8). Pairs are separated by `&` or `;`
//! (the legacy separator many servers still honour); a pair whose percent-decoded name is
//! secret keeps its name and its value becomes a marker (`[REDACTED token 3f…]`). Pieces without `=` that follow a
//! secret value after a `;` are taken as part of it (`token=a;b` hides `b` too). Every
//! other byte is kept as it was.

use super::Redaction;
use super::marker::{bytes_marker, is_marker_bytes};

/// Redact secret pairs in `text`; `None` when nothing changed.
pub(super) fn redact_pairs(text: &[u8], rules: &Redaction) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    let mut in_secret = false;
    let mut start = 0;
    while start <= text.len() {
        let end = text[start..]
            .iter()
            .position(|&c| c == b'&' || c == b';')
            .map_or(text.len(), |p| start + p);
        let piece = &text[start..end];
        // The separator before this piece (none for the first).
        let sep = start.checked_sub(1).and_then(|i| text.get(i)).copied();
        match piece.iter().position(|&c| c == b'=') {
            Some(eq) if rules.is_secret_field(&decode(&piece[..eq])) => {
                push_sep(&mut out, sep);
                out.extend_from_slice(&piece[..=eq]);
                let value = &piece[eq + 1..];
                if is_marker_bytes(value) {
                    out.extend_from_slice(value);
                } else {
                    out.extend_from_slice(bytes_marker(value).as_bytes());
                    changed = true;
                }
                in_secret = true;
            }
            None if in_secret && sep == Some(b';') && !piece.is_empty() => {
                // Swallowed into the previous secret value.
                changed = true;
            }
            _ => {
                push_sep(&mut out, sep);
                out.extend_from_slice(piece);
                in_secret = false;
            }
        }
        start = end + 1;
    }
    changed.then_some(out)
}

fn push_sep(out: &mut Vec<u8>, sep: Option<u8>) {
    if let Some(s) = sep {
        out.push(s);
    }
}

/// Percent- and `+`-decoded name.
fn decode(raw: &[u8]) -> String {
    form_urlencoded::parse(raw)
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// Longest first name a form-shaped body may start with.
const MAX_NAME: usize = 256;

/// Is this body shaped like a form (`name=value&...`)? Its first piece must be a
/// plausible name (at most 256 bytes) followed by `=`: no whitespace, quotes, braces,
/// markup, `:`, `/` or `?` before it.
pub(super) fn form_shaped(body: &[u8]) -> bool {
    let Some(eq) = body.iter().position(|&c| c == b'=') else {
        return false;
    };
    // Real field names are short; a long run before the first `=` is data (base64).
    eq > 0
        && eq <= MAX_NAME
        && body[..eq].iter().all(|&c| {
            c > b' '
                && c != 0x7f
                && !matches!(
                    c,
                    b'"' | b'\'' | b'{' | b'}' | b'<' | b'>' | b'&' | b';' | b':' | b'/' | b'?'
                )
        })
}
