//! A concurrent workload: several clients at once registering, logging in and writing
//! through the proxy, as real traffic does (`cutover demo --clients N`).
//!
//! Sign-ups run free: every client registers its users back to back, all clients at once,
//! so the registrations reach the monolith and the Auth service in whatever order each
//! happens to take them, and the two stores may number the same users differently (the
//! issue-12 soak: parity falls well below 100 % with no bug switched on). Then the workload
//! settles and runs in lockstep: in each step every client sends one request for one of its
//! own users at the same moment, and the step waits until the proxy's shadow copies have
//! finished. So no client ever overtakes its own shadow copies: every remaining difference
//! comes from how the stores numbered concurrent sign-ups.
//!
//! Names are chosen to stay out of the sequential workload's way: usernames `k<c>x<u>z` and
//! display names `K<c> X<u> Z r<r>` hold neither `a` nor `o` (what it searches for), and
//! each client searches only for its own users' unique names. Owns the request mix; never
//! looks at answers beyond the ids and tokens it needs.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

use super::workload::{WorkloadStats, settle};

/// How much concurrent traffic to send.
#[derive(Debug, Clone)]
pub struct ConcurrentOptions {
    /// Clients sending at once (0 = none).
    pub clients: usize,
    /// Users each client registers and drives.
    pub users_per_client: usize,
    /// Rounds of `GET /auth/me`, `PUT /auth/me`, `GET /auth/users/{id}`, search and
    /// `GET /ai/status` per user.
    pub rounds: usize,
    pub timeout: Duration,
}

impl Default for ConcurrentOptions {
    fn default() -> Self {
        ConcurrentOptions {
            clients: 4,
            users_per_client: 3,
            rounds: 5,
            timeout: Duration::from_secs(30),
        }
    }
}

const PASSWORD: &str = "concurrent clients' password";

/// One user as its client knows it: the id and token the primary gave (all a client sees).
#[derive(Debug, Clone, Default)]
struct Known {
    name: String,
    id: Option<i64>,
    token: Option<String>,
}

/// The username of client `c`'s user `u`.
pub fn username(c: usize, u: usize) -> String {
    format!("k{c}x{u}z")
}

/// Send the concurrent workload to `base` (the proxy's URL); `in_flight` reports the
/// proxy's shadow copies still running (each step waits for them).
pub async fn run(
    base: &str,
    options: &ConcurrentOptions,
    in_flight: &(dyn Fn() -> usize + Sync),
) -> WorkloadStats {
    let mut stats = WorkloadStats::default();
    let mut clients = Vec::with_capacity(options.clients);
    for _ in 0..options.clients {
        match Client::builder().timeout(options.timeout).build() {
            Ok(c) => clients.push(c),
            Err(e) => {
                stats.transport_errors += 1;
                stats
                    .errors
                    .push(format!("cannot build an HTTP client: {e}"));
                return stats;
            }
        }
    }
    let base = base.trim_end_matches('/');
    let url = |path: &str| format!("{base}{path}");
    let mut users: Vec<Vec<Known>> = (0..options.clients)
        .map(|c| {
            (0..options.users_per_client)
                .map(|u| Known {
                    name: username(c, u),
                    ..Known::default()
                })
                .collect()
        })
        .collect();

    // Registrations run free: each client registers its users back to back, all clients at
    // once, as sign-ups arrive in production; then everything settles.
    let registered = join_all(clients.iter().zip(&users).map(|(client, mine)| {
        let url = &url;
        async move {
            let mut out = Vec::with_capacity(mine.len());
            for me in mine {
                let r = client
                    .request(Method::POST, url("/auth/register"))
                    .json(&json!({"username": me.name, "password": PASSWORD}));
                out.push(send(r).await);
            }
            out
        }
    }))
    .await;
    settle(in_flight).await;
    for (mine, answers) in users.iter_mut().zip(registered) {
        for (me, answer) in mine.iter_mut().zip(answers) {
            if let Some((201, v)) = count(answer, &mut stats) {
                me.id = v.get("id").and_then(Value::as_i64);
            }
        }
    }
    for u in 0..options.users_per_client {
        let reqs = clients.iter().zip(&users).map(|(client, mine)| {
            client
                .request(Method::POST, url("/auth/login"))
                .form(&[("username", mine[u].name.as_str()), ("password", PASSWORD)])
        });
        let answers = step(reqs, &mut stats, in_flight).await;
        for (mine, answer) in users.iter_mut().zip(answers) {
            if let Some((200, v)) = answer {
                mine[u].token = v
                    .get("access_token")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
        }
    }
    for r in 0..options.rounds {
        for u in 0..options.users_per_client {
            for kind in 0..5 {
                let reqs = clients
                    .iter()
                    .zip(&users)
                    .enumerate()
                    .map(|(c, (client, mine))| {
                        let me = &mine[u];
                        let b = match kind {
                            0 => client.request(Method::GET, url("/auth/me")),
                            1 => client
                                .request(Method::PUT, url("/auth/me"))
                                .json(&json!({"display_name": format!("K{c} X{u} Z r{r}")})),
                            2 => client.request(
                                Method::GET,
                                url(&format!("/auth/users/{}", me.id.unwrap_or(0))),
                            ),
                            3 => client
                                .request(Method::GET, url("/auth/users/search"))
                                .query(&[("q", me.name.as_str())]),
                            _ => client.request(Method::GET, url("/ai/status")),
                        };
                        match &me.token {
                            Some(t) => b.bearer_auth(t),
                            None => b,
                        }
                    });
                step(reqs, &mut stats, in_flight).await;
            }
        }
    }
    stats
}

/// Send one request per client at once, then wait for the shadow copies. Answers in client
/// order (`None` for a transport error).
async fn step(
    reqs: impl Iterator<Item = RequestBuilder>,
    stats: &mut WorkloadStats,
    in_flight: &(dyn Fn() -> usize + Sync),
) -> Vec<Option<(u16, Value)>> {
    let answers = join_all(reqs.map(send)).await;
    settle(in_flight).await;
    answers.into_iter().map(|a| count(a, stats)).collect()
}

/// Send one request: its status and JSON body (`Null` when not JSON).
async fn send(r: RequestBuilder) -> Result<(u16, Value), String> {
    let resp = r.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Count one answer in `stats`.
fn count(a: Result<(u16, Value), String>, stats: &mut WorkloadStats) -> Option<(u16, Value)> {
    stats.requests += 1;
    a.map_err(|e| {
        stats.transport_errors += 1;
        if stats.errors.len() < 5 {
            stats.errors.push(e);
        }
    })
    .ok()
}
