//! Variables and `${...}` interpolation.
//!
//! Owns the syntax (`${name}`, `${env.NAME}`, `${env.NAME:-default}`, `${row.FIELD}`,
//! `${index}`, `${run.id}`; `$${` is a literal `${`), the variable scope of one scenario run
//! on one target (values, why a variable has no value, the secret texts to hide), and
//! resolving strings and JSON values. A string that is exactly one `${...}` keeps the
//! variable's JSON type (a captured number stays a number in a JSON body).
//! Never does I/O; environment values are read once, when a scope is made.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// A reference inside `${...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref<'a> {
    /// A variable (from `vars` or a capture).
    Var(&'a str),
    Env {
        name: &'a str,
        default: Option<&'a str>,
    },
    Row(&'a str),
    Index,
    RunId,
}

impl Ref<'_> {
    fn parse(inner: &str) -> Result<Ref<'_>, String> {
        let inner = inner.trim();
        if let Some(rest) = inner.strip_prefix("env.") {
            let (name, default) = match rest.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (rest, None),
            };
            return valid(name).map(|name| Ref::Env { name, default });
        }
        if let Some(field) = inner.strip_prefix("row.") {
            return valid(field).map(Ref::Row);
        }
        match inner {
            "index" => Ok(Ref::Index),
            "run.id" => Ok(Ref::RunId),
            _ => valid(inner).map(Ref::Var),
        }
    }
}

fn valid(name: &str) -> Result<&str, String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "`{name}` is not a variable name (letters, digits, _ and -)"
        ))
    }
}

/// A piece of an interpolated string.
enum Piece<'a> {
    Text(&'a str),
    Ref(Ref<'a>),
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        if at > 0 && rest.as_bytes()[at - 1] == b'$' {
            out.push(Piece::Text(&rest[..at - 1]));
            out.push(Piece::Text("${"));
            rest = &rest[at + 2..];
            continue;
        }
        out.push(Piece::Text(&rest[..at]));
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in `{s}`"))?;
        out.push(Piece::Ref(Ref::parse(&after[..end])?));
        rest = &after[end + 1..];
    }
    out.push(Piece::Text(rest));
    out.retain(|p| !matches!(p, Piece::Text("")));
    Ok(out)
}

/// Every reference in a string (for the checks at load time).
pub fn references(s: &str) -> Result<Vec<Ref<'_>>, String> {
    Ok(pieces(s)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Every string inside a JSON value (keys included).
pub fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// Why a string could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarError {
    /// The variable has no value; `why` says which capture failed, when one did.
    Unset {
        name: String,
        why: Option<String>,
    },
    Syntax(String),
}

impl std::fmt::Display for VarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarError::Unset {
                name,
                why: Some(why),
            } => {
                write!(f, "`${{{name}}}` was never set: {why}")
            }
            VarError::Unset { name, why: None } => write!(f, "`${{{name}}}` was never set"),
            VarError::Syntax(m) => f.write_str(m),
        }
    }
}

/// The loop position of one step run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frame<'a> {
    pub row: Option<&'a BTreeMap<String, Value>>,
    pub index: Option<usize>,
}

/// The variables of one scenario run on one target.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: HashMap<String, Value>,
    unset: HashMap<String, String>,
    env: HashMap<String, Option<String>>,
    run_id: String,
    /// Texts never shown (environment values, secret captures), with what they are.
    secrets: Vec<(String, String)>,
}

impl Scope {
    /// A scope with the environment variables `env_names` read now (their values are
    /// secrets) and the run id.
    pub fn new(env_names: &[String], run_id: &str) -> Scope {
        let mut scope = Scope {
            run_id: run_id.to_string(),
            ..Scope::default()
        };
        for name in env_names {
            let value = std::env::var(name).ok();
            if let Some(v) = &value {
                scope.secret(v, &format!("env {name}"));
            }
            scope.env.insert(name.clone(), value);
        }
        scope
    }

    pub fn set(&mut self, name: &str, value: Value, secret: bool) {
        if secret {
            match &value {
                Value::String(s) => self.secret(s, &format!("capture {name}")),
                other => self.secret(&other.to_string(), &format!("capture {name}")),
            }
        }
        self.unset.remove(name);
        self.values.insert(name.to_string(), value);
    }

