//! End-to-end tests of the embedded reference system: real servers on 127.0.0.1:0, real
//! HTTP. Covers every endpoint on every service, cross-service tokens, the admin gate, SSE,
//! rate limits, bad input, start-up errors, the CLI, and — table-driven over the catalogue —
//! the exact observable effect of every divergence (and parity without it).

#[path = "support/reference_diff.rs"]
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use cutover::reference::{
    self, Divergence, Options, ReferenceError, ReferenceSystem, catalogue, parse_divergences,
};
use reqwest::Client;
use serde_json::{Value, json};
use support::{EffectKey, Pair, Seen, Side, fetch, url};

fn opts() -> Options {
    Options {
        bcrypt_cost: 4,
        ..Options::default()
    }
}

async fn start(o: Options) -> ReferenceSystem {
    ReferenceSystem::start(o)
        .await
        .expect("reference system starts")
}

async fn register(c: &Client, addr: SocketAddr, username: &str, display: Option<&str>) -> Seen {
    let mut body = json!({"username": username, "password": "correct-horse"});
    if let Some(d) = display {
        body["display_name"] = json!(d);
    }
    fetch(c.post(url(addr, "/auth/register")).json(&body)).await
}

async fn login(c: &Client, addr: SocketAddr, username: &str) -> Seen {
    fetch(
        c.post(url(addr, "/auth/login"))
            .form(&[("username", username), ("password", "correct-horse")]),
    )
    .await
}

