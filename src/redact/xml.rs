//! XML bodies (SOAP, XML-RPC, feeds): the text of an element whose local name is secret
//! (`<password>…</password>`, `<wsse:Password …>…</wsse:Password>`) and the value of a
//! secret attribute (`apiKey="…"`).
//!
//! Applies to bodies that start with `<?xml` or are declared `…xml` — not to HTML, where
//! `<code>` is markup, not an OAuth code. Elements with child elements are left to the
//! scan of their children. Other bytes are kept.

use super::Redaction;
use super::marker::{bytes_marker, is_marker_bytes};

/// Does this body get the XML scan?
pub(super) fn applies(bytes: &[u8], content_type: Option<&str>) -> bool {
    let start = bytes
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let body = bytes[start..]
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&bytes[start..]);
    body.starts_with(b"<?xml")
        || content_type.is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.contains("xml") && !ct.contains("html")
        })
}

/// Redact secret element texts and attribute values; `None` when nothing changed.
pub(super) fn scan(b: &[u8], rules: &Redaction) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'<') {
        let open = i + p;
        let Some(close) = b[open..].iter().position(|&c| c == b'>').map(|q| open + q) else {
            break;
        };
        let tag = &b[open + 1..close];
        i = close + 1;
        if tag.first().is_some_and(|c| matches!(c, b'/' | b'?' | b'!')) {
            continue;
        }
        // Secret attributes: name="value" or name='value'.
        let mut k = 0;
        while let Some(eq) = tag[k..].iter().position(|&c| c == b'=').map(|e| k + e) {
            let name_start = tag[..eq]
                .iter()
                .rposition(|c| c.is_ascii_whitespace())
                .map_or(0, |s| s + 1);
            let quote = tag.get(eq + 1).copied();
            let Some(q @ (b'"' | b'\'')) = quote else {
                k = eq + 1;
                continue;
            };
            let vstart = eq + 2;
            let vend = tag[vstart..]
                .iter()
                .position(|&c| c == q)
                .map_or(tag.len(), |e| vstart + e);
            let name = String::from_utf8_lossy(&tag[name_start..eq]);
            if name_start > 0 && is_secret(&name, rules) && !is_marker_bytes(&tag[vstart..vend]) {
                out.extend_from_slice(&b[last..open + 1 + vstart]);
                out.extend_from_slice(bytes_marker(&tag[vstart..vend]).as_bytes());
                last = open + 1 + vend;
            }
            k = vend.saturating_add(1).min(tag.len());
        }
        // Secret element text: <name …>text</name>, text without child elements.
        let name_end = tag
            .iter()
            .position(|c| c.is_ascii_whitespace() || *c == b'/')
            .unwrap_or(tag.len());
        if tag.ends_with(b"/") || !is_secret(&String::from_utf8_lossy(&tag[..name_end]), rules) {
            continue;
        }
        let text_end = b[i..]
            .iter()
            .position(|&c| c == b'<')
            .map_or(b.len(), |q| i + q);
        if b[text_end..].starts_with(b"</") && text_end > i && !is_marker_bytes(&b[i..text_end]) {
            out.extend_from_slice(&b[last..i]);
            out.extend_from_slice(bytes_marker(&b[i..text_end]).as_bytes());
            last = text_end;
            i = text_end;
        }
    }
    if last == 0 {
        return None;
    }
    out.extend_from_slice(&b[last..]);
    Some(out)
}

/// The local name (after a `prefix:`) is secret.
fn is_secret(name: &str, rules: &Redaction) -> bool {
    let local = name.rsplit(':').next().unwrap_or(name);
    rules.is_secret_field(local)
}
