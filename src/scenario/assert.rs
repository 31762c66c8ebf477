//! A step's assertions and captures, judged on one answer in one side's scope.
//!
//! Owns the messages people read: `status: expected 200, got 404`, `json /id: expected
//! type integer, got string`, `capture token: no value at /access_token`. Values shown are
//! redacted (secret field names, the scope's secrets). Pure apart from the scope it sets.

use serde_json::Value;

use super::exec::{ContractVerdict, Env, Prepared, set_cookie};
use super::load::Step;
use super::model::{CaptureFrom, Check};
use super::vars::{Frame, Scope, text};
use crate::exchange::RecordedResponse;
use crate::redact;

/// Every failed expectation of `step` on `resp`.
pub fn expectations(
    step: &Step,
    resp: &RecordedResponse,
    req: &Prepared,
    frame: &Frame<'_>,
    scope: &Scope,
    env: &Env,
) -> Vec<String> {
    let e = &step.doc.expect;
    let mut out = Vec::new();
    if let Some(s) = &e.status
        && !s.accepts(resp.status)
    {
        out.push(format!("status: expected {s}, got {}", resp.status));
    }
    for (name, check) in &e.headers {
        let v = resp.header(name).map(|v| Value::String(v.to_string()));
        for m in judge(v.as_ref(), check, frame, scope) {
            out.push(format!("header {name}: {m}"));
        }
    }
    let body = resp.body.as_bytes();
    if !e.json.is_empty() {
        match serde_json::from_slice::<Value>(body) {
            Ok(doc) => {
                for (pointer, check) in &e.json {
                    let at = doc.pointer(pointer);
                    for m in judge(at, check, frame, scope) {
                        out.push(format!("json {}: {m}", show_pointer(pointer)));
                    }
                }
            }
            Err(err) => out.push(format!("json: the body is not JSON ({err})")),
        }
    }
    if let Some(check) = &e.text {
        let t = Value::String(String::from_utf8_lossy(body).into_owned());
        for m in judge(Some(&t), check, frame, scope) {
            out.push(format!("text: {m}"));
        }
    }
    if let Some(limit) = e.latency_ms {
        let ms = resp.total_us / 1000;
        if ms > limit {
            out.push(format!("latency: {ms} ms, over the bound of {limit} ms"));
        }
    }
    if e.contract {
        out.extend(contract(resp, req, env));
    }
    out.into_iter()
        .map(|m| scope.hide(&redact::redact_text(&m, &env.redaction).unwrap_or(m.clone())))
        .collect()
}

fn contract(resp: &RecordedResponse, req: &Prepared, env: &Env) -> Vec<String> {
    let Some(contracts) = &env.contracts else {
        return vec!["contract: no contracts loaded (give --contracts DIR)".into()];
    };
    match contracts.check(
        req.method.as_str(),
        req.path(),
        resp.status,
        resp.header("content-type"),
        resp.body.as_bytes(),
    ) {
        ContractVerdict::Conforms => Vec::new(),
        ContractVerdict::Uncovered => vec![format!(
            "contract: no contract covers {} {} answering {}",
            req.method,
            req.path(),
            resp.status
        )],
        ContractVerdict::Violations(v) => v.into_iter().map(|m| format!("contract: {m}")).collect(),
    }
}

