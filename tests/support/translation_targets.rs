//! Test targets for `tests/translation.rs`: a primary and a candidate (axum, on
//! 127.0.0.1:0), each with its own users, tokens and id sequence, and a proxy run that
//! records and writes the report files.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cutover::config::Config;
use cutover::exchange::Exchange;
use cutover::pipeline::{Aggregate, Analysis, Pipeline, PipelineOptions, Sink, analyzer_for};
use cutover::record::{Header, RecordingSink};
use cutover::redact::Redaction;
use cutover::report::{Report, ReportContext, RunInfo};
use serde_json::{Value, json};

/// One side's store: users by id, tokens → user id.
#[derive(Default)]
struct Store {
    accounts: HashMap<String, u64>,
    users: HashMap<u64, Value>,
    tokens: HashMap<String, u64>,
    next: u64,
    nonce: u64,
}

pub struct Side {
    /// Ids start after this (the candidate numbers from 1000).
    offset: u64,
    /// `ptok` or `ctok`: every token this side issues starts with it.
    prefix: &'static str,
    /// The JSON claim naming the user inside a token (`user_id` / `id`).
    claim: &'static str,
    /// Answer one field differently for users named `diverge`.
    diverge: bool,
    store: Mutex<Store>,
    /// Authorization values this side was sent that it never issued.
    pub foreign: Mutex<Vec<String>>,
    /// Every token issued (to look for in the files later).
    pub issued: Mutex<Vec<String>>,
}

pub type Shared = Arc<Side>;

impl Side {
    fn token(&self, s: &mut Store, user: u64) -> String {
        s.nonce += 1;
        let claims = json!({ self.claim: user, "n": s.nonce }).to_string();
        let hex: String = claims.bytes().map(|b| format!("{b:02x}")).collect();
        let t = format!(
            "{}{hex}{:016x}",
            self.prefix,
            s.nonce.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        s.tokens.insert(t.clone(), user);
        if let Ok(mut v) = self.issued.lock() {
            v.push(t.clone());
        }
        t
    }

    /// The caller's account id, or 401 (and a foreign token noted).
    fn caller(&self, h: &HeaderMap) -> Result<u64, Box<Response>> {
        let v = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let token = v.strip_prefix("Bearer ").unwrap_or(&v).to_string();
        let store = self
            .store
            .lock()
            .map_err(|_| Box::new(StatusCode::INTERNAL_SERVER_ERROR.into_response()))?;
        match store.tokens.get(&token) {
            Some(u) => Ok(*u),
            None => {
                if !token.is_empty() && !token.starts_with(self.prefix) {
                    if let Ok(mut f) = self.foreign.lock() {
                        f.push(token);
                    }
                }
                let denied = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"detail": "bad token"})),
                );
                Err(Box::new(denied.into_response()))
            }
        }
    }
}

async fn login(State(side): State<Shared>, Json(body): Json<Value>) -> Response {
    let name = body["username"].as_str().unwrap_or("").to_string();
    if side.offset > 0 && name.starts_with("ghost") {
        // The candidate logs ghosts in without a credential it would recognise.
        return Json(json!({"ok": true})).into_response();
    }
    let Ok(mut s) = side.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    s.next += 1;
    let fresh = side.offset + s.next;
    let account = *s.accounts.entry(name).or_insert(fresh);
    let token = side.token(&mut s, account);
    Json(json!({"token": token, "token_type": "bearer"})).into_response()
}

/// A new account that is also a user (`GET /api/users/{id}` reads it), with its token.
async fn signup(State(side): State<Shared>, Json(body): Json<Value>) -> Response {
    let name = body["username"].as_str().unwrap_or("").to_string();
    let Ok(mut s) = side.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    s.next += 1;
    let id = side.offset + s.next;
    s.accounts.insert(name.clone(), id);
    let user = json!({"id": id, "name": name, "email": format!("{name}@example.com")});
    s.users.insert(id, user);
    let token = side.token(&mut s, id);
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "token": token, "token_type": "bearer"})),
    )
        .into_response()
}

