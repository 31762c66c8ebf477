//! Loading scenario files: YAML via `serde_norway`, errors at file:line:column, each step's
//! line, and the checks that need no target (one body per request, valid methods, regular
//! expressions and JSON Pointers, every `${variable}` set by `vars` or an earlier capture,
//! every `${env.NAME}` without a default set in the environment).
//!
//! Never sends anything; a [`Scenario`] is ready to run on any target.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::{CaptureFrom, Check, ScenarioDoc, StepDoc};
use super::vars::{self, Ref};

/// A scenario file that cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file as given (for messages and outputs).
    pub file: String,
    pub name: String,
    pub doc: ScenarioDoc,
    /// `vars` in the order written, values as JSON.
    pub vars: Vec<(String, Value)>,
    /// Every environment variable referenced.
    pub env: Vec<String>,
    /// `setup` then `steps`.
    pub steps: Vec<Step>,
}

/// One step with its place in the file.
#[derive(Debug, Clone)]
pub struct Step {
    pub doc: StepDoc,
    /// 1-based line of the step's `-` (the section's line for flow-style lists).
    pub line: usize,
    pub column: usize,
    /// A `setup` step (run once per simulated user by the load stage).
    pub setup: bool,
    /// Keep its normalised answer as a snapshot.
    pub snapshot: bool,
}

impl Step {
    pub fn location(&self, file: &str) -> String {
        format!("{file}:{}", self.line)
    }
}

/// Every `*.yaml` / `*.yml` file of `dir` (not recursive), sorted by name. A directory
/// without any is an error; so is the first file that does not load.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let at = |message: String| ScenarioError {
        file: dir.display().to_string(),
        line: 0,
        column: 0,
        message,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| at(format!("cannot read the directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| x == "yaml" || x == "yml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(at("no scenario files (*.yaml, *.yml)".into()));
    }
    files.iter().map(|f| load_file(f)).collect()
}

/// Load one file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario");
    parse(&text, &file, stem)
}

/// Parse and check one scenario's text; `file` names it in errors, `stem` is the default
/// name.
pub fn parse(text: &str, file: &str, stem: &str) -> Result<Scenario, ScenarioError> {
    let doc: ScenarioDoc = serde_norway::from_str(text).map_err(|e| yaml_error(&e, file))?;
    let err = |line: usize, column: usize, message: String| ScenarioError {
        file: file.to_string(),
        line,
        column,
        message,
    };
    let mut vars_list = Vec::new();
    for (k, v) in &doc.vars {
        let Some(name) = k.as_str() else {
            return Err(err(
                key_line(text, "vars"),
                1,
                "a `vars` key is not a string".into(),
            ));
        };
        let value = serde_json::to_value(v).map_err(|e| {
            err(
                key_line(text, "vars"),
                1,
                format!("var `{name}` cannot be used as JSON: {e}"),
            )
        })?;
        vars_list.push((name.to_string(), value));
    }
    let setup_lines = item_lines(text, "setup", doc.setup.len());
    let step_lines = item_lines(text, "steps", doc.steps.len());
    let mut steps = Vec::new();
    for (i, d) in doc.setup.iter().enumerate() {
        let (line, column) = setup_lines[i];
        steps.push(Step {
            doc: d.clone(),
            line,
            column,
            setup: true,
            snapshot: d.snapshot.unwrap_or(doc.snapshot),
        });
    }
    for (i, d) in doc.steps.iter().enumerate() {
        let (line, column) = step_lines[i];
        steps.push(Step {
            doc: d.clone(),
            line,
            column,
            setup: false,
            snapshot: d.snapshot.unwrap_or(doc.snapshot),
        });
    }
    if steps.is_empty() {
        return Err(err(key_line(text, "steps"), 1, "no steps".into()));
    }
    let mut known: Vec<String> = Vec::new();
    let mut env = Vec::new();
    for (name, value) in &vars_list {
        let mut strings = Vec::new();
        vars::strings(value, &mut strings);
        for s in &strings {
            check_refs(s, &known, false, false, &mut env)
                .map_err(|m| err(key_line(text, "vars"), 1, format!("var `{name}`: {m}")))?;
        }
        known.push(name.clone());
    }
    for step in &steps {
        check_step(step, &known, &mut env).map_err(|m| {
            err(
                step.line,
                step.column,
                format!("step `{}`: {m}", step.doc.name),
            )
        })?;
        known.extend(step.doc.capture.keys().cloned());
    }
    Ok(Scenario {
        file: file.to_string(),
        name: doc.name.clone().unwrap_or_else(|| stem.to_string()),
        vars: vars_list,
        env,
        steps,
        doc,
    })
}

