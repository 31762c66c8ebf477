//! The reference system's `auth-own-identity` mode, service by service: the Auth service
//! numbers users from 1001, signs its own tokens (claim `uid`, no `sub`) with its own
//! secret, and refuses the monolith's tokens; the AI service keeps accepting the monolith's
//! (clients still hold them while Auth is shadowed) and refuses the Auth service's own.
//! Without the mode, one token works everywhere.

use std::net::SocketAddr;

use cutover::reference::{self, Divergence, Options, ReferenceSystem};
use reqwest::Client;
use serde_json::{Value, json};

async fn start(divergences: Vec<Divergence>) -> ReferenceSystem {
    ReferenceSystem::start(Options {
        divergences,
        bcrypt_cost: 4,
        ..Options::default()
    })
    .await
    .expect("reference system")
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// Register `name` and log in at `addr`: (id, token).
async fn user(c: &Client, addr: SocketAddr, name: &str) -> (i64, String) {
    let r = c
        .post(url(addr, "/auth/register"))
        .json(&json!({"username": name, "password": "pw-123456"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.expect("json");
    let id = v["id"].as_i64().expect("id");
    let r = c
        .post(url(addr, "/auth/login"))
        .form(&[("username", name), ("password", "pw-123456")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    (id, v["access_token"].as_str().expect("token").to_string())
}

async fn status(c: &Client, addr: SocketAddr, path: &str, token: &str) -> u16 {
    c.get(url(addr, path))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("claims")
}

#[tokio::test]
async fn own_identity_has_its_own_ids_secret_and_claims() {
    let sys = start(vec![Divergence::AuthOwnIdentity]).await;
    let c = Client::new();
    let (mono_id, mono_token) = user(&c, sys.monolith, "admina").await;
    let (auth_id, auth_token) = user(&c, sys.auth, "admina").await;
    assert_eq!((mono_id, auth_id), (1, reference::OWN_FIRST_ID));
    let own = claims(&auth_token);
    assert_eq!(own["uid"], json!(1001));
    assert_eq!(own["username"], json!("admina"));
    assert!(own.get("sub").is_none(), "{own}");
    assert_eq!(claims(&mono_token)["sub"], json!("admina"));

    // The monolith's token is foreign to the Auth service, still good at AI (admina is the
    // default admin) ...
    assert_eq!(status(&c, sys.auth, "/auth/me", &mono_token).await, 401);
    assert_eq!(status(&c, sys.ai, "/ai/status", &mono_token).await, 200);
    // ... the Auth service's own token works there only.
    assert_eq!(status(&c, sys.auth, "/auth/me", &auth_token).await, 200);
    assert_eq!(status(&c, sys.ai, "/ai/status", &auth_token).await, 401);
    assert_eq!(status(&c, sys.monolith, "/auth/me", &auth_token).await, 401);
    // Users are found by the service's own ids.
    assert_eq!(
        status(&c, sys.auth, "/auth/users/1001", &auth_token).await,
        200
    );
    assert_eq!(
        status(&c, sys.auth, "/auth/users/1", &auth_token).await,
        404
    );
    sys.shutdown().await;
}

#[tokio::test]
async fn without_the_mode_one_token_works_everywhere() {
    let sys = start(Vec::new()).await;
    let c = Client::new();
    let (mono_id, mono_token) = user(&c, sys.monolith, "admina").await;
    let (auth_id, _) = user(&c, sys.auth, "admina").await;
    assert_eq!((mono_id, auth_id), (1, 1));
    assert_eq!(status(&c, sys.auth, "/auth/me", &mono_token).await, 200);
    assert_eq!(status(&c, sys.ai, "/ai/status", &mono_token).await, 200);
    sys.shutdown().await;
}

#[test]
fn the_mode_is_listed_apart_from_the_bugs() {
    assert!(
        reference::modes()
            .iter()
            .any(|m| m.name == "auth-own-identity")
    );
    assert!(
        !reference::catalogue()
            .iter()
            .any(|m| m.name == "auth-own-identity")
    );
}
