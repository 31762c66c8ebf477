//! Compiled schemas and the checks of one message against them: media types matched to the
//! documented ones, bodies decoded (JSON, `+json`, forms, text) and validated.
//!
//! Owns [`Compiled`] (a jsonschema validator compiled once, shared by every operation that
//! uses the same schema) and [`check_body`]. Values in messages are kept twice: as
//! jsonschema writes them, and masked (`value`), so callers can choose by redaction rules.
//! Never reads files; never panics on a body.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Violation, ViolationKind};

/// Violations kept per checked message; the rest are counted in one last violation.
pub const MAX_VIOLATIONS: usize = 16;

/// One compiled schema.
pub struct Compiled {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// Compiles each distinct schema document once.
#[derive(Default)]
pub struct Compiler {
    cache: HashMap<String, Arc<Compiled>>,
}

impl Compiler {
    /// Compile `doc` (a self-contained 2020-12 or draft 7 document); the error is
    /// jsonschema's message with its schema location.
    pub fn compile(&mut self, doc: &Value) -> Result<Arc<Compiled>, String> {
        let key = doc.to_string();
        if let Some(c) = self.cache.get(&key) {
            return Ok(c.clone());
        }
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(doc)
            .map_err(|e| {
                let at = e.schema_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{e} (at {at})")
                }
            })?;
        let c = Arc::new(Compiled { validator });
        self.cache.insert(key, c.clone());
        Ok(c)
    }
}

/// A documented media type and its schema.
#[derive(Debug, Clone)]
pub struct Media {
    /// `type/subtype` as documented, lower case (may be `type/*` or `*/*`).
    pub range: String,
    pub schema: Option<Arc<Compiled>>,
    /// Where the schema sits in its source (`file#/paths/...`), prefixed to schema paths.
    pub pointer: String,
}

/// `type/subtype` of a `Content-Type` value, lower case, parameters dropped.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The documented media type that fits `content_type` best: exact, then `type/*`, then
/// `*/*`.
pub fn pick<'m>(media: &'m [Media], content_type: &str) -> Option<&'m Media> {
    let ct = essence(content_type);
    let major = ct.split('/').next().unwrap_or("");
    media
        .iter()
        .find(|m| m.range == ct)
        .or_else(|| {
            media
                .iter()
                .find(|m| m.range.strip_suffix("/*") == Some(major))
        })
        .or_else(|| media.iter().find(|m| m.range == "*/*"))
}

fn is_json(ct: &str) -> bool {
    let ct = essence(ct);
    ct == "application/json" || ct.ends_with("+json") || ct == "*/*"
}

/// Check a body against the media type it was sent with (`content_type`) among `media`.
pub fn check_body(
    media: &[Media],
    content_type: Option<&str>,
    body: &[u8],
    what: &str,
    out: &mut Vec<Violation>,
) {
    if media.is_empty() {
        return;
    }
    let documented = || {
        media
            .iter()
            .map(|m| m.range.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(ct) = content_type.filter(|c| !c.trim().is_empty()) else {
        if body.is_empty() {
            return;
        }
        let message = format!("{what} has no content type; documented: {}", documented());
        out.push(Violation::plain(ViolationKind::ContentType, "", message));
        return;
    };
    let Some(m) = pick(media, ct) else {
        let message = format!(
            "{what} content type `{}` is not documented; documented: {}",
            essence(ct),
            documented()
        );
        out.push(Violation::plain(ViolationKind::ContentType, "", message));
        return;
    };
    let Some(schema) = &m.schema else { return };
    let ct_essence = essence(ct);
    let value = if is_json(&ct_essence) {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => v,
            Err(e) => {
                let message = format!("{what} is not valid JSON: {e}");
                out.push(Violation::plain(
                    ViolationKind::InvalidBody,
                    &m.pointer,
                    message,
                ));
                return;
            }
        }
    } else if ct_essence == "application/x-www-form-urlencoded" {
        form_value(body)
    } else if ct_essence.starts_with("text/") && ct_essence != "text/event-stream" {
        match std::str::from_utf8(body) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => return,
        }
    } else {
        return;
    };
    validate(schema, &value, &m.pointer, out);
}

/// A form body as a JSON object of strings (repeated names become arrays).
pub fn form_value(body: &[u8]) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            Some(Value::Array(list)) => list.push(v),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(k.into_owned(), v);
            }
        }
    }
    Value::Object(map)
}

/// Where a failing keyword is in the source: `path` is relative to the compiled document,
/// whose `$defs` are the OpenAPI document's `#/components/schemas` (or a plain schema's own
/// `$defs`); anything else is under the operation's schema at `pointer` (`file#/...`).
fn schema_path(pointer: &str, path: &str) -> String {
    let file = pointer.split('#').next().unwrap_or("");
    match path.strip_prefix("/$defs/") {
        Some(rest) if pointer.contains("#/paths/") => {
            format!("{file}#/components/schemas/{rest}")
        }
        Some(_) => format!("{file}#{path}"),
        None => format!("{pointer}{path}"),
    }
}

/// Validate `value`; schema paths are prefixed with `pointer`.
pub fn validate(schema: &Compiled, value: &Value, pointer: &str, out: &mut Vec<Violation>) {
    if schema.validator.is_valid(value) {
        return;
    }
    let mut n = 0usize;
    for e in schema.validator.iter_errors(value) {
        n += 1;
        if n > MAX_VIOLATIONS {
            continue;
        }
        out.push(Violation {
            kind: ViolationKind::Schema,
            instance_path: e.instance_path().to_string(),
            schema_path: schema_path(pointer, &e.schema_path().to_string()),
            message: e.to_string(),
            masked_message: e.masked().to_string(),
        });
    }
    if n > MAX_VIOLATIONS {
        let message = format!("{} more schema violations", n - MAX_VIOLATIONS);
        out.push(Violation::plain(ViolationKind::Schema, pointer, message));
    }
}

/// Whether a single value (a query parameter) conforms, as a string or as the JSON it spells.
pub fn parameter_conforms(schema: &Compiled, raw: &str) -> bool {
    if schema.validator.is_valid(&Value::String(raw.to_string())) {
        return true;
    }
    serde_json::from_str::<Value>(raw).is_ok_and(|v| schema.validator.is_valid(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ranges_pick_exact_then_wildcards() {
        let m = |r: &str| Media {
            range: r.into(),
            schema: None,
            pointer: String::new(),
        };
        let list = [m("application/json"), m("text/*"), m("*/*")];
        let pick = |ct| pick(&list, ct).map(|m| m.range.clone());
        assert_eq!(
            pick("Application/JSON; charset=utf-8").as_deref(),
            Some("application/json")
        );
        assert_eq!(pick("text/plain").as_deref(), Some("text/*"));
        assert_eq!(pick("image/png").as_deref(), Some("*/*"));
        assert_eq!(pick("").as_deref(), Some("*/*"));
    }

    #[test]
    fn forms_become_objects() {
        let v = form_value(b"username=a&password=b%20c&scope=x&scope=y");
        assert_eq!(
            v,
            serde_json::json!({"username": "a", "password": "b c", "scope": ["x", "y"]})
        );
    }
}
