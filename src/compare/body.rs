//! Body comparison: pick the right comparator for two captured bodies.
//!
//! Owns the decisions "is this JSON, SSE, text or binary?" and the treatment of bad bodies:
//! a cut capture is never compared against a complete one (kind `truncated`), invalid JSON
//! under a JSON content type is kind `invalid` with the parse error (serde_json refuses
//! nesting deeper than 128 levels; that is reported the same way), non-UTF-8 text goes the
//! binary way (length and SHA-256), and so does text with NUL or many control bytes
//! (binary that happens to be valid UTF-8). Invalid JSON is only kind `invalid` when that side's
//! content type said JSON (or it had none while the other said JSON); a JSON answer on one
//! side and a non-JSON content type on the other (a `text/plain` "Internal Server Error")
//! is a whole-body difference (`text` or `binary`) beside the `content-type` header
//! difference. Byte-identical bodies are never parsed. SSE streams
//! (`text/event-stream`) are compared as their reassembled `data:` payload at path
//! `body:data` (kind `text`); when that payload agrees but is split into events differently,
//! the difference is reported at path `body:events` (kind `value_changed`, values = event
//! counts, detail = per-event data lengths). Bodies whose content type is not textual
//! (`image/*`, `application/octet-stream`, ...) are always compared as binary. Pure: no I/O.

use serde_json::Value;
use sha2::{Digest, Sha256};
use similar::TextDiff;

use super::json::diff_values;
use super::media::{essence, is_json};
use super::rules::Rules;
use super::{Comparison, DiffKind, Difference};
use crate::exchange::RecordedResponse;

/// Texts larger than this are not line-diffed (only the first differing byte is shown).
const MAX_TEXT_DIFF: usize = 256 * 1024;
/// Unified diffs are cut to this many bytes in `detail`.
const MAX_DETAIL: usize = 16 * 1024;

/// The primary's body parsed once and shared by its comparisons (`None` = not parsed yet).
pub type PrimaryJson = Option<Result<Value, String>>;

pub fn compare_bodies(
    p: &RecordedResponse,
    o: &RecordedResponse,
    rules: &Rules,
    primary_json: &mut PrimaryJson,
) -> Comparison {
    let mut out = Comparison::default();
    let (a, b) = (p.body.as_bytes(), o.body.as_bytes());
    let ct_a = p.header("content-type").unwrap_or("");
    let ct_b = o.header("content-type").unwrap_or("");
    if p.truncated || o.truncated {
        if p.truncated != o.truncated || a.len() != b.len() {
            let side = |t: bool, n: usize| {
                if t {
                    format!("cut at {n} bytes")
                } else {
                    format!("complete ({n} bytes)")
                }
            };
            out.real(Difference {
                path: "body".into(),
                kind: DiffKind::Truncated,
                primary: Some(Value::from(side(p.truncated, a.len()))),
                candidate: Some(Value::from(side(o.truncated, b.len()))),
                detail: Some(format!(
                    "capture truncated unequally (primary {}, other {}): body not compared",
                    side(p.truncated, a.len()),
                    side(o.truncated, b.len())
                )),
            });
        } else if a != b {
            let note = format!(
                "both captures cut at {} bytes; raw prefixes differ",
                a.len()
            );
            text_or_binary("body", a, b, ct_a, Some(&note), &mut out);
        }
        return out;
    }
    if a == b {
        return out;
    }
    if is_sse(ct_a) || is_sse(ct_b) {
        sse(a, b, &mut out);
        return out;
    }
    let (json_a, json_b) = (is_json(ct_a), is_json(ct_b));
    if json_a || json_b || (looks_like_json(a) && looks_like_json(b)) {
        let pa = primary_json
            .get_or_insert_with(|| serde_json::from_slice::<Value>(a).map_err(|e| e.to_string()))
            .as_ref();
        let pb = serde_json::from_slice::<Value>(b).map_err(|e| e.to_string());
        let pb = pb.as_ref();
        match (pa, pb) {
            (Ok(x), Ok(y)) => {
                diff_values(x, y, rules, &mut out);
                return out;
            }
            // Invalid JSON is only a side's fault when that side said JSON.
            (Err(e), Ok(_)) if json_a && (json_b || ct_b.is_empty()) => {
                invalid(&mut out, Some(e), None);
                return out;
            }
            (Ok(_), Err(e)) if json_b && (json_a || ct_a.is_empty()) => {
                invalid(&mut out, None, Some(e));
                return out;
            }
            (Err(_), Err(_)) if json_a && json_b => {
                let note = "both bodies are invalid JSON";
                text_or_binary("body", a, b, ct_a, Some(note), &mut out);
                return out;
            }
            _ if json_a != json_b && !ct_a.is_empty() && !ct_b.is_empty() => {
                // A JSON answer on one side, an error page or plain text on the other: the
                // content-type header says so; the bodies are compared whole.
                let note = format!(
                    "content types differ ({} vs {}): bodies compared whole",
                    essence(ct_a),
                    essence(ct_b)
                );
                text_or_binary("body", a, b, ct_a, Some(&note), &mut out);
                return out;
            }
            _ => {}
        }
    }
    text_or_binary("body", a, b, ct_a, None, &mut out);
    out
}

fn is_sse(ct: &str) -> bool {
    essence(ct) == "text/event-stream"
}

