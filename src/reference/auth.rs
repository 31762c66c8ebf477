//! The six auth endpoints, served by the monolith and by auth-service: register, login
//! (OAuth2 form), `GET`/`PUT /auth/me`, `GET /auth/users/{id}` and user search. Owns the
//! user representation and where the auth divergences live. Registration in the monolith
//! also joins the user to `#general`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::{Form, Json};
use serde_json::Value;

use super::api::{DISPLAY_NAME_MAX, PASSWORD_LEN, PICTURE_URL_MAX, USERNAME_LEN};
use super::divergence::Divergence as D;
use super::errors::{ApiError, FieldError, Fields, form_fields, json_object};
use super::noise::Doc;
use super::store::User;
use super::{App, Role, token};

type Reply = Result<Response, ApiError>;

/// A user as this deployment serialises it.
pub fn user_doc(app: &App, u: &User) -> Doc {
    let id = if app.div.has(D::IdAsString) {
        Doc::Str(u.id.to_string())
    } else {
        Doc::Int(u.id)
    };
    let mut fields = vec![("id", id), ("username", Doc::str(&u.username))];
    if u.display_name.is_some() || !app.div.has(D::DisplayNameOmittedWhenNull) {
        fields.push(("display_name", Doc::opt_str(u.display_name.as_deref())));
    }
    fields.push(("status", Doc::str(u.status)));
    fields.push((
        "profile_picture_url",
        Doc::opt_str(u.profile_picture_url.as_deref()),
    ));
    fields.push(("created_at", app.style.timestamp(u.created_at)));
    if app.div.has(D::ExtraFieldIsActive) {
        fields.push(("is_active", Doc::Bool(true)));
    }
    Doc::Obj(fields)
}

/// The user a request is authenticated as (Bearer token, or cookie when `cookie_ok`).
pub fn current_user(app: &App, headers: &HeaderMap, cookie_ok: bool) -> Result<User, ApiError> {
    let who = token::authenticate_as(app.tokens, headers, &app.secret, cookie_ok)?;
    let users = app.store.users();
    // An own token names the user by the service's own id; a shared one by username.
    let user = match who.uid {
        Some(uid) => users.get(uid).filter(|u| u.username == who.username),
        None => users.by_name(&who.username),
    };
    user.cloned()
        .ok_or_else(|| ApiError::unauthorized("Could not validate credentials"))
}

fn internal() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// The 400s of a display name: empty, too long, or taken by someone else.
fn check_display_name(app: &App, name: &str, except: Option<i64>) -> Result<(), ApiError> {
    let limit = if app.div.has(D::DisplayNameLimit64) {
        64
    } else {
        50
    };
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("Display name cannot be empty"));
    }
    if name.chars().count() > limit {
        return Err(ApiError::bad_request(&format!(
            "Display name must be at most {limit} characters"
        )));
    }
    let users = app.store.users();
    let taken = users.list.iter().any(|u| {
        Some(u.id) != except
            && u.display_name
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(name))
    });
    if taken {
        return Err(ApiError::bad_request("Display name already taken"));
    }
    Ok(())
}

fn duplicate(app: &App) -> ApiError {
    let status = if app.div.has(D::DuplicateRegister409) {
        StatusCode::CONFLICT
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError::new(status, "Username already registered")
}

pub(crate) async fn register(
    State(app): State<Arc<App>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let obj = json_object(body)?;
    let mut f = Fields::body(&obj);
    let username = f.required("username", USERNAME_LEN.0, USERNAME_LEN.1);
    let password = f.required("password", PASSWORD_LEN.0, PASSWORD_LEN.1);
    let display_name = f.optional("display_name", DISPLAY_NAME_MAX);
    f.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::validation(Vec::new()));
    };
    if let Some(name) = &display_name {
        check_display_name(&app, name, None)?;
    }
    if app.store.users().by_name(&username).is_some() {
        return Err(duplicate(&app));
    }
    let cost = app.bcrypt_cost;
    let hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|_| internal())?
        .map_err(|_| ApiError::bad_request("Password cannot be hashed"))?;
    let user = app
        .store
        .users_mut()
        .insert(&username, display_name, hash)
        .ok_or_else(|| duplicate(&app))?;
    if app.role == Role::Monolith {
        app.store.chat().join_general(&user);
    }
    Ok(app.json(StatusCode::CREATED, user_doc(&app, &user)))
}

