//! Channels and messages (monolith only, never mirrored) and `GET /health` (every
//! deployment). `#general` (id 1) exists from the start; registration joins users to it.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::App;
use super::auth::current_user;
use super::errors::{ApiError, FieldError, Fields, json_object};
use super::noise::Doc;
use super::store::{Channel, Message};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/channels", get(list_channels).post(create_channel))
        .route(
            "/channels/{id}/messages",
            get(list_messages).post(post_message),
        )
}

type Reply = Result<Response, ApiError>;

pub async fn health(State(app): State<Arc<App>>) -> Response {
    app.json(
        StatusCode::OK,
        Doc::Obj(vec![
            ("status", Doc::str("ok")),
            ("service", Doc::str(app.role.service_name())),
        ]),
    )
}

fn channel_doc(app: &App, c: &Channel) -> Doc {
    Doc::Obj(vec![
        ("id", Doc::Int(c.id)),
        ("name", Doc::str(&c.name)),
        (
            "member_count",
            Doc::Int(i64::try_from(c.members.len()).unwrap_or(i64::MAX)),
        ),
        ("created_at", app.style.timestamp(c.created_at)),
    ])
}

fn message_doc(app: &App, m: &Message) -> Doc {
    Doc::Obj(vec![
        ("id", Doc::Int(m.id)),
        ("channel_id", Doc::Int(m.channel_id)),
        ("user_id", Doc::Int(m.user_id)),
        ("username", Doc::str(&m.username)),
        ("content", Doc::str(&m.content)),
        ("kind", Doc::str(m.kind)),
        ("created_at", app.style.timestamp(m.created_at)),
    ])
}

fn channel_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::validation(vec![FieldError::new(
            &["path", "id"],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )])
    })
}

async fn list_channels(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    current_user(&app, &headers, true)?;
    let chat = app.store.chat();
    let docs = chat.channels.iter().map(|c| channel_doc(&app, c)).collect();
    Ok(app.json(StatusCode::OK, Doc::Arr(docs)))
}

async fn create_channel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let user = current_user(&app, &headers, true)?;
    let obj = json_object(body)?;
    let mut f = Fields::body(&obj);
    let name = f.required("name", 1, 50);
    f.finish()?;
    let name = name.unwrap_or_default();
    let mut chat = app.store.chat();
    if chat
        .channels
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::bad_request("Channel already exists"));
    }
    let channel = Channel {
        id: chat.channels.iter().map(|c| c.id).max().unwrap_or(0) + 1,
        name,
        members: vec![user.id],
        created_at: chrono::Utc::now(),
    };
    chat.channels.push(channel.clone());
    drop(chat);
    Ok(app.json(StatusCode::CREATED, channel_doc(&app, &channel)))
}

async fn list_messages(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    current_user(&app, &headers, true)?;
    let id = channel_id(&id)?;
    let chat = app.store.chat();
    if chat.channel(id).is_none() {
        return Err(ApiError::not_found("Channel not found"));
    }
    let mine: Vec<&Message> = chat
        .messages
        .iter()
        .filter(|m| m.channel_id == id)
        .collect();
    let skip = mine.len().saturating_sub(100);
    let docs = mine[skip..].iter().map(|m| message_doc(&app, m)).collect();
    Ok(app.json(StatusCode::OK, Doc::Arr(docs)))
}

async fn post_message(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let user = current_user(&app, &headers, true)?;
    let id = channel_id(&id)?;
    let obj = json_object(body)?;
    let mut f = Fields::body(&obj);
    let content = f.required("content", 1, 2000);
    f.finish()?;
    let mut chat = app.store.chat();
    if chat.channel(id).is_none() {
        return Err(ApiError::not_found("Channel not found"));
    }
    let msg = chat.post(id, &user, content.unwrap_or_default(), "message");
    drop(chat);
    Ok(app.json(StatusCode::CREATED, message_doc(&app, &msg)))
}
