//! Running one step on one side: resolve its request in the side's scope, send it through
//! the shared upstream client ([`crate::upstream::call`]), check its assertions, set its
//! captures, and keep its normalised answer for the snapshot.
//!
//! Owns the request as sent (method, path and query, headers, cookies, body) and the curl
//! line shown for it (secrets redacted by [`crate::redact`] and the scope's own secrets).
//! Never touches the pipeline; the source turns [`SideRun`]s into exchanges.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use serde_json::Value;

use super::assert;
use super::deployment::Deployment;
use super::load::Step;
use super::snapshot;
use super::vars::{Frame, Scope, VarError, text};
use crate::compare::Rules;
use crate::exchange::{Body, Outcome, RecordedRequest, RecordedResponse};
use crate::redact::{self, Redaction};
use crate::upstream::forward::{ForwardBody, build_request};
use crate::upstream::{Limits, call};

/// The most bytes of one answer kept.
pub const BODY_CAP: usize = 4 * 1024 * 1024;

/// How a contract check judged one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractVerdict {
    Conforms,
    /// No contract covers the operation (never passing).
    Uncovered,
    Violations(Vec<String>),
}

/// Checks answers against contracts (`expect.contract`).
pub trait ContractCheck: Send + Sync {
    fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> ContractVerdict;
}

/// What the steps of one run share.
#[derive(Clone)]
pub struct Env {
    pub redaction: Redaction,
    pub rules: Arc<Rules>,
    pub contracts: Option<Arc<dyn ContractCheck>>,
}

/// One step run (one loop iteration) on one side.
#[derive(Debug, Clone, Default)]
pub struct SideRun {
    /// Why the step was not sent (`skip_if_same`, or a variable that was never set).
    pub skipped: Option<String>,
    /// The request as sent.
    pub request: Option<RecordedRequest>,
    /// The request as a curl line, secrets redacted.
    pub curl: Option<String>,
    pub outcome: Option<Outcome>,
    /// Assertions that failed and captures that found nothing, one sentence each
    /// (secrets redacted).
    pub failures: Vec<String>,
    /// The normalised answer, when the step keeps a snapshot.
    pub snapshot: Option<Value>,
}

impl SideRun {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Run `step` once on `dep` in `scope`.
pub async fn run_step(
    dep: &Deployment,
    step: &Step,
    file: &str,
    frame: &Frame<'_>,
    scope: &mut Scope,
    env: &Env,
) -> SideRun {
    let mut run = SideRun::default();
    let req = &step.doc.request;
    let path_for_routing = scope
        .resolve_text(&req.path, frame)
        .unwrap_or_else(|_| req.path.clone());
    let service_name = req
        .service
        .as_ref()
        .map(|s| scope.resolve_text(s, frame).unwrap_or_else(|_| s.clone()));
    let service = dep.service(service_name.as_deref(), &path_for_routing);
    if let Some(other) = &step.doc.skip_if_same
        && dep.service(Some(other), "").url == service.url
    {
        run.skipped = Some(format!(
            "skipped: `{}` and `{other}` are the same service here",
            service.name
        ));
        return run;
    }
    let prepared = match prepare(step, frame, scope) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("not run: {}", scope.hide(&e.to_string()));
            fail_captures(step, file, scope, &why);
            run.failures.push(why.clone());
            run.skipped = Some(why);
            return run;
        }
    };
    run.curl = Some(curl_line(&service.url, &prepared, scope, &env.redaction));
    let outcome = send(&service.target, &prepared).await;
    run.request = Some(prepared.recorded());
    match outcome.response() {
        Some(resp) => {
            run.failures = assert::expectations(step, resp, &prepared, frame, scope, env);
            run.failures
                .extend(assert::captures(step, file, resp, scope));
            if step.snapshot {
                run.snapshot = Some(snapshot::normalised(resp, &env.rules));
            }
        }
        None => {
            let f = outcome
                .failure()
                .map(|f| format!("{}: {}", f.kind.as_str(), f.message));
            let why = format!(
                "no answer from {} ({}): {}",
                service.name,
                service.url,
                f.unwrap_or_default()
            );
            fail_captures(step, file, scope, &why);
            run.failures.push(why);
        }
    }
    run.outcome = Some(outcome);
    run
}

/// Leave every capture of `step` unset with `why` (also used by the load stage).
pub fn fail_captures(step: &Step, file: &str, scope: &mut Scope, why: &str) {
    for name in step.doc.capture.keys() {
        scope.fail(
            name,
            format!(
                "its capture in step `{}` ({}) failed: {why}",
                step.doc.name,
                step.location(file)
            ),
        );
    }
}

/// A resolved request.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: http::Method,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Prepared {
    fn recorded(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.to_string(),
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            body: Body(self.body.clone()),
            truncated: false,
        }
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or(&self.uri)
    }
}

