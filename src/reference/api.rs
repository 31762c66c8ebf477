//! The reference API's one source of truth: the request and response types (schemars
//! derives, JSON Schema 2020-12), the field limits the handlers validate with, and the
//! operation table that builds both each deployment's router and its `GET /openapi.json`
//! (OpenAPI 3.1, as FastAPI serves it).
//!
//! Owns which operations exist, on which deployment, with which bodies and statuses.
//! Unlike FastAPI, the handlers' error statuses (400, 401, 404, 429, ...) are documented
//! too, each with the FastAPI error body `{"detail": "..."}`; 422 answers carry
//! `{"detail": [{loc, msg, type}]}`. The handlers live in `auth.rs` and `ai.rs`.

use std::sync::Arc;

use axum::routing::{MethodRouter, get, post, put};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::{App, Role, ai, auth};

/// `username`: characters, inclusive.
pub const USERNAME_LEN: (usize, usize) = (3, 32);
/// `password`: characters, inclusive.
pub const PASSWORD_LEN: (usize, usize) = (8, 72);
/// `display_name` as accepted by the body (the 400 limit of 50 is a business rule).
pub const DISPLAY_NAME_MAX: usize = 1000;
pub const PICTURE_URL_MAX: usize = 2048;
pub const PROMPT_LEN: (usize, usize) = (1, 4000);
pub const MODEL_MAX: usize = 64;

/// A user as every deployment serialises it.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[schemars(required, extend("type" = ["string", "null"]))]
    pub display_name: Option<String>,
    /// `online` once logged in, else `offline`.
    pub status: String,
    #[schemars(required, extend("type" = ["string", "null"]))]
    pub profile_picture_url: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

/// `POST /auth/register`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct UserCreate {
    #[schemars(length(min = USERNAME_LEN.0, max = USERNAME_LEN.1))]
    pub username: String,
    #[schemars(length(min = PASSWORD_LEN.0, max = PASSWORD_LEN.1))]
    pub password: String,
    #[schemars(length(max = DISPLAY_NAME_MAX))]
    pub display_name: Option<String>,
}

/// `POST /auth/login`: the OAuth2 password form.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[schemars(rename = "Body_login_auth_login_post")]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
pub enum TokenType {
    #[serde(rename = "bearer")]
    Bearer,
}

/// The login answer (and `Set-Cookie: access_token=...`).
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct Token {
    pub access_token: String,
    pub token_type: TokenType,
}

/// `PUT /auth/me`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct UserUpdate {
    #[schemars(length(max = DISPLAY_NAME_MAX))]
    pub display_name: Option<String>,
    #[schemars(length(max = PICTURE_URL_MAX))]
    pub profile_picture_url: Option<String>,
}

/// `POST /ai/query` and `/ai/query/stream`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct AiQuery {
    #[schemars(length(min = PROMPT_LEN.0, max = PROMPT_LEN.1))]
    pub prompt: String,
    #[schemars(length(max = MODEL_MAX))]
    pub model: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct TokenCounts {
    #[schemars(range(min = 0))]
    pub input: i64,
    #[schemars(range(min = 0))]
    pub output: i64,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct AiAnswer {
    pub answer: String,
    pub model: String,
    pub tokens: TokenCounts,
    #[schemars(range(min = 0))]
    pub latency_ms: i64,
    #[schemars(range(min = 0))]
    pub remaining: i64,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct AiStatus {
    pub available: bool,
    pub model: String,
    #[schemars(range(min = 0))]
    pub remaining_requests: i64,
    #[schemars(extend("format" = "date-time"))]
    pub reset_at: String,
}

/// FastAPI's `{"detail": "..."}`.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct HTTPError {
    pub detail: String,
}

/// One entry of a 422 answer.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct ValidationError {
    pub loc: Vec<LocItem>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum LocItem {
    Name(String),
    Index(i64),
}

/// FastAPI's 422 body.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct HTTPValidationError {
    pub detail: Vec<ValidationError>,
}