/// Text-like media types (an absent content type counts as text).
fn is_textual(ct: &str) -> bool {
    let m = essence(ct);
    m.is_empty()
        || m.starts_with("text/")
        || [
            "json",
            "xml",
            "javascript",
            "x-www-form-urlencoded",
            "yaml",
            "csv",
        ]
        .iter()
        .any(|t| m.ends_with(&format!("/{t}")) || m.ends_with(&format!("+{t}")))
}

fn looks_like_json(b: &[u8]) -> bool {
    matches!(
        b.iter().find(|c| !c.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

fn invalid(out: &mut Comparison, a: Option<&String>, b: Option<&String>) {
    let describe = |e: Option<&String>| match e {
        None => "valid JSON".to_string(),
        Some(e) if e.contains("recursion limit") => {
            format!("invalid JSON: nested deeper than 128 levels ({e})")
        }
        Some(e) => format!("invalid JSON: {e}"),
    };
    let (da, db) = (describe(a), describe(b));
    let side = if a.is_some() { "primary" } else { "other side" };
    let detail = format!(
        "the {side}'s body is not valid JSON under a JSON content type: {}",
        if a.is_some() { &da } else { &db }
    );
    out.real(Difference {
        path: "body".into(),
        kind: DiffKind::Invalid,
        primary: Some(Value::from(da)),
        candidate: Some(Value::from(db)),
        detail: Some(detail),
    });
}

/// Text diff when both sides are UTF-8, else length + hash.
fn text_or_binary(
    path: &str,
    a: &[u8],
    b: &[u8],
    ct: &str,
    note: Option<&str>,
    out: &mut Comparison,
) {
    let prefix = note.map(|n| format!("{n}\n")).unwrap_or_default();
    let binary_like = looks_binary(a) || looks_binary(b);
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(x), Ok(y)) if is_textual(ct) && !binary_like => out.real(Difference {
            path: path.into(),
            kind: DiffKind::Text,
            primary: None,
            candidate: None,
            detail: Some(format!("{prefix}{}", text_diff(x, y))),
        }),
        _ => {
            let textual = essence(ct).starts_with("text/");
            let why = if textual && binary_like {
                format!(
                    "{prefix}control bytes in a body under content type {ct:?}; compared as bytes\n"
                )
            } else if textual {
                format!("{prefix}not valid UTF-8 under content type {ct:?}; compared as bytes\n")
            } else {
                prefix
            };
            out.real(Difference {
                path: path.into(),
                kind: DiffKind::Binary,
                primary: Some(Value::from(fingerprint(a))),
                candidate: Some(Value::from(fingerprint(b))),
                detail: Some(format!("{why}{} vs {}", fingerprint(a), fingerprint(b))),
            })
        }
    }
}

/// Binary that happens to be valid UTF-8: a NUL byte, or more than one byte in 32 a
/// control character other than tab, newline, carriage return, form feed and escape.
fn looks_binary(b: &[u8]) -> bool {
    let control = b
        .iter()
        .filter(|&&c| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || c == 0x7f)
        .count();
    b.contains(&0) || control * 32 > b.len()
}

fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{} bytes sha256:{hex}", bytes.len())
}

/// Unified line diff (texts end with a newline so the last line diffs cleanly).
pub fn text_diff(a: &str, b: &str) -> String {
    if a.len() > MAX_TEXT_DIFF || b.len() > MAX_TEXT_DIFF {
        let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        return format!(
            "texts of {} and {} bytes first differ at byte {at} (too large for a line diff)",
            a.len(),
            b.len()
        );
    }
    let with_nl = |s: &str| {
        if s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    let (x, y) = (with_nl(a), with_nl(b));
    let diff = TextDiff::from_lines(&x, &y)
        .unified_diff()
        .header("primary", "candidate")
        .to_string();
    if diff.is_empty() {
        return "texts differ only in the final newline".into();
    }
    if diff.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !diff.is_char_boundary(cut) {
            cut -= 1;
        }
        return format!("{}\n... (diff cut at {MAX_DETAIL} bytes)", &diff[..cut]);
    }
    diff
}

/// The `data:` payload of each event (multi-line data joined with `\n`), `[DONE]` left out.
pub fn sse_events(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|block| {
            let lines: Vec<&str> = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        })
        .filter(|d| d.trim() != "[DONE]")
        .collect()
}

fn sse(a: &[u8], b: &[u8], out: &mut Comparison) {
    let (Ok(x), Ok(y)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        text_or_binary("body", a, b, "text/event-stream", None, out);
        return;
    };
    let (ea, eb) = (sse_events(x), sse_events(y));
    let (da, db) = (ea.concat(), eb.concat());
    if da != db {
        out.real(Difference {
            path: "body:data".into(),
            kind: DiffKind::Text,
            primary: None,
            candidate: None,
            detail: Some(text_diff(&da, &db)),
        });
    }
    let split = |e: &[String]| {
        let mut s = e
            .iter()
            .take(32)
            .map(|d| d.len().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if e.len() > 32 {
            s.push_str(", ...");
        }
        format!("[{s}]")
    };
    let lengths = |e: &[String]| e.iter().map(String::len).collect::<Vec<_>>();
    if da == db && lengths(&ea) != lengths(&eb) {
        out.real(Difference {
            path: "body:events".into(),
            kind: DiffKind::ValueChanged,
            primary: Some(Value::from(ea.len())),
            candidate: Some(Value::from(eb.len())),
            detail: Some(format!(
                "events split differently: data lengths {} vs {}",
                split(&ea),
                split(&eb)
            )),
        });
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