fn yaml_error(e: &serde_norway::Error, file: &str) -> ScenarioError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.to_string();
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    ScenarioError {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// The 1-based line of a top-level `key:` (1 when absent).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .map_or(1, |i| i + 1)
}

/// The (line, column) of each item of the block list under the top-level `key:`. A list in
/// flow style (or anything unexpected) gives every item the key's line.
fn item_lines(text: &str, key: &str, count: usize) -> Vec<(usize, usize)> {
    let start = key_line(text, key);
    let fallback = vec![(start, 1); count];
    let mut found = Vec::new();
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate().skip(start) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let this = line.len() - trimmed.len();
        let is_item = trimmed == "-" || trimmed.starts_with("- ");
        match indent {
            None if is_item => indent = Some(this),
            None => return fallback,
            Some(n) if this < n || (this == n && !is_item) => break,
            Some(_) => {}
        }
        if is_item && Some(this) == indent {
            found.push((i + 1, this + 1));
        }
    }
    if found.len() == count {
        found
    } else {
        fallback
    }
}

fn check_refs(
    s: &str,
    known: &[String],
    row: bool,
    index: bool,
    env: &mut Vec<String>,
) -> Result<(), String> {
    for r in vars::references(s)? {
        match r {
            Ref::Var(name) if !known.iter().any(|k| k == name) => {
                return Err(format!(
                    "`${{{name}}}` is never set: no var of that name and no earlier step \
                     captures it"
                ));
            }
            Ref::Env { name, default } => {
                if default.is_none() && std::env::var_os(name).is_none() {
                    return Err(format!(
                        "`${{env.{name}}}`: the environment variable {name} is not set (give a \
                         default with `${{env.{name}:-value}}`)"
                    ));
                }
                if !env.iter().any(|e| e == name) {
                    env.push(name.to_string());
                }
            }
            Ref::Row(f) if !row => {
                return Err(format!("`${{row.{f}}}` outside a `for_each` step"));
            }
            Ref::Index if !index => return Err("`${index}` outside a loop".into()),
            _ => {}
        }
    }
    Ok(())
}