    /// Record that `name` has no value, and why.
    pub fn fail(&mut self, name: &str, why: String) {
        self.values.remove(name);
        self.unset.insert(name.to_string(), why);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    fn secret(&mut self, text: &str, label: &str) {
        // Very short values would blank out ordinary text; they are not credentials.
        if text.len() >= 4 && !self.secrets.iter().any(|(t, _)| t == text) {
            self.secrets.push((text.to_string(), label.to_string()));
        }
    }

    /// `text` with every secret text replaced by `[REDACTED <what>]`.
    pub fn hide(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (secret, label) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), &format!("[REDACTED {label}]"));
            }
        }
        out
    }

    fn lookup(&self, r: &Ref<'_>, frame: &Frame<'_>) -> Result<Value, VarError> {
        let unset = |name: &str, why: Option<String>| VarError::Unset {
            name: name.to_string(),
            why,
        };
        match r {
            Ref::Var(name) => self
                .values
                .get(*name)
                .cloned()
                .ok_or_else(|| unset(name, self.unset.get(*name).cloned())),
            Ref::Env { name, default } => match (self.env.get(*name), default) {
                (Some(Some(v)), _) => Ok(Value::String(v.clone())),
                (_, Some(d)) => Ok(Value::String((*d).to_string())),
                _ => Err(unset(
                    &format!("env.{name}"),
                    Some("the environment variable is not set".into()),
                )),
            },
            Ref::Row(field) => frame
                .row
                .and_then(|row| row.get(*field))
                .cloned()
                .ok_or_else(|| unset(&format!("row.{field}"), Some("no such field".into()))),
            Ref::Index => frame
                .index
                .map(Value::from)
                .ok_or_else(|| unset("index", Some("the step has no loop".into()))),
            Ref::RunId => Ok(Value::String(self.run_id.clone())),
        }
    }

    /// Resolve a string: exactly one reference keeps its value's type, anything else is a
    /// string.
    pub fn resolve(&self, s: &str, frame: &Frame<'_>) -> Result<Value, VarError> {
        let parts = pieces(s).map_err(VarError::Syntax)?;
        if let [Piece::Ref(r)] = parts.as_slice() {
            return self.lookup(r, frame);
        }
        let mut out = String::new();
        for p in parts {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Ref(r) => out.push_str(&text(&self.lookup(&r, frame)?)),
            }
        }
        Ok(Value::String(out))
    }

    /// Resolve to text (numbers and booleans as written, `null` as empty).
    pub fn resolve_text(&self, s: &str, frame: &Frame<'_>) -> Result<String, VarError> {
        self.resolve(s, frame).map(|v| text(&v))
    }

    /// Resolve every string (and object key) inside a JSON value.
    pub fn resolve_value(&self, v: &Value, frame: &Frame<'_>) -> Result<Value, VarError> {
        Ok(match v {
            Value::String(s) => self.resolve(s, frame)?,
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.resolve_value(x, frame))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => {
                let mut out = serde_json::Map::new();
                for (k, x) in o {
                    out.insert(self.resolve_text(k, frame)?, self.resolve_value(x, frame)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// A value as text: strings as they are, `null` empty, the rest as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lone_reference_keeps_its_type_and_text_interpolates() {
        let mut s = Scope::new(&[], "r1");
        s.set("id", json!(7), false);
        s.set("name", json!("alice"), false);
        let f = Frame::default();
        assert_eq!(s.resolve("${id}", &f), Ok(json!(7)));
        assert_eq!(s.resolve("/users/${id}", &f), Ok(json!("/users/7")));
        assert_eq!(s.resolve("$${id} ${name}", &f), Ok(json!("${id} alice")));
        assert_eq!(s.resolve("${run.id}", &f), Ok(json!("r1")));
        let body = json!({"user": "${name}", "ids": ["${id}"]});
        assert_eq!(
            s.resolve_value(&body, &f),
            Ok(json!({"user": "alice", "ids": [7]}))
        );
    }

    #[test]
    fn unset_variables_say_why_and_bad_syntax_is_an_error() {
        let mut s = Scope::new(&[], "r");
        s.fail("token", "capture in step `login` failed".into());
        let e = s.resolve("Bearer ${token}", &Frame::default());
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("`${token}` was never set: capture in step `login` failed".into())
        );
        assert!(matches!(
            s.resolve("${oops", &Frame::default()),
            Err(VarError::Syntax(_))
        ));
        assert!(references("${a b}").is_err());
    }

    #[test]
    fn secrets_are_hidden_wherever_they_appear() {
        let mut s = Scope::new(&[], "r");
        s.set("token", json!("abc.def.ghi"), true);
        assert_eq!(
            s.hide("Bearer abc.def.ghi!"),
            "Bearer [REDACTED capture token]!"
        );
        let row = BTreeMap::from([("p".to_string(), json!("hi"))]);
        let f = Frame {
            row: Some(&row),
            index: Some(2),
        };
        assert_eq!(s.resolve("${row.p}-${index}", &f), Ok(json!("hi-2")));
        assert_eq!(s.resolve("${env.NOPE_X:-dflt}", &f), Ok(json!("dflt")));
    }
}
