//! The three AI endpoints, served by the monolith and by ai-service: `POST /ai/query`,
//! `POST /ai/query/stream` (server-sent events) and `GET /ai/status`. Owns the admin gate
//! (`ADMIN_ALLOWLIST`, 404 for non-admins), the per-user rate limit, and the deterministic
//! fake model. Users are known by the JWT `sub` alone: no registration store is consulted.
//! (In `auth-own-identity` the AI service still accepts the monolith's tokens.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::{MODEL_MAX, PROMPT_LEN};
use super::divergence::Divergence as D;
use super::errors::{ApiError, Fields, json_object};
use super::noise::{self, Doc};
use super::{App, token};

/// The model used when a request names none.
pub const DEFAULT_MODEL: &str = "fake-gpt-1";
/// Every model the fake serves.
pub const MODELS: &[&str] = &["fake-gpt-1", "fake-gpt-2"];
/// Pause between two stream events (so streaming is observable).
const CHUNK_DELAY: Duration = Duration::from_millis(10);

type Reply = Result<Response, ApiError>;

/// The username of an authenticated admin, or 401 / 404 (403 with `non-admin-403`).
fn admin(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let who = token::authenticate_as(app.tokens, headers, &app.secret, true)?;
    if app.allowlist.allows(&who.username) {
        Ok(who.username)
    } else if app.div.has(D::NonAdmin403) {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Not enough permissions",
        ))
    } else {
        Err(ApiError::not_found("Not Found"))
    }
}

/// The deterministic fake model: the answer is a function of the prompt and the model.
pub fn answer(prompt: &str, model: &str) -> String {
    const OPENERS: &[&str] = &[
        "Sure.",
        "Good question.",
        "Here is what I found.",
        "In short:",
        "Let me explain.",
    ];
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let hash = prompt
        .bytes()
        .chain([0])
        .chain(model.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let opener = OPENERS[usize::try_from(hash % OPENERS.len() as u64).unwrap_or(0)];
    let topic = words.iter().take(4).copied().collect::<Vec<_>>().join(" ");
    let last = words.last().copied().unwrap_or("nothing");
    format!(
        "{opener} You asked about \"{topic}\" in {} words; {model} suggests you start with \"{last}\" (note {}).",
        words.len(),
        hash % 1000
    )
}

fn count(app: &App, text: &str) -> i64 {
    let n = if app.div.has(D::TokensCountChars) {
        text.chars().count()
    } else {
        text.split_whitespace().count()
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An admin's validated, counted request: prompt, model and `remaining` to report.
struct Ask {
    prompt: String,
    model: String,
    remaining: u32,
}

fn ask(
    app: &App,
    headers: &HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Ask, ApiError> {
    let user = admin(app, headers)?;
    let obj = json_object(body)?;
    let mut f = Fields::body(&obj);
    let prompt = f.required("prompt", PROMPT_LEN.0, PROMPT_LEN.1);
    let model = f.optional("model", MODEL_MAX);
    f.finish()?;
    let prompt = prompt.unwrap_or_default();
    let model = model.unwrap_or_else(|| DEFAULT_MODEL.to_string());
    if !MODELS.contains(&model.as_str()) {
        return Err(ApiError::bad_request(&format!(
            "Model '{model}' is not available"
        )));
    }
    let enforce = !app.div.has(D::RateLimitNotEnforced);
    let slot = app.store.rate.acquire(&user, enforce);
    if !slot.allowed && enforce {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded",
        ));
    }
    let counted = if app.div.has(D::RemainingOffByOne) {
        slot.used_before
    } else {
        slot.used_before.saturating_add(1)
    };
    Ok(Ask {
        prompt,
        model,
        remaining: slot.limit.saturating_sub(counted),
    })
}

pub(crate) async fn query(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let started = Instant::now();
    let ask = ask(&app, &headers, body)?;
    let text = answer(&ask.prompt, &ask.model);
    let tokens = Doc::Obj(vec![
        ("input", Doc::Int(count(&app, &ask.prompt))),
        ("output", Doc::Int(count(&app, &text))),
    ]);
    Ok(app.json(
        StatusCode::OK,
        Doc::Obj(vec![
            ("answer", Doc::Str(text)),
            ("model", Doc::Str(ask.model)),
            ("tokens", tokens),
            ("latency_ms", Doc::Int(noise::latency_ms(started.elapsed()))),
            ("remaining", Doc::Int(i64::from(ask.remaining))),
        ]),
    ))
}

/// The `data:` events of a streamed answer: one word per event (two with
/// `sse-chunks-split`), a trailing space on all but the last, then `[DONE]`.
fn events(app: &App, text: &str) -> Vec<Bytes> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let per_event = if app.div.has(D::SseChunksSplit) { 2 } else { 1 };
    let mut chunks: Vec<&[&str]> = words.chunks(per_event).collect();
    if app.div.has(D::StreamDropsLastChunk) && chunks.len() > 1 {
        chunks.pop();
    }
    let last = chunks.len().saturating_sub(1);
    let mut out: Vec<Bytes> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let sep = if i == last { "" } else { " " };
            Bytes::from(format!("data: {}{sep}\n\n", c.join(" ")))
        })
        .collect();
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

pub(crate) async fn stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Reply {
    let ask = ask(&app, &headers, body)?;
    let events = events(&app, &answer(&ask.prompt, &ask.model));
    let body =
        futures_util::stream::unfold((events.into_iter(), true), |(mut it, first)| async move {
            let next = it.next()?;
            if !first {
                tokio::time::sleep(CHUNK_DELAY).await;
            }
            Some((Ok::<_, Infallible>(next), (it, false)))
        });
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

pub(crate) async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Reply {
    let user = admin(&app, &headers)?;
    let (remaining, reset_at) = app.store.rate.peek(&user);
    Ok(app.json(
        StatusCode::OK,
        Doc::Obj(vec![
            ("available", Doc::Bool(true)),
            ("model", Doc::str(DEFAULT_MODEL)),
            ("remaining_requests", Doc::Int(i64::from(remaining))),
            ("reset_at", app.style.timestamp(reset_at)),
        ]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_model_is_deterministic() {
        let a = answer("what is rust", "fake-gpt-1");
        assert_eq!(a, answer("what is rust", "fake-gpt-1"));
        assert_ne!(a, answer("what is rust", "fake-gpt-2"));
        assert_ne!(a, answer("what is go", "fake-gpt-1"));
        assert!(a.contains("\"what is rust\""));
    }
}