fn check_step(step: &Step, known: &[String], env: &mut Vec<String>) -> Result<(), String> {
    let d = &step.doc;
    let r = &d.request;
    if d.for_each.is_some() && d.repeat.is_some() {
        return Err("`for_each` and `repeat` together; use one".into());
    }
    if let Some(rep) = &d.repeat
        && !(rep.is_u64() || rep.is_string())
    {
        return Err("`repeat` is a count or a `${variable}`".into());
    }
    let bodies = [r.json.is_some(), r.form.is_some(), r.body.is_some()];
    if bodies.iter().filter(|b| **b).count() > 1 {
        return Err("a request has one body: `json`, `form` or `body`".into());
    }
    if !r.method.contains("${") && http::Method::from_bytes(r.method.as_bytes()).is_err() {
        return Err(format!("`{}` is not an HTTP method", r.method));
    }
    if !(r.path.starts_with('/') || r.path.starts_with("${")) {
        return Err(format!("path `{}` must start with `/`", r.path));
    }
    for (name, c) in &d.capture {
        match c.from {
            CaptureFrom::Body if c.pointer.is_none() => {
                return Err(format!("capture `{name}` from the body needs a `pointer`"));
            }
            CaptureFrom::Header | CaptureFrom::Cookie if c.name.is_none() => {
                return Err(format!(
                    "capture `{name}` from a header or cookie needs a `name`"
                ));
            }
            _ => {}
        }
        if let Some(p) = &c.pointer
            && !(p.is_empty() || p.starts_with('/'))
        {
            return Err(format!(
                "capture `{name}`: `{p}` is not a JSON Pointer (starts with `/`)"
            ));
        }
    }
    for (pointer, check) in &d.expect.json {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(format!(
                "expect.json: `{pointer}` is not a JSON Pointer (starts with `/`)"
            ));
        }
        check_check(check).map_err(|m| format!("expect.json `{pointer}`: {m}"))?;
    }
    for (name, check) in &d.expect.headers {
        check_check(check).map_err(|m| format!("expect.headers `{name}`: {m}"))?;
    }
    if let Some(check) = &d.expect.text {
        check_check(check).map_err(|m| format!("expect.text: {m}"))?;
    }
    // Every string that is resolved at run time.
    let mut strings = vec![r.path.clone(), r.method.clone()];
    strings.extend(r.service.clone());
    strings.extend(r.bearer.clone());
    strings.extend(r.body.clone());
    strings.extend(r.content_type.clone());
    for map in [&r.query, &r.headers, &r.cookies] {
        for (k, v) in map {
            strings.push(k.clone());
            vars::strings(v, &mut strings);
        }
    }
    if let Some(form) = &r.form {
        for (k, v) in form {
            strings.push(k.clone());
            vars::strings(v, &mut strings);
        }
    }
    if let Some(j) = &r.json {
        vars::strings(j, &mut strings);
    }
    for check in d.expect.json.values().chain(d.expect.headers.values()) {
        check_strings(check, &mut strings);
    }
    if let Some(c) = &d.expect.text {
        check_strings(c, &mut strings);
    }
    let looped = d.for_each.is_some() || d.repeat.is_some();
    for s in &strings {
        check_refs(s, known, d.for_each.is_some(), looped, env)?;
    }
    if let Some(Value::String(rep)) = &d.repeat {
        check_refs(rep, known, false, false, env)?;
    }
    Ok(())
}

fn check_strings(c: &Check, out: &mut Vec<String>) {
    for v in [&c.equals, &c.contains].into_iter().flatten() {
        vars::strings(v, out);
    }
    out.extend(c.matches.clone());
}

fn check_check(c: &Check) -> Result<(), String> {
    if let Some(re) = &c.matches
        && !re.contains("${")
    {
        regex::Regex::new(re).map_err(|e| format!("`matches`: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: login
vars:
  user: alice
steps:
  - name: register
    request:
      method: POST
      path: /auth/register
      json: {username: \"${user}\", password: pw}
    capture:
      id: {pointer: /id}

  - name: fetch
    request:
      path: /auth/users/${id}
";

    #[test]
    fn steps_know_their_lines_and_variables_flow_forward() {
        let s = parse(GOOD, "s.yaml", "s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, "login");
        let lines: Vec<usize> = s.steps.iter().map(|s| s.line).collect();
        assert_eq!(lines, [5, 13]);
        assert_eq!(s.vars, vec![("user".to_string(), Value::from("alice"))]);
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_line_and_column() {
        let bad = GOOD.replace("    capture:", "    captur:");
        let e = parse(&bad, "s.yaml", "s").err();
        let e = e.unwrap_or_else(|| panic!("accepted an unknown key"));
        assert_eq!((e.file.as_str(), e.line), ("s.yaml", 10), "{e}");
        assert!(e.message.contains("unknown field `captur`"), "{e}");
        let e = parse("steps: [\n  {name: x\n", "t.yaml", "t").err();
        let e = e.unwrap_or_else(|| panic!("accepted broken YAML"));
        assert!(e.line >= 2 && e.column > 0, "{e}");
    }

    #[test]
    fn a_variable_no_step_sets_names_the_step() {
        let bad = GOOD.replace("${id}", "${user_id}");
        let e = parse(&bad, "s.yaml", "s").err();
        let e = e.unwrap_or_else(|| panic!("accepted an unset variable"));
        assert_eq!(e.line, 13, "{e}");
        assert!(
            e.to_string()
                .contains("step `fetch`: `${user_id}` is never set"),
            "{e}"
        );
        let two = GOOD.replace("json:", "form: {a: b}\n      json:");
        let e = parse(&two, "s.yaml", "s").err();
        assert!(e.is_some_and(|e| e.message.contains("one body")));
    }
}