pub(crate) async fn login(
    State(app): State<Arc<App>>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Reply {
    let fields = form_fields(form)?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (username, password) = (get("username"), get("password"));
    let mut errors = Vec::new();
    if username.is_none() {
        errors.push(FieldError::missing(&["body", "username"]));
    }
    if password.is_none() {
        errors.push(FieldError::missing(&["body", "password"]));
    }
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::validation(errors));
    };
    let bad = || ApiError::unauthorized("Incorrect username or password");
    let (uid, hash) = app
        .store
        .users()
        .by_name(&username)
        .map(|u| (u.id, u.password_hash.clone()))
        .ok_or_else(bad)?;
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
        .await
        .map_err(|_| internal())?
        .unwrap_or(false);
    if !ok {
        return Err(bad());
    }
    if app.div.has(D::Latency200ms) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(u) = app.store.users_mut().by_name_mut(&username) {
        u.status = "online";
    }
    let jwt = token::issue_for(app.tokens, &app.secret, uid, &username)?;
    let token_type = if app.div.has(D::TokenTypeCapitalised) {
        "Bearer"
    } else {
        "bearer"
    };
    let cookie = format!("access_token={jwt}; HttpOnly; Path=/; SameSite=Lax");
    let mut resp = app.json(
        StatusCode::OK,
        Doc::Obj(vec![
            ("access_token", Doc::Str(jwt)),
            ("token_type", Doc::str(token_type)),
        ]),
    );
    if !app.div.has(D::MissingSetCookie)
        && let Ok(v) = HeaderValue::from_str(&cookie)
    {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub(crate) async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    let user = current_user(&app, &headers, !app.div.has(D::MeIgnoresCookie))?;
    Ok(app.json(StatusCode::OK, user_doc(&app, &user)))
}

pub(crate) async fn update_me(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let user = current_user(&app, &headers, !app.div.has(D::MeIgnoresCookie))?;
    let obj = json_object(body)?;
    let mut f = Fields::body(&obj);
    let display_name = f.optional("display_name", DISPLAY_NAME_MAX);
    let picture = f.optional("profile_picture_url", PICTURE_URL_MAX);
    f.finish()?;
    if display_name.is_none() && picture.is_none() {
        return Err(ApiError::bad_request("No fields to update"));
    }
    if let Some(name) = &display_name {
        check_display_name(&app, name, Some(user.id))?;
    }
    let mut users = app.store.users_mut();
    let u = users
        .by_name_mut(&user.username)
        .ok_or_else(|| ApiError::unauthorized("Could not validate credentials"))?;
    if display_name.is_some() {
        u.display_name = display_name;
    }
    if picture.is_some() {
        u.profile_picture_url = picture;
    }
    let updated = u.clone();
    drop(users);
    Ok(app.json(StatusCode::OK, user_doc(&app, &updated)))
}

pub(crate) async fn user_by_id(State(app): State<Arc<App>>, Path(id): Path<String>) -> Reply {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::validation(vec![FieldError::new(
            &["path", "id"],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )])
    })?;
    let user = app.store.users().get(id).cloned();
    match user {
        Some(u) => Ok(app.json(StatusCode::OK, user_doc(&app, &u))),
        None if app.div.has(D::ErrorTextUserNotFound) => {
            Err(ApiError::not_found("User does not exist"))
        }
        None => Err(ApiError::not_found("User not found")),
    }
}

pub(crate) async fn search(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Reply {
    current_user(&app, &headers, true)?;
    let params = query.map(|Query(q)| q).unwrap_or_default();
    let q = params
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.as_str());
    let q = match q {
        None => {
            return Err(ApiError::validation(vec![FieldError::missing(&[
                "query", "q",
            ])]));
        }
        Some("") => {
            return Err(ApiError::validation(vec![FieldError::new(
                &["query", "q"],
                "string_too_short",
                "String should have at least 1 character",
            )]));
        }
        Some(q) => q.to_lowercase(),
    };
    let mut found: Vec<User> = app
        .store
        .users()
        .list
        .iter()
        .filter(|u| {
            u.username.to_lowercase().contains(&q)
                || u.display_name
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains(&q))
        })
        .cloned()
        .collect();
    if app.div.has(D::SearchOrderByUsername) {
        found.sort_by(|a, b| a.username.cmp(&b.username));
    }
    found.truncate(20);
    let docs = found.iter().map(|u| user_doc(&app, u)).collect();
    Ok(app.json(StatusCode::OK, Doc::Arr(docs)))
}
