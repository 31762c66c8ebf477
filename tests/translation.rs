//! Learned per-target credentials and ids (`[translate]`, issue 12) on real sockets: a
//! primary and a candidate written here with axum, each with its own users, its own tokens
//! (different formats and claim names) and its own id sequence (the candidate's are offset
//! by 1000). Through the proxy: creates and reads compare at 100 % parity with translation
//! (and fail without it), a real difference in one field is still reported, an identity
//! whose login was never mirrored is untranslated — reported, not a mismatch, and no copy
//! reaches the candidate with a foreign token — a token refresh mid-run replaces the pair,
//! and no learned credential reaches the recording or the report files.

#[path = "support/upstream.rs"]
mod support;

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

struct Side {
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
    foreign: Mutex<Vec<String>>,
    /// Every token issued (to look for in the files later).
    issued: Mutex<Vec<String>>,
}

type Shared = Arc<Side>;

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

async fn serve(
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

struct Run {
    proxy: cutover::proxy::RunningProxy,
    pipeline: Pipeline,
    config: Arc<Config>,
    count: Arc<AtomicU64>,
    client: reqwest::Client,
    recording: std::path::PathBuf,
    sent: u64,
}

impl Run {
    async fn start(primary: &str, candidate: &str, translate: &str, dir: &Path) -> Run {
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
    async fn call(
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

    async fn login(&mut self, user: &str) -> String {
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

    async fn metrics(&self) -> String {
        let admin = self.proxy.admin.expect("admin");
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Wait for every exchange, stop, and write the report files into `dir`.
    async fn finish(self, dir: &Path) -> Value {
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

fn route<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["routes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["route"] == name))
        .unwrap_or_else(|| panic!("no route {name} in {report:#}"))
}

/// Log in, create users, read each back: the traffic of (a).
async fn creates_and_reads(run: &mut Run, names: &[&str]) {
    let token = run.login("alice").await;
    for name in names {
        let (status, created) = run
            .call(
                "POST",
                "/api/users",
                Some(&token),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_u64().expect("an id");
        let (status, read) = run
            .call("GET", &format!("/api/users/{id}"), Some(&token), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(read["id"], id, "the client sees the primary's ids");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_tokens_of_their_own_compare_at_full_parity_and_real_differences_stay() {
    // With translation: 100 % parity on every route.
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, p_side) = serve(0, "ptok", "user_id", false).await;
    let (candidate, c_side) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, "", dir.path()).await;
    creates_and_reads(&mut run, &["ann", "ben", "cat", "dan"]).await;
    let metrics = run.metrics().await;
    let report = run.finish(dir.path()).await;
    for name in ["POST /api/login", "POST /api/users", "GET /api/users/{id}"] {
        let r = route(&report, name);
        assert_eq!(r["parity"], 1.0, "{name}: {r:#}");
        assert_eq!(r["mismatched"], 0, "{name}");
    }
    let reads = route(&report, "GET /api/users/{id}");
    assert_eq!(reads["compared"], 4);
    assert_eq!(reads["translation"]["credential"], 4, "{reads:#}");
    assert_eq!(reads["translation"]["ids"], 4);
    assert_eq!(route(&report, "POST /api/users")["translation"]["ids"], 4);
    assert!(c_side.foreign.lock().map(|f| f.is_empty()).unwrap_or(false));
    assert!(
        metrics.contains("cutover_translated_copies_total{route=\"/api/**\",what=\"ids\"} 4"),
        "{metrics}"
    );
    // Secrets (d): no token either side issued is in the recording or the report files.
    let tokens: Vec<String> = [&p_side, &c_side]
        .iter()
        .flat_map(|s| s.issued.lock().map(|v| v.clone()).unwrap_or_default())
        .collect();
    assert!(tokens.len() >= 2);
    let recording = std::fs::read_to_string(dir.path().join("recording.jsonl")).expect("recording");
    for file in ["report.json", "summary.md", "index.html"] {
        let text = std::fs::read_to_string(dir.path().join(file)).expect("report file");
        assert!(
            text.contains("translated"),
            "{file} says what was translated"
        );
        for t in &tokens {
            assert!(!text.contains(t.as_str()), "{file} holds a token");
            assert!(!text.contains(&t[4..40]), "{file} holds part of a token");
        }
    }
    for t in &tokens {
        assert!(
            !recording.contains(&t[4..40]),
            "the recording holds a token"
        );
        assert!(!metrics.contains(&t[4..40]), "/metrics holds a token");
    }
    // The recording says whose credential was used on which target, redacted.
    let line = recording
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["route"]
                .as_str()
                .is_some_and(|r| r.starts_with("GET /api/users/"))
        })
        .expect("a read in the recording");
    let t = &line["translation"][0];
    assert_eq!(t["target"], "cand");
    assert_eq!(t["identity"], "alice");
    assert!(
        t["credential"]
            .as_str()
            .is_some_and(|c| c.starts_with("[REDACTED")),
        "{t}"
    );
    assert_eq!(
        t["ids"][0]["target"].as_str().map(|s| s.len()),
        Some(4),
        "{t}"
    );

    // A real difference in one field is still reported, with the mapping it involved.
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, _) = serve(1000, "ctok", "id", true).await;
    let mut run = Run::start(&primary, &candidate, "", dir.path()).await;
    creates_and_reads(&mut run, &["ann", "diverge", "cat"]).await;
    let report = run.finish(dir.path()).await;
    let reads = route(&report, "GET /api/users/{id}");
    assert_eq!(
        (reads["matched"].as_u64(), reads["mismatched"].as_u64()),
        (Some(2), Some(1)),
        "{reads:#}"
    );
    let paths: Vec<&str> = reads["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        ["/email"],
        "only the divergent field differs: {reads:#}"
    );
    let involved = &reads["translation"]["involved"][0];
    assert_eq!(involved["path"], "/email");
    assert!(
        involved["mapping"]
            .as_str()
            .is_some_and(|m| m.contains("→ 100")),
        "{involved}"
    );

    // Without translation the same traffic fails: the candidate cannot read the tokens.
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, c_side) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, "enabled = false", dir.path()).await;
    creates_and_reads(&mut run, &["ann", "ben"]).await;
    let report = run.finish(dir.path()).await;
    assert_eq!(route(&report, "GET /api/users/{id}")["mismatched"], 2);
    assert!(
        route(&report, "GET /api/users/{id}")
            .get("translation")
            .is_none()
    );
    assert!(!c_side.foreign.lock().map(|f| f.is_empty()).unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_whose_login_was_never_mirrored_is_untranslated_and_never_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, c_side) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, "", dir.path()).await;
    // alice logs in through the proxy: the candidate is seen issuing its own tokens.
    let alice = run.login("alice").await;
    let (_, created) = run
        .call(
            "POST",
            "/api/users",
            Some(&alice),
            Some(json!({"name": "ann"})),
        )
        .await;
    let id = created["id"].as_u64().expect("id");
    // mallory logged in straight at the primary: cutover never saw it.
    let mallory = reqwest::Client::new()
        .post(format!("{primary}/api/login"))
        .json(&json!({"username": "mallory"}))
        .send()
        .await
        .expect("login")
        .json::<Value>()
        .await
        .expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    for _ in 0..3 {
        let (status, _) = run
            .call("GET", &format!("/api/users/{id}"), Some(&mallory), None)
            .await;
        assert_eq!(status, 200, "the client is served by the primary as always");
    }
    let (status, _) = run
        .call("GET", &format!("/api/users/{id}"), Some(&alice), None)
        .await;
    assert_eq!(status, 200);
    let metrics = run.metrics().await;
    let report = run.finish(dir.path()).await;
    let reads = route(&report, "GET /api/users/{id}");
    assert_eq!(reads["compared"], 1, "alice's read only: {reads:#}");
    assert_eq!(reads["mismatched"], 0);
    assert_eq!(reads["parity"], 1.0);
    assert_eq!(reads["candidate_errors"], 0, "untranslated is not an error");
    assert_eq!(reads["translation"]["untranslated"], 3);
    assert_eq!(
        reads["translation"]["untranslated_reasons"],
        json!([{"reason": "unknown_credential", "count": 3}])
    );
    assert!(
        c_side.foreign.lock().map(|f| f.is_empty()).unwrap_or(false),
        "the candidate never saw the primary's token"
    );
    assert!(
        metrics.contains(
            "cutover_untranslated_copies_total{route=\"/api/**\",reason=\"unknown_credential\"} 3"
        ),
        "{metrics}"
    );
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(
        md.contains("3 untranslated") && md.contains("outside the parity denominator"),
        "{md}"
    );
    let terminal = cutover::report::terminal::render(
        &serde_json::from_value(report.clone()).expect("report"),
        &dir.path().join("index.html"),
    );
    assert!(terminal.contains("3 untranslated"), "{terminal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refreshed_mid_run_replaces_the_pair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, c_side) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, "", dir.path()).await;
    let first = run.login("alice").await;
    let (_, created) = run
        .call(
            "POST",
            "/api/users",
            Some(&first),
            Some(json!({"name": "ann"})),
        )
        .await;
    let id = created["id"].as_u64().expect("id");
    let path = format!("/api/users/{id}");
    assert_eq!(run.call("GET", &path, Some(&first), None).await.0, 200);
    let (status, v) = run
        .call("POST", "/api/refresh", Some(&first), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{v}");
    let second = v["token"].as_str().expect("new token").to_string();
    assert_ne!(first, second);
    for _ in 0..3 {
        assert_eq!(run.call("GET", &path, Some(&second), None).await.0, 200);
    }
    // The old token: refused by the primary, and no longer translated for the candidate.
    assert_eq!(run.call("GET", &path, Some(&first), None).await.0, 401);
    let report = run.finish(dir.path()).await;
    let reads = route(&report, "GET /api/users/{id}");
    assert_eq!(reads["compared"], 4, "{reads:#}");
    assert_eq!(reads["parity"], 1.0);
    assert_eq!(reads["translation"]["credential"], 4);
    assert_eq!(reads["translation"]["untranslated"], 1);
    assert_eq!(route(&report, "POST /api/refresh")["parity"], 1.0);
    assert!(c_side.foreign.lock().map(|f| f.is_empty()).unwrap_or(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_login_answers_and_identities_elsewhere_are_counted_never_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, c_side) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, "enabled = true", dir.path()).await;
    let alice = run.login("alice").await;
    let (_, created) = run
        .call(
            "POST",
            "/api/users",
            Some(&alice),
            Some(json!({"name": "ann"})),
        )
        .await;
    let path = format!("/api/users/{}", created["id"].as_u64().expect("id"));
    // The candidate's answer to ghost's login carries no credential.
    let ghost = run.login("ghost").await;
    // A login naming nobody where cutover looks (the primary still issues a token).
    let (status, v) = run
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"who": {"name": "x"}})),
        )
        .await;
    assert_eq!(status, 200);
    let nameless = v["token"].as_str().expect("token").to_string();
    assert_eq!(run.call("GET", &path, Some(&ghost), None).await.0, 200);
    assert_eq!(run.call("GET", &path, Some(&nameless), None).await.0, 200);
    assert_eq!(run.call("GET", &path, Some(&alice), None).await.0, 200);
    let metrics = run.metrics().await;
    let report = run.finish(dir.path()).await;
    let reads = route(&report, "GET /api/users/{id}");
    assert_eq!(
        (reads["compared"].as_u64(), reads["parity"].as_f64()),
        (Some(1), Some(1.0))
    );
    assert_eq!(
        reads["translation"]["untranslated_reasons"],
        json!([
            {"reason": "no_target_credential", "count": 1},
            {"reason": "unknown_credential", "count": 1}
        ]),
        "{reads:#}"
    );
    for event in ["login_without_target_credential", "login_without_identity"] {
        assert!(
            metrics.contains(&format!(
                "cutover_translation_events_total{{event=\"{event}\"}} 1"
            )),
            "{event}: {metrics}"
        );
    }
    assert!(c_side.foreign.lock().map(|f| f.is_empty()).unwrap_or(false));
}
