//! `[[identities]]` against real services: a login scenario run against the reference
//! system's Auth service in `auth-own-identity` mode obtains that service's own token for
//! the configured identity (accepted there, not by the monolith), a static credential comes
//! from the environment lookup, and a failing login names the step without the password.

use std::sync::Arc;

use cutover::config::Config;
use cutover::identity::configured::{ConfiguredIdentities, EstablishError};
use cutover::identity::credentials::Place;
use cutover::reference::{Divergence, Options, ReferenceSystem};
use cutover::scenario::login::ScenarioLogins;
use serde_json::json;

const PASSWORD: &str = "bot-password-123";

async fn register(addr: std::net::SocketAddr, name: &str) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/auth/register"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 201);
}

fn scenario() -> String {
    format!(
        "{}/scenarios/identities/login.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_scenario_obtains_each_targets_own_credential() {
    let sys = ReferenceSystem::start(Options {
        divergences: vec![Divergence::AuthOwnIdentity],
        bcrypt_cost: 4,
        ..Options::default()
    })
    .await
    .expect("reference");
    register(sys.monolith, "svcbot").await;
    register(sys.auth, "svcbot").await;
    let text = format!(
        r#"
[targets]
monolith = {{ url = "http://{m}", role = "primary" }}
auth = {{ url = "http://{a}" }}
ai = {{ url = "http://{ai}" }}

[[identities]]
label = "svcbot"
[identities.targets.auth]
login = "{s}"
username_env = "BOT_USER"
password_env = "BOT_PASSWORD"
[identities.targets.ai]
header = "x-api-key"
value_env = "BOT_AI_KEY"
"#,
        m = sys.monolith,
        a = sys.auth,
        ai = sys.ai,
        s = scenario()
    );
    let cfg = Config::parse(&text, "cutover.toml").expect("config");
    let runner = ScenarioLogins::for_config(&cfg).expect("targets");
    let env = |n: &str| {
        match n {
            "BOT_USER" => Some("svcbot"),
            "BOT_PASSWORD" => Some(PASSWORD),
            "BOT_AI_KEY" => Some("static-ai-key-1"),
            _ => None,
        }
        .map(str::to_string)
    };
    let ids = ConfiguredIdentities::establish(&cfg.file.identities, &["auth", "ai"], &env, &runner)
        .await
        .expect("established");
    let auth = ids.credential("svcbot", "auth").expect("auth credential");
    assert_eq!(
        auth.place,
        Place::Authorization {
            scheme: "Bearer".into()
        }
    );
    // It is the Auth service's own token: accepted there, refused by the monolith.
    let client = reqwest::Client::new();
    let me = |addr: std::net::SocketAddr| {
        client
            .get(format!("http://{addr}/auth/me"))
            .bearer_auth(&auth.value)
            .send()
    };
    assert_eq!(me(sys.auth).await.expect("me").status().as_u16(), 200);
    assert_eq!(me(sys.monolith).await.expect("me").status().as_u16(), 401);
    let ai = ids.credential("svcbot", "ai").expect("ai credential");
    assert_eq!(
        (&ai.place, ai.value.as_str()),
        (
            &Place::Header {
                name: "x-api-key".into()
            },
            "static-ai-key-1"
        )
    );
    assert!(!format!("{ids:?}").contains(&auth.value));

    // A wrong password: the step is named, the password is not.
    let wrong = |n: &str| {
        match n {
            "BOT_USER" => Some("svcbot"),
            "BOT_PASSWORD" => Some("not-the-password"),
            "BOT_AI_KEY" => Some("static-ai-key-1"),
            _ => None,
        }
        .map(str::to_string)
    };
    let e = ConfiguredIdentities::establish(&cfg.file.identities, &["auth"], &wrong, &runner)
        .await
        .expect_err("refused");
    let text = e.to_string();
    assert!(matches!(e, EstablishError::Login { .. }), "{text}");
    assert!(
        text.contains("step `log in`") && text.contains("401"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
    let _keep = Arc::new(ids);
    sys.shutdown().await;
}
