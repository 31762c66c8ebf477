//! Media types (`Content-Type` values) as RFC 9110 defines them: `type/subtype` compared
//! case-insensitively, parameters by name (case-insensitive) in any order, with optional
//! whitespace and quoted-string values. `charset` is case-insensitive; `charset=utf-8` on
//! JSON (`application/json`, `*+json`) is the same as none (RFC 8259: JSON is UTF-8), any
//! other charset is a difference. A multipart `boundary` is a random delimiter: compared by
//! presence only. Pure string handling: no I/O.

/// A parsed media type: lower-case essence and sorted, normalised parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower case.
    pub essence: String,
    /// `(name, value)` sorted by name; names lower case, values unquoted.
    pub params: Vec<(String, String)>,
}

impl MediaType {
    pub fn parse(value: &str) -> MediaType {
        let mut parts = split_params(value).into_iter();
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let json = is_json_essence(&essence);
        let multipart = essence.starts_with("multipart/");
        let mut params: Vec<(String, String)> = parts
            .filter_map(|p| {
                let (name, value) = p.split_once('=')?;
                let name = name.trim().to_ascii_lowercase();
                let mut value = unquote(value.trim());
                if name == "charset" {
                    value = value.to_ascii_lowercase();
                    if json && matches!(value.as_str(), "utf-8" | "utf8") {
                        return None;
                    }
                }
                if multipart && name == "boundary" {
                    value = String::new();
                }
                (!name.is_empty()).then_some((name, value))
            })
            .collect();
        params.sort();
        MediaType { essence, params }
    }
}

/// Are two `Content-Type` values the same media type?
pub fn same(a: &str, b: &str) -> bool {
    MediaType::parse(a) == MediaType::parse(b)
}

/// `application/json`, `application/problem+json`, `text/json`, ...
pub fn is_json(ct: &str) -> bool {
    is_json_essence(&essence(ct))
}

fn is_json_essence(m: &str) -> bool {
    m.ends_with("/json") || m.ends_with("+json")
}

/// The lower-case `type/subtype` of a `Content-Type` value.
pub fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Split at `;` outside quoted strings.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                current.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

/// A parameter value without its quotes and escapes.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_charset_utf8_is_the_default() {
        assert!(same("application/json; charset=utf-8", "application/json"));
        assert!(same("application/json;charset=UTF-8", "Application/JSON"));
        assert!(same(
            "application/problem+json; charset=\"utf-8\"",
            "application/problem+json"
        ));
        assert!(!same(
            "application/json; charset=latin-1",
            "application/json"
        ));
        assert!(!same(
            "application/json; charset=iso-8859-1",
            "application/json; charset=utf-8"
        ));
        // Outside JSON a charset is meaningful.
        assert!(!same("text/plain; charset=utf-8", "text/plain"));
        assert!(same(
            "text/plain; charset=UTF-8",
            "text/plain;charset=utf-8"
        ));
    }

    #[test]
    fn parameters_order_spacing_and_quotes() {
        assert!(same(
            "text/html; charset=utf-8; level=1",
            "TEXT/HTML;level=\"1\" ;  charset=\"UTF-8\""
        ));
        assert!(!same("text/html; level=1", "text/html; level=2"));
        assert!(!same("text/html", "text/plain"));
        assert!(same(
            "multipart/form-data; boundary=abc",
            "multipart/form-data; boundary=\"xyz\""
        ));
        assert!(!same(
            "multipart/form-data; boundary=abc",
            "multipart/form-data"
        ));
        assert_eq!(
            MediaType::parse("a/b; x=\"q\\\"; y\"").params,
            vec![("x".to_string(), "q\"; y".to_string())]
        );
    }

    #[test]
    fn odd_values_never_panic() {
        for v in ["", ";", "=;=", "\"", "a/b; =x", "a/b; x", "é/ü; ö=\"ä"] {
            let _ = MediaType::parse(v);
            assert!(same(v, v));
        }
        assert!(is_json("application/vnd.api+json; charset=utf-8"));
        assert!(!is_json("text/plain"));
    }
}
