//! FastAPI-shaped errors: `{"detail": "..."}` for HTTP errors, 422 with
//! `{"detail":[{"loc":[...],"msg":"...","type":"..."}]}` for validation errors, and the
//! mapping of axum's extractor rejections (bad JSON, wrong content type, oversize bodies)
//! onto those shapes. Owns request-body field validation. Never answers 500 by itself.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::noise::{Doc, Style};

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Doc,
    /// Adds `WWW-Authenticate: Bearer` (401s from the OAuth2 scheme).
    pub bearer_challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: &str) -> ApiError {
        ApiError {
            status,
            detail: Doc::str(detail),
            bearer_challenge: false,
        }
    }

    pub fn bad_request(detail: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unauthorized(detail: &str) -> ApiError {
        ApiError {
            bearer_challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, detail)
        }
    }

    pub fn too_large() -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
    }

    /// A 422 with the given field errors.
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Doc::Arr(errors.into_iter().map(FieldError::into_doc).collect()),
            bearer_challenge: false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Style::MONOLITH.render(Doc::Obj(vec![("detail", self.detail)]));
        let mut resp = (self.status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.bearer_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// One entry of a 422 answer.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub loc: Vec<Doc>,
    pub msg: String,
    pub kind: &'static str,
}

impl FieldError {
    pub fn new(loc: &[&str], kind: &'static str, msg: impl Into<String>) -> FieldError {
        FieldError {
            loc: loc.iter().map(|s| Doc::str(*s)).collect(),
            msg: msg.into(),
            kind,
        }
    }

    pub fn missing(loc: &[&str]) -> FieldError {
        FieldError::new(loc, "missing", "Field required")
    }

    fn into_doc(self) -> Doc {
        Doc::Obj(vec![
            ("type", Doc::str(self.kind)),
            ("loc", Doc::Arr(self.loc)),
            ("msg", Doc::Str(self.msg)),
        ])
    }
}

fn not_an_object() -> ApiError {
    ApiError::validation(vec![FieldError::new(
        &["body"],
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    )])
}

/// The JSON object of a request body, or the FastAPI-shaped error for it.
pub fn json_object(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Map<String, Value>, ApiError> {
    match body {
        Ok(Json(Value::Object(map))) => Ok(map),
        Ok(Json(_)) => Err(not_an_object()),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::too_large()),
        Err(JsonRejection::JsonSyntaxError(_)) => Err(ApiError::validation(vec![FieldError {
            loc: vec![Doc::str("body"), Doc::Int(0)],
            msg: "JSON decode error".into(),
            kind: "json_invalid",
        }])),
        Err(_) => Err(not_an_object()),
    }
}

/// The fields of a form body. A wrong content type yields an empty form (FastAPI then reports
/// the missing fields); an oversize body is a 413.
pub fn form_fields(
    body: Result<axum::Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    match body {
        Ok(axum::Form(fields)) => Ok(fields),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::too_large()),
        Err(_) => Ok(Vec::new()),
    }
}

/// Field-by-field validation of a JSON object, collecting every error like pydantic does.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    section: &'static str,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn body(obj: &'a Map<String, Value>) -> Fields<'a> {
        Fields {
            obj,
            section: "body",
            errors: Vec::new(),
        }
    }

    /// A required string of `min..=max` characters.
    pub fn required(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        match self.obj.get(name) {
            None => {
                self.errors.push(FieldError::missing(&[self.section, name]));
                None
            }
            Some(v) => self.string(name, v, min, max),
        }
    }

    /// An optional string (absent or null → `None`).
    pub fn optional(&mut self, name: &str, max: usize) -> Option<String> {
        match self.obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => self.string(name, v, 0, max),
        }
    }

    fn string(&mut self, name: &str, v: &Value, min: usize, max: usize) -> Option<String> {
        let loc = [self.section, name];
        let Value::String(s) = v else {
            self.errors.push(FieldError::new(
                &loc,
                "string_type",
                "Input should be a valid string",
            ));
            return None;
        };
        let n = s.chars().count();
        if n < min {
            let plural = if min == 1 { "" } else { "s" };
            self.errors.push(FieldError::new(
                &loc,
                "string_too_short",
                format!("String should have at least {min} character{plural}"),
            ));
            None
        } else if n > max {
            self.errors.push(FieldError::new(
                &loc,
                "string_too_long",
                format!("String should have at most {max} characters"),
            ));
            None
        } else {
            Some(s.clone())
        }
    }

    /// `Ok` when every field was valid.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}
