//! The demo's traffic: a realistic, deterministic mix of auth and AI calls made by a few
//! users, sent through the proxy like a real client would. Sequential on purpose: the
//! reference services keep per-user state (rate limits, search results), and a fixed order
//! keeps the monolith's and the extracted services' states in step, as mirrored traffic does.
//!
//! Every divergence in the reference catalogue has its trigger here: admins and non-admins on
//! the AI routes, a case variant of an admin name, users without a display name, too-long
//! display names, missing users, cookie-only authentication, repeated logins for latency
//! statistics, enough AI queries to run into the rate limit, and a repeated identical query
//! (what volatility is learned from when no secondary runs).

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

/// How much traffic to send.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// Rounds of the per-round request mix (each round ≈ 30 requests).
    pub rounds: usize,
    pub timeout: Duration,
    /// Then this concurrent phase, when it has clients (`cutover demo --clients N`).
    pub concurrent: super::concurrent::ConcurrentOptions,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            rounds: 12,
            timeout: Duration::from_secs(30),
            concurrent: super::concurrent::ConcurrentOptions {
                clients: 0,
                ..Default::default()
            },
        }
    }
}

/// What the client saw.
#[derive(Debug, Clone, Default)]
pub struct WorkloadStats {
    pub requests: u64,
    /// Requests that got no HTTP answer at all (the proxy must never cause these).
    pub transport_errors: u64,
    /// First few transport errors, for the message.
    pub errors: Vec<String>,
}

/// Rounds in which the admin also streams (streams are long; later rounds only query, so
/// running into the rate limit shows on the query route).
const ADMIN_STREAM_ROUNDS: usize = 3;

/// Longest wait for shadows to finish before the next request goes out anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

const PASSWORD: &str = "correct horse battery staple";

struct User {
    name: &'static str,
    token: Option<String>,
    id: Option<i64>,
}

/// Wait until the shadow copies of the last request have finished (at most
/// [`SETTLE_LIMIT`]), so the next request reaches every target after it, as it did the
/// primary.
pub(super) async fn settle(in_flight: &(dyn Fn() -> usize + Sync)) {
    let deadline = std::time::Instant::now() + SETTLE_LIMIT;
    while in_flight() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

struct Driver<'a> {
    client: Client,
    base: String,
    stats: WorkloadStats,
    in_flight: &'a (dyn Fn() -> usize + Sync),
}

impl Driver<'_> {
    async fn send(&mut self, req: RequestBuilder) -> Option<(u16, Value)> {
        self.stats.requests += 1;
        let result = req.send().await;
        self.settle().await;
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.bytes().await.unwrap_or_default();
                let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                Some((status, value))
            }
            Err(e) => {
                self.stats.transport_errors += 1;
                if self.stats.errors.len() < 5 {
                    self.stats.errors.push(e.to_string());
                }
                None
            }
        }
    }

    async fn settle(&self) {
        settle(self.in_flight).await;
    }

    fn req(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let b = self
            .client
            .request(method, format!("{}{}", self.base, path));
        match token {
            Some(t) => b.bearer_auth(t),
            None => b,
        }
    }

    async fn register(&mut self, user: &mut User, display_name: Option<&str>) {
        let mut body = json!({"username": user.name, "password": PASSWORD});
        if let Some(d) = display_name {
            body["display_name"] = json!(d);
        }
        let req = self.req(Method::POST, "/auth/register", None).json(&body);
        if let Some((200 | 201, v)) = self.send(req).await {
            user.id = v
                .get("id")
                .and_then(|id| id.as_i64().or_else(|| id.as_str()?.parse().ok()));
        }
    }

    async fn login(&mut self, user: &mut User) {
        let req = self
            .req(Method::POST, "/auth/login", None)
            .form(&[("username", user.name), ("password", PASSWORD)]);
        if let Some((200, v)) = self.send(req).await {
            user.token = v
                .get("access_token")
                .and_then(|t| t.as_str())
                .map(str::to_string);
        }
    }

    async fn ai(&mut self, user: &User, i: usize, stream: bool) {
        let prompt = format!("summarise the migration plan step {i} for the auth and ai services");
        let path = if stream {
            "/ai/query/stream"
        } else {
            "/ai/query"
        };
        let req = self
            .req(Method::POST, path, user.token.as_deref())
            .json(&json!({"prompt": prompt}));
        self.send(req).await;
    }

    async fn get(&mut self, path: &str, token: Option<&str>) {
        let req = self.req(Method::GET, path, token);
        self.send(req).await;
    }
}