/// A body in the operation table: a schema from a type, and its media type.
#[derive(Clone, Copy)]
pub struct Body {
    pub media: &'static str,
    pub schema: fn(&mut SchemaGenerator) -> Value,
}

fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

fn list_of_users(g: &mut SchemaGenerator) -> Value {
    json!({"type": "array", "items": of::<User>(g)})
}

fn event_stream(_: &mut SchemaGenerator) -> Value {
    json!({"type": "string", "description": "`data: <chunk>` events, then `data: [DONE]`"})
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

const fn json_body(schema: fn(&mut SchemaGenerator) -> Value) -> Body {
    Body {
        media: JSON,
        schema,
    }
}

/// Which deployments serve an operation (the monolith serves all).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Auth,
    Ai,
}

/// One operation: the router entry and the document entry come from here.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub service: Service,
    pub(crate) handler: fn() -> MethodRouter<Arc<App>>,
    pub request: Option<Body>,
    /// Query parameters: (name, required, min length).
    pub query: &'static [(&'static str, bool, usize)],
    /// Path parameters, integers.
    pub path_ids: &'static [&'static str],
    /// The success status and body.
    pub ok: (u16, Body),
    /// Documented error statuses (`{"detail": "..."}`); 422 is added to every operation.
    pub errors: &'static [u16],
    /// Authenticated with a Bearer token or the `access_token` cookie.
    pub secured: bool,
}

/// Every mirrored operation of the reference system.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "post",
        path: "/auth/register",
        operation_id: "register_auth_register_post",
        summary: "Register (joins #general on the monolith)",
        service: Service::Auth,
        handler: || post(auth::register),
        request: Some(json_body(of::<UserCreate>)),
        query: &[],
        path_ids: &[],
        ok: (201, json_body(of::<User>)),
        errors: &[400],
        secured: false,
    },
    Operation {
        method: "post",
        path: "/auth/login",
        operation_id: "login_auth_login_post",
        summary: "Log in (OAuth2 password form)",
        service: Service::Auth,
        handler: || post(auth::login),
        request: Some(Body {
            media: FORM,
            schema: of::<LoginForm>,
        }),
        query: &[],
        path_ids: &[],
        ok: (200, json_body(of::<Token>)),
        errors: &[401],
        secured: false,
    },
    Operation {
        method: "get",
        path: "/auth/me",
        operation_id: "me_auth_me_get",
        summary: "The current user",
        service: Service::Auth,
        handler: || get(auth::me),
        request: None,
        query: &[],
        path_ids: &[],
        ok: (200, json_body(of::<User>)),
        errors: &[401],
        secured: true,
    },
    Operation {
        method: "put",
        path: "/auth/me",
        operation_id: "update_me_auth_me_put",
        summary: "Update the current user",
        service: Service::Auth,
        handler: || put(auth::update_me),
        request: Some(json_body(of::<UserUpdate>)),
        query: &[],
        path_ids: &[],
        ok: (200, json_body(of::<User>)),
        errors: &[400, 401],
        secured: true,
    },
    Operation {
        method: "get",
        path: "/auth/users/search",
        operation_id: "search_auth_users_search_get",
        summary: "Search users by username or display name",
        service: Service::Auth,
        handler: || get(auth::search),
        request: None,
        query: &[("q", true, 1)],
        path_ids: &[],
        ok: (200, json_body(list_of_users)),
        errors: &[401],
        secured: true,
    },
    Operation {
        method: "get",
        path: "/auth/users/{id}",
        operation_id: "user_by_id_auth_users__id__get",
        summary: "A user by id",
        service: Service::Auth,
        handler: || get(auth::user_by_id),
        request: None,
        query: &[],
        path_ids: &["id"],
        ok: (200, json_body(of::<User>)),
        errors: &[404],
        secured: false,
    },
    Operation {
        method: "post",
        path: "/ai/query",
        operation_id: "query_ai_query_post",
        summary: "Ask the model (admins only; others get 404)",
        service: Service::Ai,
        handler: || post(ai::query),
        request: Some(json_body(of::<AiQuery>)),
        query: &[],
        path_ids: &[],
        ok: (200, json_body(of::<AiAnswer>)),
        errors: &[400, 401, 404, 429],
        secured: true,
    },
    Operation {
        method: "post",
        path: "/ai/query/stream",
        operation_id: "stream_ai_query_stream_post",
        summary: "Ask the model, answer streamed as server-sent events",
        service: Service::Ai,
        handler: || post(ai::stream),
        request: Some(json_body(of::<AiQuery>)),
        query: &[],
        path_ids: &[],
        ok: (
            200,
            Body {
                media: "text/event-stream",
                schema: event_stream,
            },
        ),
        errors: &[400, 401, 404, 429],
        secured: true,
    },
    Operation {
        method: "get",
        path: "/ai/status",
        operation_id: "status_ai_status_get",
        summary: "Model availability and the caller's rate window",
        service: Service::Ai,
        handler: || get(ai::status),
        request: None,
        query: &[],
        path_ids: &[],
        ok: (200, json_body(of::<AiStatus>)),
        errors: &[401, 404],
        secured: true,
    },
];