/// Resolve `step`'s request in `scope` (also used by the load stage).
pub fn prepare(step: &Step, frame: &Frame<'_>, scope: &Scope) -> Result<Prepared, VarError> {
    let r = &step.doc.request;
    let method_text = scope.resolve_text(&r.method, frame)?;
    let method = http::Method::from_bytes(method_text.as_bytes())
        .map_err(|_| VarError::Syntax(format!("`{method_text}` is not an HTTP method")))?;
    let mut uri = scope.resolve_text(&r.path, frame)?;
    if !r.query.is_empty() {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &r.query {
            q.append_pair(
                &scope.resolve_text(k, frame)?,
                &text(&scope.resolve_value(v, frame)?),
            );
        }
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(&q.finish());
    }
    let mut headers = Vec::new();
    for (k, v) in &r.headers {
        headers.push((
            scope.resolve_text(k, frame)?.to_ascii_lowercase(),
            text(&scope.resolve_value(v, frame)?),
        ));
    }
    if let Some(b) = &r.bearer {
        headers.push((
            "authorization".into(),
            format!("Bearer {}", scope.resolve_text(b, frame)?),
        ));
    }
    if !r.cookies.is_empty() {
        let mut parts = Vec::new();
        for (k, v) in &r.cookies {
            parts.push(format!(
                "{}={}",
                scope.resolve_text(k, frame)?,
                text(&scope.resolve_value(v, frame)?)
            ));
        }
        headers.push(("cookie".into(), parts.join("; ")));
    }
    let (body, content_type) = if let Some(j) = &r.json {
        let v = scope.resolve_value(j, frame)?;
        (
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            Some("application/json"),
        )
    } else if let Some(form) = &r.form {
        let mut f = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            f.append_pair(
                &scope.resolve_text(k, frame)?,
                &text(&scope.resolve_value(v, frame)?),
            );
        }
        (
            Bytes::from(f.finish()),
            Some("application/x-www-form-urlencoded"),
        )
    } else if let Some(b) = &r.body {
        (Bytes::from(scope.resolve_text(b, frame)?), None)
    } else {
        (Bytes::new(), None)
    };
    let explicit = match &r.content_type {
        Some(c) => Some(scope.resolve_text(c, frame)?),
        None => content_type.map(str::to_string),
    };
    if let Some(ct) = explicit
        && !headers.iter().any(|(n, _)| n == "content-type")
    {
        headers.push(("content-type".into(), ct));
    }
    Ok(Prepared {
        method,
        uri,
        headers,
        body,
    })
}

async fn send(target: &crate::upstream::Target, p: &Prepared) -> Outcome {
    let failed = |message: String| Outcome {
        target: target.name.clone(),
        result: crate::exchange::OutcomeResult::Failure(crate::exchange::Failure {
            kind: crate::exchange::FailureKind::Dropped,
            elapsed_us: 0,
            message,
        }),
    };
    let pq = match PathAndQuery::try_from(p.uri.as_str()) {
        Ok(pq) => pq,
        Err(e) => return failed(format!("invalid path `{}`: {e}", p.uri)),
    };
    let mut map = HeaderMap::new();
    for (k, v) in &p.headers {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(n), Ok(v)) => {
                map.append(n, v);
            }
            _ => return failed(format!("invalid header `{k}`")),
        }
    }
    let req = match build_request(
        target,
        &p.method,
        &pq,
        map,
        ForwardBody::full(p.body.clone()),
        None,
    ) {
        Ok(r) => r,
        Err(e) => return failed(format!("cannot build the request: {e}")),
    };
    call(
        target,
        req,
        &Limits {
            cap: BODY_CAP,
            budget: None,
        },
        &(),
    )
    .await
}

/// `curl -sS -X METHOD 'URL' -H '...' --data-raw '...'`, every secret redacted.
fn curl_line(base: &str, p: &Prepared, scope: &Scope, rules: &Redaction) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let uri = redact::redact_uri(&p.uri, rules).unwrap_or_else(|| p.uri.clone());
    let mut line = format!(
        "curl -sS -X {} {}",
        p.method,
        quote(&format!("{}{uri}", base.trim_end_matches('/')))
    );
    for (k, v) in &p.headers {
        let v = redact::redact_header_value(k, v, rules).unwrap_or_else(|| v.clone());
        line.push_str(&format!(" -H {}", quote(&format!("{k}: {v}"))));
    }
    if !p.body.is_empty() {
        let mut body = Body(p.body.clone());
        let ct = p
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str());
        redact::redact_body(&mut body, ct, rules);
        line.push_str(&format!(
            " --data-raw {}",
            quote(&String::from_utf8_lossy(body.as_bytes()))
        ));
    }
    scope.hide(&line)
}

/// The `Set-Cookie` value of cookie `name`.
pub fn set_cookie<'a>(resp: &'a RecordedResponse, name: &str) -> Option<&'a str> {
    resp.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}
