//! Schema translation into JSON Schema draft 2020-12, and the self-contained documents the
//! validator compiles.
//!
//! Owns: OpenAPI 3.0's dialect (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`,
//! `$ref` siblings being ignored) rewritten as 2020-12; `#/components/schemas/X` references
//! rewritten to `#/$defs/X`; remote references refused with the JSON pointer where they
//! occur; and, per operation schema, a document holding only the components it reaches
//! (a worklist with a visited set, so recursive schemas never loop). Never compiles and never
//! reads files.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The deepest schema nesting accepted (deeper input is refused, never a stack overflow).
pub const MAX_DEPTH: usize = 128;

const COMPONENTS: &str = "#/components/schemas/";
const DEFS: &str = "#/$defs/";

/// Which schema dialect the source uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAPI 3.0's extended subset of JSON Schema draft 4/5.
    OpenApi30,
    /// OpenAPI 3.1: JSON Schema 2020-12 (plus OpenAPI's annotations).
    OpenApi31,
    /// A plain JSON Schema file (draft 2020-12 or draft 7, by its `$schema`).
    JsonSchema,
}

/// A translation problem at a JSON pointer of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// `$ref` to another document or URL.
    Remote(String),
    /// A local `$ref` that points nowhere (or outside `#/components/schemas`).
    Unresolved(String),
    TooDeep,
    /// Not a schema (e.g. a string where an object is expected).
    NotASchema,
}

/// Escape one JSON pointer token.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Keywords whose value is a schema.
const ONE: &[&str] = &[
    "additionalProperties",
    "items",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
];
/// Keywords whose value is an array of schemas.
const MANY: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value is a map of schemas.
const MAP: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Translate one schema found at `pointer` of its source into 2020-12.
pub fn translate(schema: &Value, dialect: Dialect, pointer: &str) -> Result<Value, Problem> {
    walk(schema, dialect, pointer, 0)
}

fn walk(schema: &Value, dialect: Dialect, pointer: &str, depth: usize) -> Result<Value, Problem> {
    let problem = |kind| Problem {
        pointer: pointer.to_string(),
        kind,
    };
    if depth > MAX_DEPTH {
        return Err(problem(ProblemKind::TooDeep));
    }
    let obj = match schema {
        Value::Bool(_) => return Ok(schema.clone()),
        Value::Object(o) => o,
        _ => return Err(problem(ProblemKind::NotASchema)),
    };
    if let Some(r) = obj.get("$ref") {
        let Value::String(r) = r else {
            return Err(problem(ProblemKind::NotASchema));
        };
        let target = reference(r, dialect).map_err(problem)?;
        if dialect == Dialect::OpenApi30 {
            // OpenAPI 3.0: the siblings of a `$ref` are ignored.
            return Ok(Value::Object(Map::from_iter([(
                "$ref".to_string(),
                Value::String(target),
            )])));
        }
        let mut out = walk_keys(obj, dialect, pointer, depth)?;
        out.insert("$ref".into(), Value::String(target));
        return Ok(Value::Object(out));
    }
    let mut out = walk_keys(obj, dialect, pointer, depth)?;
    if dialect == Dialect::OpenApi30 {
        openapi30(&mut out);
        if out.get("nullable") == Some(&Value::Bool(true)) {
            out.remove("nullable");
            return Ok(nullable(out));
        }
        out.remove("nullable");
    }
    Ok(Value::Object(out))
}

fn walk_keys(
    obj: &Map<String, Value>,
    dialect: Dialect,
    pointer: &str,
    depth: usize,
) -> Result<Map<String, Value>, Problem> {
    let mut out = Map::new();
    for (k, v) in obj {
        if k == "$ref" {
            continue;
        }
        let here = format!("{pointer}/{}", escape(k));
        let value = if ONE.contains(&k.as_str()) && (v.is_object() || v.is_boolean()) {
            walk(v, dialect, &here, depth + 1)?
        } else if MANY.contains(&k.as_str()) && v.is_array() {
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                list.push(walk(item, dialect, &format!("{here}/{i}"), depth + 1)?);
            }
            Value::Array(list)
        } else if k == "items" && v.is_array() {
            // Draft 7 tuple form.
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                list.push(walk(item, dialect, &format!("{here}/{i}"), depth + 1)?);
            }
            Value::Array(list)
        } else if MAP.contains(&k.as_str()) && v.is_object() {
            let mut map = Map::new();
            for (name, sub) in v.as_object().into_iter().flatten() {
                let p = format!("{here}/{}", escape(name));
                map.insert(name.clone(), walk(sub, dialect, &p, depth + 1)?);
            }
            Value::Object(map)
        } else {
            v.clone()
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

/// The 2020-12 form of a `$ref`, or why it is refused.
fn reference(r: &str, dialect: Dialect) -> Result<String, ProblemKind> {
    if !r.starts_with('#') {
        return Err(ProblemKind::Remote(r.to_string()));
    }
    match dialect {
        Dialect::JsonSchema => Ok(r.to_string()),
        Dialect::OpenApi30 | Dialect::OpenApi31 => match r.strip_prefix(COMPONENTS) {
            Some(name) if !name.is_empty() && !name.contains('/') => Ok(format!("{DEFS}{name}")),
            _ => Err(ProblemKind::Unresolved(r.to_string())),
        },
    }
}

/// OpenAPI 3.0's boolean exclusive bounds become 2020-12's numeric ones.
fn openapi30(out: &mut Map<String, Value>) {
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match out.get(flag) {
            Some(Value::Bool(true)) => {
                out.remove(flag);
                if let Some(b) = out.remove(bound) {
                    out.insert(flag.into(), b);
                }
            }
            Some(Value::Bool(false)) => {
                out.remove(flag);
            }
            _ => {}
        }
    }
}