/// Send the workload to `base` (the proxy's URL). `in_flight` reports the proxy's shadow
/// requests still running: each request waits for the previous one's copies to finish, so
/// state-changing requests reach the monolith and the extracted services in the same order.
/// Returns what the client saw.
pub async fn run(
    base: &str,
    options: &WorkloadOptions,
    in_flight: &(dyn Fn() -> usize + Sync),
) -> WorkloadStats {
    let client = match Client::builder().timeout(options.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return WorkloadStats {
                requests: 0,
                transport_errors: 1,
                errors: vec![format!("cannot build an HTTP client: {e}")],
            };
        }
    };
    let mut d = Driver {
        client,
        base: base.trim_end_matches('/').to_string(),
        stats: WorkloadStats::default(),
        in_flight,
    };
    let user = |name| User {
        name,
        token: None,
        id: None,
    };
    let (mut admin, mut admin_case, mut carol, mut alice, mut bob, mut guest, mut eve) = (
        user("admina"),
        user("AdminA"),
        user("carol"),
        user("alice"),
        user("bob"),
        user("guest2"),
        user("eve"),
    );

    // Registration: carol before alice (search order), bob without a display name.
    d.register(&mut admin, Some("Admin A")).await;
    d.register(&mut admin_case, Some("Admin Case")).await;
    d.register(&mut carol, Some("Carol")).await;
    d.register(&mut alice, Some("Alice")).await;
    d.register(&mut bob, None).await;
    d.register(&mut guest, Some("Guest Two")).await;
    // eve only ever sends invalid profile updates and is never read back (no `a` in her
    // name: search results stay unaffected), so a validation bug stays a local effect.
    d.register(&mut eve, Some("Eve")).await;
    // Duplicate, malformed and incomplete registrations.
    let req = d
        .req(Method::POST, "/auth/register", None)
        .json(&json!({"username": "alice", "password": PASSWORD}));
    d.send(req).await;
    let req = d
        .req(Method::POST, "/auth/register", None)
        .header("content-type", "application/json")
        .body("{\"username\": \"broken\",");
    d.send(req).await;
    let req = d
        .req(Method::POST, "/auth/register", None)
        .json(&json!({"username": "nopassword"}));
    d.send(req).await;

    for u in [
        &mut admin,
        &mut admin_case,
        &mut carol,
        &mut alice,
        &mut bob,
        &mut guest,
        &mut eve,
    ] {
        d.login(u).await;
    }
    let req = d
        .req(Method::POST, "/auth/login", None)
        .form(&[("username", "alice"), ("password", "wrong")]);
    d.send(req).await;

    let long_name = "W".repeat(60);
    for i in 0..options.rounds {
        // Who am I: bearer, cookie only, anonymous, bad token.
        d.get("/auth/me", alice.token.as_deref()).await;
        d.get("/auth/me", bob.token.as_deref()).await;
        if let Some(t) = &bob.token {
            let req = d
                .req(Method::GET, "/auth/me", None)
                .header("cookie", format!("access_token={t}"));
            d.send(req).await;
        }
        d.get("/auth/me", None).await;
        d.get("/auth/me", Some("not-a-jwt")).await;

        // Users: existing (with and without display name), missing; search.
        for u in [&alice, &bob] {
            if let Some(id) = u.id {
                d.get(&format!("/auth/users/{id}"), alice.token.as_deref())
                    .await;
            }
        }
        d.get("/auth/users/999999", alice.token.as_deref()).await;
        d.get("/auth/users/search?q=a", alice.token.as_deref())
            .await;
        d.get("/auth/users/search?q=o", alice.token.as_deref())
            .await;

        // Profile updates: valid, empty, too long, picture only.
        let req = d
            .req(Method::PUT, "/auth/me", alice.token.as_deref())
            .json(&json!({"display_name": format!("Alice {i}")}));
        d.send(req).await;
        let req = d
            .req(Method::PUT, "/auth/me", eve.token.as_deref())
            .json(&json!({}));
        d.send(req).await;
        let req = d
            .req(Method::PUT, "/auth/me", eve.token.as_deref())
            .json(&json!({"display_name": long_name}));
        d.send(req).await;
        let req = d
            .req(Method::PUT, "/auth/me", bob.token.as_deref())
            .json(&json!({"profile_picture_url": format!("https://img.example/bob-{i}.png")}));
        d.send(req).await;

        // A fresh login every round (latency statistics on the login route).
        d.login(&mut alice).await;

        // AI: the admin, the admin's name in another case, an allowlisted second admin,
        // a guest, and a plain user who must get 404.
        d.ai(&admin, i, false).await;
        if i < ADMIN_STREAM_ROUNDS {
            d.ai(&admin, i, true).await;
        }
        d.get("/ai/status", admin.token.as_deref()).await;
        for u in [&admin_case, &carol, &guest, &alice] {
            d.get("/ai/status", u.token.as_deref()).await;
            d.ai(u, i, false).await;
        }
        // carol asks the same question again (a double submit): an identical request, from
        // which the analysis learns what changes on its own without a secondary.
        d.ai(&carol, i, false).await;
        d.ai(&alice, i, true).await;

        // Monolith-only routes (not mirrored).
        d.get("/health", None).await;
        d.get("/channels", alice.token.as_deref()).await;
    }
    d.stats
}