/// Whether `role` serves `op`.
pub(crate) fn serves(role: Role, op: &Operation) -> bool {
    match role {
        Role::Monolith => true,
        Role::Auth => op.service == Service::Auth,
        Role::Ai => op.service == Service::Ai,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "Successful Response",
        201 => "Created",
        400 => "Bad Request",
        401 => "Not authenticated",
        404 => "Not Found",
        422 => "Validation Error",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

/// The monolith's `GET /openapi.json`: every mirrored operation (the source of
/// `contracts/reference.openapi.json`).
pub fn monolith_openapi() -> Value {
    openapi(Role::Monolith.service_name(), Role::Monolith)
}

/// The OpenAPI 3.1 document of a deployment (`title` names it) serving `role`'s operations.
pub(crate) fn openapi(title: &str, role: Role) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let g = &mut generator;
    let mut paths = Map::new();
    for op in OPERATIONS.iter().filter(|op| serves(role, op)) {
        let mut o = Map::new();
        o.insert("summary".into(), op.summary.into());
        o.insert("operationId".into(), op.operation_id.into());
        o.insert("tags".into(), json!([op.path.split('/').nth(1)]));
        let mut params: Vec<Value> = op
            .path_ids
            .iter()
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "integer"}}))
            .collect();
        params.extend(op.query.iter().map(|(n, required, min)| {
            json!({"name": n, "in": "query", "required": required,
                   "schema": {"type": "string", "minLength": min}})
        }));
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        if let Some(b) = op.request {
            o.insert(
                "requestBody".into(),
                json!({"required": true, "content": {b.media: {"schema": (b.schema)(g)}}}),
            );
        }
        let mut responses = Map::new();
        let (status, body) = op.ok;
        responses.insert(
            status.to_string(),
            json!({"description": reason(status),
                   "content": {body.media: {"schema": (body.schema)(g)}}}),
        );
        for s in op.errors.iter().copied().chain([422]) {
            let schema = if s == 422 {
                of::<HTTPValidationError>(g)
            } else {
                of::<HTTPError>(g)
            };
            responses.insert(
                s.to_string(),
                json!({"description": reason(s), "content": {JSON: {"schema": schema}}}),
            );
        }
        o.insert("responses".into(), Value::Object(responses));
        if op.secured {
            o.insert("security".into(), json!([{"OAuth2PasswordBearer": []}]));
        }
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(op.method.into(), Value::Object(o));
        }
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"OAuth2PasswordBearer": {
                "type": "oauth2",
                "flows": {"password": {"scopes": {}, "tokenUrl": "auth/login"}}
            }}
        }
    })
}