/// A token issued by `addr`'s login for a freshly registered `username`.
async fn token(c: &Client, addr: SocketAddr, username: &str) -> String {
    register(c, addr, username, None).await;
    let seen = login(c, addr, username).await;
    assert_eq!(seen.status, 200, "{}", seen.raw);
    seen.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn assert_validation(seen: &Seen, loc: &[&str], kind: &str) {
    assert_eq!(seen.status, 422, "{}", seen.raw);
    let items = seen.detail().as_array().expect("detail list");
    let want: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
    assert!(
        items.iter().any(|i| i["type"] == kind
            && i["loc"].as_array().is_some_and(|l| l.starts_with(&want))
            && i["msg"].is_string()),
        "no {kind} at {loc:?} in {}",
        seen.raw
    );
}

fn assert_detail(seen: &Seen, status: u16, detail: &str) {
    assert_eq!(seen.status, status, "{}", seen.raw);
    assert_eq!(seen.detail(), detail, "{}", seen.raw);
    assert!(
        seen.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
}

// ---------------------------------------------------------------------------------------
// Endpoints

/// The auth endpoints' happy and error paths, on one service.
async fn check_auth(c: &Client, a: SocketAddr) {
    let reg = register(c, a, "alice", Some("Alice")).await;
    assert_eq!(reg.status, 201, "{}", reg.raw);
    let u = reg.json();
    assert_eq!(u["id"], 1);
    assert_eq!(u["username"], "alice");
    assert_eq!(u["display_name"], "Alice");
    assert_eq!(u["status"], "offline");
    assert_eq!(u["profile_picture_url"], Value::Null);
    assert!(u["created_at"].is_string());
    let bob = register(c, a, "bob", None).await;
    assert_eq!(bob.json()["display_name"], Value::Null);
    assert_detail(
        &register(c, a, "alice", None).await,
        400,
        "Username already registered",
    );
    assert_detail(
        &register(c, a, "carl", Some(&"x".repeat(51))).await,
        400,
        "Display name must be at most 50 characters",
    );
    let short = fetch(
        c.post(url(a, "/auth/register"))
            .json(&json!({"username": "ab", "password": "short"})),
    )
    .await;
    assert_validation(&short, &["body", "username"], "string_too_short");
    assert_validation(&short, &["body", "password"], "string_too_short");

    // login
    let ok = login(c, a, "alice").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["token_type"], "bearer");
    let t = ok.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let cookie = ok.header("set-cookie").expect("set-cookie");
    assert!(
        cookie.starts_with(&format!("access_token={t};")),
        "{cookie}"
    );
    for part in ["HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let t2 = login(c, a, "alice").await.json()["access_token"].clone();
    assert_ne!(json!(t), t2, "tokens differ per issue");
    let bad = fetch(
        c.post(url(a, "/auth/login"))
            .form(&[("username", "alice"), ("password", "wrong-password")]),
    )
    .await;
    assert_detail(&bad, 401, "Incorrect username or password");
    assert_eq!(bad.header("www-authenticate"), Some("Bearer"));
    assert_detail(
        &fetch(
            c.post(url(a, "/auth/login"))
                .form(&[("username", "nobody"), ("password", "x")]),
        )
        .await,
        401,
        "Incorrect username or password",
    );
    let missing = fetch(c.post(url(a, "/auth/login")).form(&[("username", "alice")])).await;
    assert_validation(&missing, &["body", "password"], "missing");
    let as_json = fetch(
        c.post(url(a, "/auth/login"))
            .json(&json!({"username": "alice", "password": "correct-horse"})),
    )
    .await;
    assert_validation(&as_json, &["body", "username"], "missing");

    // me
    let me = fetch(
        c.get(url(a, "/auth/me"))
            .header("authorization", bearer(&t)),
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "alice");
    assert_eq!(me.json()["status"], "online");
    let by_cookie = fetch(
        c.get(url(a, "/auth/me"))
            .header("cookie", format!("theme=dark; access_token={t}")),
    )
    .await;
    assert_eq!(by_cookie.json()["username"], "alice", "{}", by_cookie.raw);
    let none = fetch(c.get(url(a, "/auth/me"))).await;
    assert_detail(&none, 401, "Not authenticated");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_detail(
        &fetch(
            c.get(url(a, "/auth/me"))
                .header("authorization", "Bearer not.a.jwt"),
        )
        .await,
        401,
        "Could not validate credentials",
    );
    let foreign = reference::token::issue("another-secret", "alice").expect("token");
    assert_detail(
        &fetch(
            c.get(url(a, "/auth/me"))
                .header("authorization", bearer(&foreign)),
        )
        .await,
        401,
        "Could not validate credentials",
    );
    let expired = reference::token::issue_at(
        reference::DEFAULT_SECRET,
        "alice",
        chrono::Utc::now().timestamp() - 3600,
    )
    .expect("token");
    assert_detail(
        &fetch(
            c.get(url(a, "/auth/me"))
                .header("authorization", bearer(&expired)),
        )
        .await,
        401,
        "Could not validate credentials",
    );
    let ghost = reference::token::issue(reference::DEFAULT_SECRET, "ghost").expect("token");
    assert_detail(
        &fetch(
            c.get(url(a, "/auth/me"))
                .header("authorization", bearer(&ghost)),
        )
        .await,
        401,
        "Could not validate credentials",
    );

    // users/{id}
    let one = fetch(c.get(url(a, "/auth/users/2"))).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["username"], "bob");
    assert_detail(
        &fetch(c.get(url(a, "/auth/users/999"))).await,
        404,
        "User not found",
    );
    assert_validation(
        &fetch(c.get(url(a, "/auth/users/abc"))).await,
        &["path", "id"],
        "int_parsing",
    );

    // search
    let s = fetch(
        c.get(url(a, "/auth/users/search?q=O"))
            .header("authorization", bearer(&t)),
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.raw);
    let names: Vec<&str> = s
        .json()
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["bob"]);
    let s = fetch(
        c.get(url(a, "/auth/users/search?q=ALI"))
            .header("authorization", bearer(&t)),
    )
    .await;
    assert_eq!(s.json().as_array().map(Vec::len), Some(1));
    assert_validation(
        &fetch(
            c.get(url(a, "/auth/users/search"))
                .header("authorization", bearer(&t)),
        )
        .await,
        &["query", "q"],
        "missing",
    );
    assert_validation(
        &fetch(
            c.get(url(a, "/auth/users/search?q="))
                .header("authorization", bearer(&t)),
        )
        .await,
        &["query", "q"],
        "string_too_short",
    );
    assert_detail(
        &fetch(c.get(url(a, "/auth/users/search?q=a"))).await,
        401,
        "Not authenticated",
    );

    // PUT /auth/me
    let put = |body: Value| {
        c.put(url(a, "/auth/me"))
            .header("authorization", bearer(&t))
            .json(&body)
    };
    let upd = fetch(put(
        json!({"display_name": "Alice L.", "profile_picture_url": "https://img.example/a.png"}),
    ))
    .await;
    assert_eq!(upd.status, 200, "{}", upd.raw);
    assert_eq!(upd.json()["display_name"], "Alice L.");
    assert_eq!(
        upd.json()["profile_picture_url"],
        "https://img.example/a.png"
    );
    assert_detail(&fetch(put(json!({}))).await, 400, "No fields to update");
    assert_detail(
        &fetch(put(json!({"display_name": "  "}))).await,
        400,
        "Display name cannot be empty",
    );
    assert_detail(
        &fetch(put(json!({"display_name": "y".repeat(51)}))).await,
        400,
        "Display name must be at most 50 characters",
    );
    assert_eq!(
        fetch(put(json!({"display_name": "y".repeat(50)})))
            .await
            .status,
        200
    );
    let bt = login(c, a, "bob").await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let taken = fetch(
        c.put(url(a, "/auth/me"))
            .header("authorization", bearer(&bt))
            .json(&json!({"display_name": "Y".repeat(50)})),
    )
    .await;
    assert_detail(&taken, 400, "Display name already taken");
    assert_validation(
        &fetch(put(json!({"display_name": 5}))).await,
        &["body", "display_name"],
        "string_type",
    );
    assert_detail(
        &fetch(
            c.put(url(a, "/auth/me"))
                .json(&json!({"display_name": "z"})),
        )
        .await,
        401,
        "Not authenticated",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_endpoints_on_monolith_and_auth_service() {
    let sys = start(opts()).await;
    let c = Client::new();
    check_auth(&c, sys.monolith).await;
    check_auth(&c, sys.auth).await;
    // The AI service has no auth routes.
    assert_detail(&register(&c, sys.ai, "alice", None).await, 404, "Not Found");
    sys.shutdown().await;
}

/// The AI endpoints' happy and error paths, on one service (allowlist `admina; Root`).
async fn check_ai(c: &Client, a: SocketAddr, admin: &str, root: &str, user: &str) {
    for t in [admin, root] {
        let st = fetch(
            c.get(url(a, "/ai/status"))
                .header("authorization", bearer(t)),
        )
        .await;
        assert_eq!(st.status, 200, "{}", st.raw);
        assert_eq!(st.json()["available"], true);
        assert_eq!(st.json()["model"], "fake-gpt-1");
        assert_eq!(st.json()["remaining_requests"], 5);
        assert!(
            chrono::DateTime::parse_from_rfc3339(st.json()["reset_at"].as_str().expect("reset_at"))
                .is_ok()
        );
    }
    let ask = |t: &str, body: Value| {
        c.post(url(a, "/ai/query"))
            .header("authorization", bearer(t))
            .json(&body)
    };
    let q1 = fetch(ask(admin, json!({"prompt": "how do lifetimes work"}))).await;
    assert_eq!(q1.status, 200, "{}", q1.raw);
    let v = q1.json();
    assert_eq!(
        v["answer"],
        reference_answer("how do lifetimes work", "fake-gpt-1")
    );
    assert_eq!(v["model"], "fake-gpt-1");
    assert_eq!(v["tokens"]["input"], 4);
    assert_eq!(
        v["tokens"]["output"],
        v["answer"]
            .as_str()
            .map(|s| s.split_whitespace().count())
            .unwrap_or(0)
    );
    assert!(
        v["latency_ms"]
            .as_i64()
            .is_some_and(|l| (5..10_000).contains(&l))
    );
    assert_eq!(v["remaining"], 4);
    let q2 = fetch(ask(
        admin,
        json!({"prompt": "how do lifetimes work", "model": "fake-gpt-2"}),
    ))
    .await;
    assert_ne!(q2.json()["answer"], v["answer"]);
    assert_eq!(q2.json()["remaining"], 3);
    assert_detail(
        &fetch(ask(admin, json!({"prompt": "x", "model": "gpt-9"}))).await,
        400,
        "Model 'gpt-9' is not available",
    );
    assert_validation(
        &fetch(ask(admin, json!({"model": "fake-gpt-1"}))).await,
        &["body", "prompt"],
        "missing",
    );
    assert_validation(
        &fetch(ask(admin, json!({"prompt": ""}))).await,
        &["body", "prompt"],
        "string_too_short",
    );
    // non-admins and anonymous callers
    for route in ["/ai/query", "/ai/query/stream"] {
        let r = fetch(
            c.post(url(a, route))
                .header("authorization", bearer(user))
                .json(&json!({"prompt": "hi"})),
        )
        .await;
        assert_detail(&r, 404, "Not Found");
        assert_detail(
            &fetch(c.post(url(a, route)).json(&json!({"prompt": "hi"}))).await,
            401,
            "Not authenticated",
        );
    }
    assert_detail(
        &fetch(
            c.get(url(a, "/ai/status"))
                .header("authorization", bearer(user)),
        )
        .await,
        404,
        "Not Found",
    );
    let st = fetch(
        c.get(url(a, "/ai/status"))
            .header("authorization", bearer(admin)),
    )
    .await;
    assert_eq!(
        st.json()["remaining_requests"],
        3,
        "status counts nothing, queries do"
    );
    // stream
    let s = fetch(
        c.post(url(a, "/ai/query/stream"))
            .header("authorization", bearer(admin))
            .json(&json!({"prompt": "explain borrow checking to me"})),
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(
        s.header("content-type")
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let expected = reference_answer("explain borrow checking to me", "fake-gpt-1");
    let events = sse_events(&s.raw);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(
        events.len(),
        expected.split_whitespace().count() + 1,
        "one word per event"
    );
    assert_eq!(events[..events.len() - 1].concat(), expected);
    // rate limit: 5 per window, 3 used by queries, 1 by the stream
    assert_eq!(
        fetch(ask(root, json!({"prompt": "own window"})))
            .await
            .status,
        200,
        "limits are per user"
    );
    assert_eq!(
        fetch(ask(admin, json!({"prompt": "fourth"}))).await.json()["remaining"],
        1
    );
    assert_eq!(
        fetch(ask(admin, json!({"prompt": "last one"})))
            .await
            .json()["remaining"],
        0
    );
    assert_detail(
        &fetch(ask(admin, json!({"prompt": "one too many"}))).await,
        429,
        "Rate limit exceeded",
    );
    assert_detail(
        &fetch(
            c.post(url(a, "/ai/query/stream"))
                .header("authorization", bearer(admin))
                .json(&json!({"prompt": "x"})),
        )
        .await,
        429,
        "Rate limit exceeded",
    );
    let st = fetch(
        c.get(url(a, "/ai/status"))
            .header("authorization", bearer(admin)),
    )
    .await;
    assert_eq!(st.json()["remaining_requests"], 0);
}

fn reference_answer(prompt: &str, model: &str) -> String {
    reference::fake_answer(prompt, model)
}

/// The `data:` payloads of an event stream, in order (framing checked strictly).
fn sse_events(raw: &str) -> Vec<String> {
    assert!(
        raw.ends_with("\n\n"),
        "stream ends with a blank line: {raw:?}"
    );
    raw.split_terminator("\n\n")
        .map(|ev| {
            ev.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("event without `data: `: {ev:?}"))
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_endpoints_on_monolith_and_ai_service_with_tokens_from_auth_service() {
    let sys = start(Options {
        admin_allowlist: Some("admina; Root".into()),
        ai_rate_limit: 5,
        ..opts()
    })
    .await;
    let c = Client::new();
    // Tokens issued by auth-service, for users the AI services never saw.
    let admin_m = token(&c, sys.auth, "ADMINA").await; // case-insensitive allowlist
    let root = token(&c, sys.auth, "root").await;
    let user = token(&c, sys.auth, "mallory").await;
    check_ai(&c, sys.monolith, &admin_m, &root, &user).await;
    // Separate stores: the AI service starts with fresh windows for the same tokens.
    check_ai(&c, sys.ai, &admin_m, &root, &user).await;
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_work_across_all_three_services() {
    let sys = start(opts()).await;
    let c = Client::new();
    // As behind a mirroring proxy: the user exists in both auth stores.
    register(&c, sys.monolith, "admina", None).await;
    let from_auth = token(&c, sys.auth, "admina").await;
    let from_monolith = login(&c, sys.monolith, "admina").await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    for t in [&from_auth, &from_monolith] {
        for base in [sys.monolith, sys.auth] {
            let me = fetch(
                c.get(url(base, "/auth/me"))
                    .header("authorization", bearer(t)),
            )
            .await;
            assert_eq!(me.json()["username"], "admina", "{}", me.raw);
        }
        for base in [sys.monolith, sys.ai] {
            let st = fetch(
                c.get(url(base, "/ai/status"))
                    .header("authorization", bearer(t)),
            )
            .await;
            assert_eq!(st.status, 200, "{}", st.raw);
        }
    }
    // A user registered on auth-service only is unknown to the monolith's auth routes.
    let only_auth = token(&c, sys.auth, "newbie").await;
    let me = fetch(
        c.get(url(sys.monolith, "/auth/me"))
            .header("authorization", bearer(&only_auth)),
    )
    .await;
    assert_detail(&me, 401, "Could not validate credentials");
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_joins_general_and_channels_work() {
    let sys = start(opts()).await;
    let c = Client::new();
    let m = sys.monolith;
    assert_detail(
        &fetch(c.get(url(m, "/channels"))).await,
        401,
        "Not authenticated",
    );
    let t = token(&c, m, "alice").await;
    token(&c, m, "bob").await;
    let auth = |rb: reqwest::RequestBuilder| rb.header("authorization", bearer(&t));
    let list = fetch(auth(c.get(url(m, "/channels")))).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()[0]["name"], "general");
    assert_eq!(list.json()[0]["member_count"], 2);
    let msgs = fetch(auth(c.get(url(m, "/channels/1/messages")))).await;
    let joined: Vec<(&str, &str)> = msgs
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or(""),
                m["content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        joined,
        [
            ("join", "alice joined #general"),
            ("join", "bob joined #general")
        ]
    );
    // create a channel, post, read back
    let ch = fetch(auth(c.post(url(m, "/channels"))).json(&json!({"name": "random"}))).await;
    assert_eq!(ch.status, 201, "{}", ch.raw);
    assert_eq!(ch.json()["id"], 2);
    assert_eq!(ch.json()["member_count"], 1);
    assert_detail(
        &fetch(auth(c.post(url(m, "/channels"))).json(&json!({"name": "Random"}))).await,
        400,
        "Channel already exists",
    );
    let post =
        fetch(auth(c.post(url(m, "/channels/2/messages"))).json(&json!({"content": "hello"})))
            .await;
    assert_eq!(post.status, 201, "{}", post.raw);
    assert_eq!(post.json()["username"], "alice");
    assert_eq!(post.json()["kind"], "message");
    let read = fetch(auth(c.get(url(m, "/channels/2/messages")))).await;
    assert_eq!(read.json().as_array().map(Vec::len), Some(1));
    assert_eq!(read.json()[0]["content"], "hello");
    assert_detail(
        &fetch(auth(c.get(url(m, "/channels/9/messages")))).await,
        404,
        "Channel not found",
    );
    assert_detail(
        &fetch(auth(c.post(url(m, "/channels/9/messages"))).json(&json!({"content": "x"}))).await,
        404,
        "Channel not found",
    );
    assert_validation(
        &fetch(auth(c.post(url(m, "/channels/2/messages"))).json(&json!({"content": ""}))).await,
        &["body", "content"],
        "string_too_short",
    );
    assert_validation(
        &fetch(auth(c.get(url(m, "/channels/x/messages")))).await,
        &["path", "id"],
        "int_parsing",
    );
    // never on the extracted services; auth-service registration joins nothing
    for base in [sys.auth, sys.ai] {
        assert_detail(
            &fetch(auth(c.get(url(base, "/channels")))).await,
            404,
            "Not Found",
        );
    }
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_unknown_routes_and_bad_input_are_fastapi_shaped() {
    let sys = start(opts()).await;
    let c = Client::new();
    for (base, name) in [
        (sys.monolith, "monolith"),
        (sys.auth, "auth-service"),
        (sys.ai, "ai-service"),
    ] {
        let h = fetch(c.get(url(base, "/health"))).await;
        assert_eq!(h.status, 200);
        assert_eq!(h.json()["status"], "ok");
        assert_eq!(h.json()["service"], name);
        assert_detail(&fetch(c.get(url(base, "/nope"))).await, 404, "Not Found");
        assert_detail(
            &fetch(c.delete(url(base, "/health"))).await,
            405,
            "Method Not Allowed",
        );
    }
    let admin = token(&c, sys.auth, "admina").await;
    let json_routes = [
        (sys.monolith, "/auth/register"),
        (sys.auth, "/auth/register"),
        (sys.monolith, "/ai/query"),
        (sys.ai, "/ai/query"),
        (sys.ai, "/ai/query/stream"),
    ];
    for (base, path) in json_routes {
        let post = || {
            c.post(url(base, path))
                .header("authorization", bearer(&admin))
        };
        let malformed = fetch(
            post()
                .header("content-type", "application/json")
                .body("{\"username\": "),
        )
        .await;
        assert_validation(&malformed, &["body"], "json_invalid");
        let wrong_type = fetch(post().header("content-type", "text/plain").body("hello")).await;
        assert_validation(&wrong_type, &["body"], "model_attributes_type");
        let no_body = fetch(post()).await;
        assert_validation(&no_body, &["body"], "model_attributes_type");
        let array = fetch(post().json(&json!([1, 2]))).await;
        assert_validation(&array, &["body"], "model_attributes_type");
        let wrong_field_type =
            fetch(post().json(&json!({"username": 1, "password": ["x"], "prompt": 3}))).await;
        assert_validation(&wrong_field_type, &["body"], "string_type");
        let huge = fetch(post().json(&json!({"prompt": "x".repeat(70 * 1024)}))).await;
        assert_detail(&huge, 413, "Request body too large");
    }
    let huge_form = fetch(
        c.post(url(sys.auth, "/auth/login"))
            .form(&[("username", "a".repeat(70 * 1024))]),
    )
    .await;
    assert_detail(&huge_form, 413, "Request body too large");
    for id in ["-9223372036854775808", "0", "-1"] {
        let r = fetch(c.get(url(sys.auth, &format!("/auth/users/{id}")))).await;
        assert_detail(&r, 404, "User not found");
    }
    let overflow = fetch(c.get(url(sys.monolith, "/auth/users/99999999999999999999"))).await;
    assert_validation(&overflow, &["path", "id"], "int_parsing");
    let bad_query = fetch(
        c.get(url(sys.auth, "/auth/users/search?q=%ZZ"))
            .header("authorization", bearer(&admin)),
    )
    .await;
    assert!(bad_query.status < 500, "{}", bad_query.raw);
    let garbage_auth = fetch(
        c.get(url(sys.ai, "/ai/status"))
            .header("authorization", "Basic Zm9vOmJhcg=="),
    )
    .await;
    assert_detail(&garbage_auth, 401, "Not authenticated");
    let bad_bearer = fetch(
        c.get(url(sys.ai, "/ai/status"))
            .header("authorization", "Bearer ☃".as_bytes()),
    )
    .await;
    assert!(bad_bearer.status == 401, "{}", bad_bearer.raw);
    sys.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_noise_is_present_on_every_exchange() {
    let sys = start(Options {
        secondary_port: Some(0),
        ..opts()
    })
    .await;
    let c = Client::new();
    let secondary = sys.secondary.expect("secondary started");
    let a = register(&c, sys.monolith, "alice", None).await;
    let b = register(&c, sys.auth, "alice", None).await;
    let s = register(&c, secondary, "alice", None).await;
    assert_eq!(s.json()["id"], 1, "the secondary has its own store");
    // formats: `Z` in the monolith, `+00:00` in the extracted services; both instants parse
    let ma = a.json()["created_at"].as_str().expect("created_at");
    let mb = b.json()["created_at"].as_str().expect("created_at");
    assert!(
        ma.ends_with('Z') && ma.len() == "2026-11-21T10:00:00.123456Z".len(),
        "{ma}"
    );
    assert!(mb.ends_with("+00:00"), "{mb}");
    let (ta, tb) = (
        chrono::DateTime::parse_from_rfc3339(ma).expect("ts"),
        chrono::DateTime::parse_from_rfc3339(mb).expect("ts"),
    );
    assert!((ta - tb).num_seconds().abs() < 60);
    // key order differs, meaning does not
    assert!(a.raw.starts_with("{\"id\""), "{}", a.raw);
    assert!(b.raw.starts_with("{\"created_at\""), "{}", b.raw);
    let (mut x, mut y) = (a.json().clone(), b.json().clone());
    support::strip_noise(&mut x);
    support::strip_noise(&mut y);
    assert_eq!(x, y);
    // request ids, date and server headers on every answer, request ids random
    let ids: BTreeSet<String> = [&a, &b, &s]
        .iter()
        .map(|r| {
            assert!(r.header("date").is_some() && r.header("server") == Some("uvicorn"));
            r.header("x-request-id").expect("x-request-id").to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3);
    // latency_ms jitters; tokens differ per issue
    let t = token(&c, sys.auth, "admina").await;
    let mut latencies = BTreeSet::new();
    for _ in 0..6 {
        let q = fetch(
            c.post(url(sys.ai, "/ai/query"))
                .header("authorization", bearer(&t))
                .json(&json!({"prompt": "same"})),
        )
        .await;
        assert!(q.raw.contains("\n  "), "the AI service pretty-prints");
        latencies.insert(q.json()["latency_ms"].as_i64().expect("latency"));
    }
    assert!(latencies.len() > 1, "latency_ms must vary: {latencies:?}");
    sys.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Parity and the divergence catalogue

/// The common auth scenario: register, login, me, user by id, search, update.
async fn user_routes(p: &mut Pair, display: bool) {
    let body = if display {
        json!({"username": "alice", "password": "correct-horse", "display_name": "Alice"})
    } else {
        json!({"username": "alice", "password": "correct-horse"})
    };
    p.step("POST /auth/register", |c, s| {
        c.post(s.url("/auth/register")).json(&body)
    })
    .await;
    let tokens = p.step("POST /auth/login", login_req("alice")).await;
    p.take_tokens(&tokens);
    p.step("GET /auth/me", |c, s| {
        c.get(s.url("/auth/me")).header("authorization", s.bearer())
    })
    .await;
    p.step("GET /auth/users/{id}", |c, s| c.get(s.url("/auth/users/1")))
        .await;
    p.step("GET /auth/users/search", |c, s| {
        c.get(s.url("/auth/users/search?q=ali"))
            .header("authorization", s.bearer())
    })
    .await;
    p.step("PUT /auth/me", |c, s| {
        c.put(s.url("/auth/me"))
            .header("authorization", s.bearer())
            .json(&json!({"profile_picture_url": "https://img.example/alice.png"}))
    })
    .await;
}

fn register_req(name: &'static str) -> impl Fn(&Client, &Side) -> reqwest::RequestBuilder {
    move |c, s| {
        c.post(s.url("/auth/register"))
            .json(&json!({"username": name, "password": "correct-horse"}))
    }
}

fn login_req(name: &'static str) -> impl Fn(&Client, &Side) -> reqwest::RequestBuilder {
    move |c, s| {
        c.post(s.url("/auth/login"))
            .form(&[("username", name), ("password", "correct-horse")])
    }
}

async fn register_and_login(p: &mut Pair, name: &'static str) {
    p.step("POST /auth/register", register_req(name)).await;
    let tokens = p.step("POST /auth/login", login_req(name)).await;
    p.take_tokens(&tokens);
}

async fn ai_calls(p: &mut Pair, stream: bool) {
    p.step("GET /ai/status", |c, s| {
        c.get(s.url("/ai/status"))
            .header("authorization", s.bearer())
    })
    .await;
    p.step("POST /ai/query", |c, s| {
        c.post(s.url("/ai/query"))
            .header("authorization", s.bearer())
            .json(&json!({"prompt": "what is a monolith"}))
    })
    .await;
    if stream {
        p.step("POST /ai/query/stream", |c, s| {
            c.post(s.url("/ai/query/stream"))
                .header("authorization", s.bearer())
                .json(&json!({"prompt": "tell me about rust ownership rules"}))
        })
        .await;
    }
}

/// Options a catalogue entry's trigger needs (on top of the test defaults).
fn options_for(name: &str) -> Options {
    match name {
        "allowlist-comma-split" => Options {
            admin_allowlist: Some("admina;carol".into()),
            ..opts()
        },
        "rate-limit-not-enforced" => Options {
            ai_rate_limit: 2,
            ..opts()
        },
        _ => opts(),
    }
}

/// Run the trigger of catalogue entry `name` (switched `on` or not) against monolith and
/// candidate; `None` when the entry has no scenario here (a test failure).
async fn trigger(name: &str, on: bool, sys: &ReferenceSystem) -> Option<BTreeSet<EffectKey>> {
    let info = catalogue().iter().find(|i| i.name == name)?;
    let candidate = match info.service {
        reference::Service::Auth => sys.auth,
        reference::Service::Ai => sys.ai,
    };
    let mut p = Pair::new(sys.monolith, candidate);
    let ai_token = |user: &'static str| {
        let c = p.client.clone();
        let auth = sys.auth;
        async move { token(&c, auth, user).await }
    };
    match name {
        "id-as-string" | "extra-field-is-active" => user_routes(&mut p, true).await,
        "display-name-omitted-when-null" => user_routes(&mut p, false).await,
        "error-text-user-not-found" => {
            p.step("GET /auth/users/{id}", |c, s| {
                c.get(s.url("/auth/users/999"))
            })
            .await;
        }
        "display-name-limit-64" => {
            register_and_login(&mut p, "alice").await;
            p.step("PUT /auth/me", |c, s| {
                c.put(s.url("/auth/me"))
                    .header("authorization", s.bearer())
                    .json(&json!({"display_name": "d".repeat(60)}))
            })
            .await;
        }
        "search-order-by-username" => {
            p.step("POST /auth/register", register_req("carol")).await;
            register_and_login(&mut p, "alice").await;
            p.step("GET /auth/users/search", |c, s| {
                c.get(s.url("/auth/users/search?q=a"))
                    .header("authorization", s.bearer())
            })
            .await;
        }
        "token-type-capitalised" | "missing-set-cookie" | "latency-200ms" => {
            register_and_login(&mut p, "alice").await
        }
        "error-500-10pct" => {
            p.step("POST /auth/register", register_req("alice")).await;
            for _ in 0..9 {
                p.step("GET /auth/users/{id}", |c, s| c.get(s.url("/auth/users/1")))
                    .await;
            }
        }
        "duplicate-register-409" => {
            p.step("POST /auth/register", register_req("alice")).await;
            p.step("POST /auth/register", register_req("alice")).await;
        }
        "me-ignores-cookie" => {
            register_and_login(&mut p, "alice").await;
            p.step("GET /auth/me", |c, s| {
                c.get(s.url("/auth/me")).header(
                    "cookie",
                    format!("access_token={}", s.token.as_deref().unwrap_or("")),
                )
            })
            .await;
        }
        "non-admin-403" => {
            let t = ai_token("bob").await;
            p.use_token(&t);
            ai_calls(&mut p, true).await;
        }
        "allowlist-comma-split" => {
            let t = ai_token("carol").await;
            p.use_token(&t);
            ai_calls(&mut p, false).await;
        }
        "allowlist-default-guests" => {
            let t = ai_token("guest2").await;
            p.use_token(&t);
            ai_calls(&mut p, false).await;
        }
        "allowlist-case-sensitive" => {
            let t = ai_token("AdminA").await;
            p.use_token(&t);
            ai_calls(&mut p, false).await;
        }
        "sse-chunks-split"
        | "stream-drops-last-chunk"
        | "remaining-off-by-one"
        | "tokens-count-chars"
        | "ai-latency-200ms" => {
            let t = ai_token("admina").await;
            p.use_token(&t);
            ai_calls(&mut p, name.starts_with("s")).await;
            if name == "sse-chunks-split" {
                // The stream's text is the same, only its framing differs.
                let (a, b) = p
                    .step("POST /ai/query/stream", |c, s| {
                        c.post(s.url("/ai/query/stream"))
                            .header("authorization", s.bearer())
                            .json(&json!({"prompt": "one two three"}))
                    })
                    .await;
                let (ea, eb) = (sse_events(&a.raw), sse_events(&b.raw));
                assert_eq!(eb.len() < ea.len(), on, "{ea:?} vs {eb:?}");
                assert_eq!(ea.concat(), eb.concat());
            }
        }
        "ai-errors-5pct" => {
            // A user who is not an admin: 404 nineteen times, then the 500.
            let t = ai_token("bob").await;
            p.use_token(&t);
            for _ in 0..20 {
                p.step("GET /ai/status", |c, s| {
                    c.get(s.url("/ai/status"))
                        .header("authorization", s.bearer())
                })
                .await;
            }
        }
        "rate-limit-not-enforced" => {
            let t = ai_token("admina").await;
            p.use_token(&t);
            for _ in 0..3 {
                p.step("POST /ai/query", |c, s| {
                    c.post(s.url("/ai/query"))
                        .header("authorization", s.bearer())
                        .json(&json!({"prompt": "again"}))
                })
                .await;
            }
        }
        _ => return None,
    }
    Some(p.effects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogue_entry_has_exactly_its_expected_effects() {
    let mut failures = Vec::new();
    for info in catalogue() {
        let expected: BTreeSet<EffectKey> = info
            .expect
            .iter()
            .map(|e| {
                (
                    e.route.to_string(),
                    e.path.to_string(),
                    e.kind.as_str().to_string(),
                )
            })
            .collect();
        for on in [true, false] {
            let sys = start(Options {
                divergences: if on {
                    vec![info.divergence]
                } else {
                    Vec::new()
                },
                ..options_for(info.name)
            })
            .await;
            match trigger(info.name, on, &sys).await {
                None => failures.push(format!("{}: no test scenario", info.name)),
                Some(seen) if on && seen != expected => failures.push(format!(
                    "{}: expected {expected:#?}\n  observed {seen:#?}",
                    info.name
                )),
                Some(seen) if !on && !seen.is_empty() => failures.push(format!(
                    "{} switched off: the service should answer like the monolith, observed {seen:#?}",
                    info.name
                )),
                Some(_) => {}
            }
            sys.shutdown().await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_divergences_every_mirrored_route_is_at_parity() {
    let sys = start(opts()).await;
    let mut p = Pair::new(sys.monolith, sys.auth);
    user_routes(&mut p, true).await;
    p.step("POST /auth/register", register_req("bob")).await;
    p.step("POST /auth/register", register_req("bob")).await;
    p.step("GET /auth/users/search", |c, s| {
        c.get(s.url("/auth/users/search?q=b"))
            .header("authorization", s.bearer())
    })
    .await;
    p.step("GET /auth/users/{id}", |c, s| {
        c.get(s.url("/auth/users/77"))
    })
    .await;
    p.step("GET /auth/me", |c, s| {
        c.get(s.url("/auth/me")).header(
            "cookie",
            format!("access_token={}", s.token.as_deref().unwrap_or("")),
        )
    })
    .await;
    p.step("GET /auth/me", |c, s| c.get(s.url("/auth/me")))
        .await;
    p.step("PUT /auth/me", |c, s| {
        c.put(s.url("/auth/me"))
            .header("authorization", s.bearer())
            .json(&json!({"display_name": "x".repeat(51)}))
    })
    .await;
    p.step("POST /auth/login", |c, s| {
        c.post(s.url("/auth/login"))
            .form(&[("username", "alice"), ("password", "nope-nope")])
    })
    .await;
    assert!(p.effects.is_empty(), "auth: {:#?}", p.effects);
    let mut q = Pair::new(sys.monolith, sys.ai);
    for user in ["admina", "bob"] {
        let t = token(&q.client, sys.auth, user).await;
        q.use_token(&t);
        ai_calls(&mut q, true).await;
    }
    q.step("POST /ai/query", |c, s| {
        c.post(s.url("/ai/query")).json(&json!({"prompt": "anon"}))
    })
    .await;
    assert!(q.effects.is_empty(), "ai: {:#?}", q.effects);
    sys.shutdown().await;
}

#[test]
fn catalogue_is_complete_and_names_parse() {
    let names: Vec<&str> = catalogue().iter().map(|i| i.name).collect();
    assert!(names.len() >= 14);
    let unique: BTreeSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    let all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        parse_divergences(&all).expect("all parse").len(),
        names.len()
    );
    for info in catalogue() {
        assert!(
            !info.description.is_empty() && !info.trigger.is_empty(),
            "{}",
            info.name
        );
        for e in info.expect {
            let (method, path) = e.route.split_once(' ').expect("METHOD /path");
            assert!(
                ["GET", "POST", "PUT"].contains(&method) && path.starts_with("/auth/")
                    || path.starts_with("/ai/"),
                "{}",
                e.route
            );
            assert!(
                ["status", "body", "body:data", "body:events", "latency", ""].contains(&e.path)
                    || e.path.starts_with("header:")
                    || e.path.starts_with('/'),
                "{}: {}",
                info.name,
                e.path
            );
        }
    }
    let kinds: BTreeSet<&str> = catalogue()
        .iter()
        .flat_map(|i| i.expect.iter().map(|e| e.kind.as_str()))
        .collect();
    for kind in [
        "status",
        "header",
        "value_changed",
        "type_changed",
        "missing",
        "extra",
        "order_only",
        "text",
        "latency",
    ] {
        assert!(kinds.contains(kind), "no divergence shows {kind}");
    }
    match parse_divergences(&["id-as-string".into(), "made-up".into()]) {
        Err(e @ ReferenceError::UnknownDivergence { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("made-up") && names.iter().all(|n| msg.contains(n)),
                "{msg}"
            );
        }
        other => panic!("expected UnknownDivergence, got {other:?}"),
    }
    assert_eq!(Divergence::NonAdmin403.to_string(), "non-admin-403");
}

// ---------------------------------------------------------------------------------------
// Start-up and the CLI

#[tokio::test]
async fn a_port_in_use_is_a_typed_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    match ReferenceSystem::start(Options {
        auth_port: port,
        ..opts()
    })
    .await
    {
        Err(ReferenceError::PortInUse { service, port: p }) => {
            assert_eq!((service, p), ("auth", port));
        }
        other => panic!("expected PortInUse, got {other:?}"),
    }
    // and nothing stays bound: the ports it did take are free again
    let sys = start(opts()).await;
    let m = sys.monolith;
    sys.shutdown().await;
    assert!(
        std::net::TcpListener::bind(m).is_ok(),
        "monolith port released after shutdown"
    );
}

fn cutover() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
}

/// Run to completion, killing the child after `limit` (a hang is a failure).
fn run_bounded(mut cmd: std::process::Command, limit: Duration) -> (Option<i32>, String, String) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cutover");
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cutover did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().map(|mut s| s.read_to_string(&mut out));
    child.stderr.take().map(|mut s| s.read_to_string(&mut err));
    (status, out, err)
}

#[test]
fn cli_lists_every_divergence() {
    let mut cmd = cutover();
    cmd.args(["reference", "--list-divergences"]);
    let (status, out, _) = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(status, Some(0));
    let listed: Vec<_> = catalogue().iter().chain(reference::modes()).collect();
    assert_eq!(out.lines().count(), listed.len());
    for (line, info) in out.lines().zip(listed) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], info.name);
        assert_eq!(cols[1], info.service.as_str());
        assert!(line.ends_with(info.description), "{line}");
    }
}

#[test]
fn cli_port_in_use_and_unknown_divergence_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let mut cmd = cutover();
    cmd.args([
        "reference",
        "--monolith-port",
        &port,
        "--auth-port",
        "0",
        "--ai-port",
        "0",
    ]);
    let (status, _, err) = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(status, Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(&port) && err.contains("in use"), "{err}");

    let mut cmd = cutover();
    cmd.args([
        "reference",
        "--monolith-port",
        "0",
        "--auth-port",
        "0",
        "--ai-port",
        "0",
        "--diverge",
        "id-as-string,bogus",
    ]);
    let (status, _, err) = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(status, Some(2), "{err}");
    assert!(
        err.contains("bogus") && err.contains("non-admin-403"),
        "{err}"
    );
}

#[test]
fn cli_serves_until_stopped() {
    use std::io::{BufRead, BufReader};
    let mut child = cutover()
        .args([
            "reference",
            "--monolith-port",
            "0",
            "--auth-port",
            "0",
            "--ai-port",
            "0",
            "--bcrypt-cost",
            "4",
            "--diverge",
            "non-admin-403",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cutover");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut urls = Vec::new();
    while urls.len() < 3 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => urls.extend(
                line.split_whitespace()
                    .filter(|w| w.starts_with("http://127.0.0.1:"))
                    .map(String::from),
            ),
            Err(_) => break,
        }
    }
    let result = std::panic::catch_unwind(|| {
        assert_eq!(urls.len(), 3, "three URLs printed: {urls:?}");
        for u in &urls {
            let body = blocking_get(&format!("{u}/health"));
            assert!(body.contains("\"status\""), "{u}: {body}");
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Minimal blocking GET over a raw socket (reqwest's blocking client is not enabled).
fn blocking_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}
