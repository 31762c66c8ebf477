//! The workload a load run drives: weighted steps (one route each), optional think time,
//! and the per-user login set-up. Owns the built-in workload against the reference system;
//! scenario files map onto the same [`Workload`]. No HTTP here beyond [`register`], which
//! makes sure the workload's account exists on a target before the attack, and [`login`],
//! both over cutover's own client ([`super::direct`], https included).

use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};

use super::attack::TargetRef;
use super::direct::{Upstreams, fetch};

/// The account the built-in workload registers and logs in with (allowlisted as an admin
/// in the embedded reference system, so the AI routes answer).
pub const LOAD_USER: &str = "loadadmin";
pub const LOAD_PASSWORD: &str = "load-pass-2026";

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
}

/// One weighted request of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The route it is measured under: `METHOD /template`.
    pub route: String,
    pub method: http::Method,
    /// The path sent; `{id}` becomes the logged-in user's id on each target.
    pub path: String,
    pub body: Body,
    /// Relative frequency (≥ 1).
    pub weight: usize,
    /// Send the user's bearer token.
    pub auth: bool,
}

/// How each simulated user logs in once before its first step.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    /// `POST` form login answering `{"access_token": …}`.
    pub path: String,
    pub username: String,
    pub password: String,
    /// Registered once per target before the attack (`POST` JSON); `None` to skip.
    pub register_path: Option<String>,
}

/// What a load run sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Shown in reports.
    pub name: String,
    pub steps: Vec<Step>,
    /// Pause between two steps of one user, uniformly from the range.
    pub think_time: Option<(Duration, Duration)>,
    pub login: Option<Login>,
}

impl Workload {
    /// A digest input: everything that changes what is measured.
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{}|{}|{:?}|{}|{}",
                    s.route, s.path, s.body, s.weight, s.auth
                )
            })
            .collect();
        format!(
            "{}|{:?}|{:?}|{}",
            self.name,
            self.think_time,
            self.login,
            steps.join(";")
        )
    }

    /// Keep the steps whose route's path matches one of `globs` (all when empty).
    pub fn filter_routes(&mut self, globs: &globset::GlobSet, any: bool) {
        if any {
            return;
        }
        self.steps.retain(|s| {
            let path = s.route.split_once(' ').map_or(s.route.as_str(), |(_, p)| p);
            globs.is_match(path)
        });
    }
}

fn step(route: &str, path: &str, body: Body, weight: usize, auth: bool) -> Step {
    let method = route
        .split_once(' ')
        .and_then(|(m, _)| m.parse().ok())
        .unwrap_or(http::Method::GET);
    Step {
        route: route.into(),
        method,
        path: path.into(),
        body,
        weight,
        auth,
    }
}

/// The built-in workload against the reference system's Auth and AI routes.
pub fn builtin() -> Workload {
    let prompt = json!({"prompt": "summarise the migration plan for the auth and ai services"});
    Workload {
        name: "built-in reference workload".into(),
        steps: vec![
            step("GET /auth/me", "/auth/me", Body::None, 4, true),
            step(
                "GET /auth/users/{id}",
                "/auth/users/{id}",
                Body::None,
                3,
                true,
            ),
            step(
                "POST /auth/login",
                "/auth/login",
                Body::Form(vec![
                    ("username".into(), LOAD_USER.into()),
                    ("password".into(), LOAD_PASSWORD.into()),
                ]),
                2,
                false,
            ),
            step("POST /ai/query", "/ai/query", Body::Json(prompt), 3, true),
            step("GET /ai/status", "/ai/status", Body::None, 2, true),
        ],
        think_time: None,
        login: Some(Login {
            path: "/auth/login".into(),
            username: LOAD_USER.into(),
            password: LOAD_PASSWORD.into(),
            register_path: Some("/auth/register".into()),
        }),
    }
}

/// A workload of plain GETs, one equally weighted step per path, without log-in.
pub fn get_paths(paths: &[String]) -> Workload {
    Workload {
        name: format!("GET {}", paths.join(", ")),
        steps: paths
            .iter()
            .map(|p| {
                let path = if p.starts_with('/') {
                    p.clone()
                } else {
                    format!("/{p}")
                };
                step(&format!("GET {path}"), &path, Body::None, 1, false)
            })
            .collect(),
        think_time: None,
        login: None,
    }
}

/// Make sure the login's account exists on `t` (register; an existing account is fine),
/// and return its id when the answer names one.
pub async fn register(
    upstreams: &Upstreams,
    t: &TargetRef,
    login: &Login,
) -> Result<Option<String>, String> {
    let Some(path) = &login.register_path else {
        return Ok(None);
    };
    let url = format!("{}{path}", t.url);
    let body = json!({"username": login.username, "password": login.password});
    let (status, v) = post(upstreams, t, path, "application/json", body.to_string())
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    match status {
        200 | 201 => Ok(v.get("id").map(|id| match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        400 | 409 => Ok(None),
        s => Err(format!("{url}: registering the load account answered {s}")),
    }
}

/// Log in on `t` (a form post); the access token.
pub async fn login(upstreams: &Upstreams, t: &TargetRef, login: &Login) -> Result<String, String> {
    let url = format!("{}{}", t.url, login.path);
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", &login.username)
        .append_pair("password", &login.password)
        .finish();
    let (status, v) = post(
        upstreams,
        t,
        &login.path,
        "application/x-www-form-urlencoded",
        form,
    )
    .await
    .map_err(|e| format!("{url}: {e}"))?;
    v.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("{url}: login answered {status} without an access_token"))
}

/// POST `body` to `path` on `t` over cutover's own client: the status and the answer as
/// JSON (`null` when it is not).
async fn post(
    upstreams: &Upstreams,
    t: &TargetRef,
    path: &str,
    content_type: &'static str,
    body: String,
) -> Result<(u16, Value), String> {
    let target = upstreams
        .get(&t.name)
        .ok_or_else(|| format!("target {} was not resolved", t.name))?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let (status, _, bytes) = fetch(target, Method::POST, path, headers, body.into()).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