fn show_pointer(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

/// What is wrong with `value` under `check` (empty: it holds).
fn judge(value: Option<&Value>, check: &Check, frame: &Frame<'_>, scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(want) = check.exists {
        match (want, value) {
            (true, None) => out.push("expected to exist, absent".into()),
            (false, Some(v)) => out.push(format!("expected to be absent, got {}", show(v))),
            _ => {}
        }
    }
    let Some(v) = value else {
        if check.equals.is_some()
            || check.matches.is_some()
            || check.kind.is_some()
            || check.contains.is_some()
            || check.length.is_some()
        {
            out.push("absent".into());
        }
        return out;
    };
    if let Some(want) = &check.equals {
        match scope.resolve_value(want, frame) {
            Ok(w) if &w == v => {}
            Ok(w) => out.push(format!("expected {}, got {}", show(&w), show(v))),
            Err(e) => out.push(format!("cannot compare: {e}")),
        }
    }
    if let Some(kind) = check.kind
        && !kind.holds(v)
    {
        out.push(format!(
            "expected type {}, got {}",
            kind.as_str(),
            crate::compare::value::type_name(v)
        ));
    }
    if let Some(re) = &check.matches {
        match scope
            .resolve_text(re, frame)
            .map_err(|e| e.to_string())
            .and_then(|re| regex::Regex::new(&re).map_err(|e| e.to_string()))
        {
            Ok(r) if r.is_match(&text(v)) => {}
            Ok(r) => out.push(format!("{} does not match `{}`", show(v), r.as_str())),
            Err(e) => out.push(format!("`matches`: {e}")),
        }
    }
    if let Some(want) = &check.contains {
        match scope.resolve_value(want, frame) {
            Ok(w) => {
                let holds = match (v, &w) {
                    (Value::String(s), w) => s.contains(&text(w)),
                    (Value::Array(items), w) => items.contains(w),
                    (Value::Object(map), Value::String(k)) => map.contains_key(k),
                    _ => false,
                };
                if !holds {
                    out.push(format!("{} does not contain {}", show(v), show(&w)));
                }
            }
            Err(e) => out.push(format!("cannot compare: {e}")),
        }
    }
    if let Some(n) = check.length {
        let len = match v {
            Value::String(s) => Some(s.chars().count()),
            Value::Array(a) => Some(a.len()),
            Value::Object(o) => Some(o.len()),
            _ => None,
        };
        match len {
            Some(l) if l == n => {}
            Some(l) => out.push(format!("expected length {n}, got {l}")),
            None => out.push(format!("{} has no length", show(v))),
        }
    }
    out
}

/// Set every capture of `step` from `resp`; a capture that finds nothing is a failure and
/// leaves its variable unset with the reason.
pub fn captures(
    step: &Step,
    file: &str,
    resp: &RecordedResponse,
    scope: &mut Scope,
) -> Vec<String> {
    let mut out = Vec::new();
    let json = || serde_json::from_slice::<Value>(resp.body.as_bytes()).ok();
    for (name, c) in &step.doc.capture {
        let found: Result<Value, String> = match c.from {
            CaptureFrom::Body => {
                let pointer = c.pointer.clone().unwrap_or_default();
                match json() {
                    Some(doc) => doc
                        .pointer(&pointer)
                        .cloned()
                        .ok_or_else(|| format!("no value at {}", show_pointer(&pointer))),
                    None => Err("the body is not JSON".into()),
                }
            }
            CaptureFrom::Header => {
                let h = c.name.clone().unwrap_or_default();
                resp.header(&h)
                    .map(|v| Value::String(v.to_string()))
                    .ok_or_else(|| format!("no header `{h}`"))
            }
            CaptureFrom::Cookie => {
                let n = c.name.clone().unwrap_or_default();
                set_cookie(resp, &n)
                    .map(|v| Value::String(v.to_string()))
                    .ok_or_else(|| format!("no `Set-Cookie` for `{n}`"))
            }
            CaptureFrom::Status => Ok(Value::from(resp.status)),
        };
        match found {
            Ok(v) => {
                let secret = c.secret || crate::redact::Redaction::default().is_secret_field(name);
                scope.set(name, v, secret);
            }
            Err(why) => {
                let msg = format!("capture {name}: {why}");
                scope.fail(
                    name,
                    format!(
                        "its capture in step `{}` ({}) failed: {why}",
                        step.doc.name,
                        step.location(file)
                    ),
                );
                out.push(msg);
            }
        }
    }
    out
}