/// `nullable: true` as 2020-12: `null` added to `type` and `enum`, or `anyOf` with null.
fn nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::Array(e)) = out.get_mut("enum")
        && !e.contains(&Value::Null)
    {
        e.push(Value::Null);
    }
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            out.insert(
                "type".into(),
                Value::Array(vec![Value::String(t), "null".into()]),
            );
            Value::Object(out)
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push("null".into());
            }
            Value::Object(out)
        }
        _ => serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
    }
}

/// The component names a translated schema refers to directly.
fn refs_in(v: &Value, found: &mut BTreeSet<String>) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref")
                    && let Some(name) = r.strip_prefix(DEFS)
                {
                    found.insert(name.to_string());
                }
                stack.extend(o.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
}

/// A self-contained 2020-12 document for one translated OpenAPI schema: the schema plus
/// `$defs` holding every component it reaches. `components` maps escaped names to translated
/// schemas. A reference to a component that does not exist is a problem at `pointer`.
pub fn document(
    schema: &Value,
    components: &BTreeMap<String, Value>,
    pointer: &str,
) -> Result<Value, Problem> {
    let mut reached = BTreeSet::new();
    let mut todo = BTreeSet::new();
    refs_in(schema, &mut todo);
    while let Some(name) = todo.pop_first() {
        if !reached.insert(name.clone()) {
            continue;
        }
        let Some(def) = lookup(components, &name) else {
            return Err(Problem {
                pointer: pointer.to_string(),
                kind: ProblemKind::Unresolved(format!("{COMPONENTS}{name}")),
            });
        };
        let mut more = BTreeSet::new();
        refs_in(def, &mut more);
        todo.extend(more.into_iter().filter(|n| !reached.contains(n)));
    }
    let mut defs = Map::new();
    for name in &reached {
        if let Some(def) = lookup(components, name) {
            defs.insert(unescape(name), def.clone());
        }
    }
    let mut doc = match schema {
        Value::Object(o) => o.clone(),
        Value::Bool(true) => Map::new(),
        other => return Ok(other.clone()),
    };
    doc.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    if !defs.is_empty() {
        match doc.get_mut("$defs") {
            Some(Value::Object(own)) => own.extend(defs),
            _ => {
                doc.insert("$defs".into(), Value::Object(defs));
            }
        }
    }
    Ok(Value::Object(doc))
}

fn lookup<'a>(components: &'a BTreeMap<String, Value>, escaped: &str) -> Option<&'a Value> {
    components.get(&unescape(&percent_decode(escaped)))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every remote `$ref` in a plain JSON Schema document (refused before compiling).
pub fn first_remote_ref(v: &Value, pointer: &str) -> Option<Problem> {
    let mut stack = vec![(v, pointer.to_string())];
    while let Some((v, at)) = stack.pop() {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref")
                    && !r.starts_with('#')
                {
                    return Some(Problem {
                        pointer: at,
                        kind: ProblemKind::Remote(r.clone()),
                    });
                }
                for (k, sub) in o {
                    stack.push((sub, format!("{at}/{}", escape(k))));
                }
            }
            Value::Array(a) => {
                for (i, sub) in a.iter().enumerate() {
                    stack.push((sub, format!("{at}/{i}")));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi30_keywords_become_2020_12() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "integer", "minimum": 0, "exclusiveMinimum": true,
                  "maximum": 9, "exclusiveMaximum": false},
            "c": {"$ref": "#/components/schemas/C", "description": "ignored sibling"},
            "d": {"allOf": [{"$ref": "#/components/schemas/C"}], "nullable": true},
            "e": {"type": "string", "enum": ["x"], "nullable": true}
        }});
        let t = translate(&s, Dialect::OpenApi30, "#").unwrap_or_default();
        assert_eq!(t["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(
            t["properties"]["b"],
            json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 9})
        );
        assert_eq!(t["properties"]["c"], json!({"$ref": "#/$defs/C"}));
        assert_eq!(t["properties"]["d"]["anyOf"][1], json!({"type": "null"}));
        assert_eq!(t["properties"]["e"]["enum"], json!(["x", null]));
    }

    #[test]
    fn remote_and_foreign_refs_are_refused_with_their_pointer() {
        let s = json!({"properties": {"a": {"$ref": "https://example.com/s.json"}}});
        let e = translate(&s, Dialect::OpenApi31, "#/x").err();
        assert_eq!(
            e,
            Some(Problem {
                pointer: "#/x/properties/a".into(),
                kind: ProblemKind::Remote("https://example.com/s.json".into())
            })
        );
        let s = json!({"$ref": "#/paths/x"});
        assert!(matches!(
            translate(&s, Dialect::OpenApi31, "#").map_err(|p| p.kind),
            Err(ProblemKind::Unresolved(_))
        ));
    }

    #[test]
    fn recursive_components_are_reached_once() {
        let node = json!({"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}});
        let components = BTreeMap::from([("Node".to_string(), node)]);
        let doc = document(&json!({"$ref": "#/$defs/Node"}), &components, "#").unwrap_or_default();
        assert_eq!(doc["$defs"].as_object().map(|o| o.len()), Some(1));
        let missing = document(&json!({"$ref": "#/$defs/Gone"}), &components, "#/p");
        assert!(missing.is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut s = json!({"type": "string"});
        for _ in 0..(MAX_DEPTH + 5) {
            s = json!({"not": s});
        }
        let e = translate(&s, Dialect::OpenApi31, "#").map_err(|p| p.kind);
        assert_eq!(e, Err(ProblemKind::TooDeep));
    }
}