async fn refresh(State(side): State<Shared>, headers: HeaderMap) -> Response {
    let user = match side.caller(&headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Ok(mut s) = side.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    s.tokens.retain(|_, u| *u != user);
    let token = side.token(&mut s, user);
    Json(json!({"token": token, "token_type": "bearer"})).into_response()
}

async fn create(
    State(side): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = side.caller(&headers) {
        return *r;
    }
    let Ok(mut s) = side.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    s.next += 1;
    let id = side.offset + s.next;
    let name = body["name"].as_str().unwrap_or("").to_string();
    let email = if side.diverge && name == "diverge" {
        "DIVERGE@EXAMPLE.COM".to_string()
    } else {
        format!("{name}@example.com")
    };
    let user = json!({"id": id, "name": name, "email": email});
    s.users.insert(id, user.clone());
    (StatusCode::CREATED, Json(user)).into_response()
}

async fn read(
    State(side): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<u64>,
) -> Response {
    if let Err(r) = side.caller(&headers) {
        return *r;
    }
    let Ok(s) = side.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match s.users.get(&id) {
        Some(u) => Json(u.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "no such user"})),
        )
            .into_response(),
    }
}

pub async fn serve(
    offset: u64,
    prefix: &'static str,
    claim: &'static str,
    diverge: bool,
) -> (String, Shared) {
    let side = Arc::new(Side {
        offset,
        prefix,
        claim,
        diverge,
        store: Mutex::new(Store::default()),
        foreign: Mutex::new(Vec::new()),
        issued: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/api/login", post(login))
        .route("/api/refresh", post(refresh))
        .route("/api/signup", post(signup))
        .route("/api/users", post(create))
        .route("/api/users/{id}", get(read))
        .with_state(Arc::clone(&side));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), side)
}

struct Count(Arc<AtomicU64>);

impl Sink for Count {
    fn accept(&mut self, _: &Exchange, _: &Analysis) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Run {
    pub sent: u64,
    pub proxy: cutover::proxy::RunningProxy,
    pipeline: Pipeline,
    config: Arc<Config>,
    count: Arc<AtomicU64>,
    pub client: reqwest::Client,
    recording: std::path::PathBuf,
}

impl Run {
    pub async fn start(primary: &str, candidate: &str, translate: &str, dir: &Path) -> Run {
        let toml = format!(
            r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 20000

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
mirror_writes = true

[translate]
{translate}
"#
        );
        let config = Arc::new(Config::parse(&toml, "test.toml").expect("valid config"));
        let recording = dir.join("recording.jsonl");
        let sink = RecordingSink::open(&recording, &config.file.recording)
            .expect("sink")
            .with_redaction(Redaction::for_config(&config.file))
            .with_header(Header::for_config("translation-test", &config));
        let count = Arc::new(AtomicU64::new(0));
        let sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink), Box::new(Count(Arc::clone(&count)))];
        let (pipeline, handle) = Pipeline::start(
            analyzer_for(&config),
            Aggregate::for_config(&config),
            sinks,
            PipelineOptions::default(),
        )
        .expect("pipeline");
        let proxy = cutover::proxy::start(
            Arc::clone(&config),
            handle,
            pipeline.aggregate(),
            pipeline.stats(),
        )
        .await
        .expect("proxy starts");
        Run {
            proxy,
            pipeline,
            config,
            count,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            recording,
            sent: 0,
        }
    }

    /// One request through the proxy: status and JSON answer (the primary's).
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("http://{}{path}", self.proxy.listen));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("proxy answers");
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        self.sent += 1;
        (status, v)
    }

    pub async fn login(&mut self, user: &str) -> String {
        let (status, v) = self
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": user, "password": "pw"})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["token"].as_str().expect("a token").to_string()
    }

    pub async fn metrics(&self) -> String {
        let admin = self.proxy.admin.expect("admin");
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Wait for every exchange, stop, and write the report files into `dir`.
    pub async fn finish(self, dir: &Path) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count.load(Ordering::Relaxed) < self.sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.proxy.shutdown().await;
        let aggregate = self.pipeline.finish().await;
        let report = Report::build(
            &aggregate,
            &ReportContext {
                config: &self.config,
                run: RunInfo {
                    id: "translation-test".into(),
                    generated_at: chrono::Utc::now(),
                    source: "proxy".into(),
                    ..Default::default()
                },
            },
        );
        cutover::report::write_all(&report, dir).expect("report files");
        let _ = &self.recording;
        serde_json::to_value(&report).expect("json")
    }
}
