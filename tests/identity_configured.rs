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

/// One line of output of a spawned `cutover proxy` that starts with `prefix`.
fn wait_for_line(lines: &mut impl std::io::BufRead, prefix: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).expect("stdout") == 0 {
            panic!("proxy exited before printing `{prefix}`: {seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

async fn monolith_token(addr: std::net::SocketAddr, name: &str) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/auth/login"))
        .form(&[("username", name), ("password", PASSWORD)])
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    r["access_token"].as_str().expect("token").to_string()
}

/// The proxy itself establishes `[[identities]]` at start-up (a login scenario against the
/// Auth service, credentials from the environment) and sends a configured identity's copies
/// with the Auth service's own token although its login was never mirrored; an identity
/// without a configured credential stays untranslated and is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_sends_a_configured_identitys_own_credential() {
    use std::io::BufReader;
    use std::process::{Command, Stdio};
    let sys = ReferenceSystem::start(Options {
        divergences: vec![Divergence::AuthOwnIdentity],
        bcrypt_cost: 4,
        ..Options::default()
    })
    .await
    .expect("reference");
    for name in ["svcbot", "stranger"] {
        register(sys.monolith, name).await;
        register(sys.auth, name).await;
    }
    let bot = monolith_token(sys.monolith, "svcbot").await;
    let stranger = monolith_token(sys.monolith, "stranger").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("cutover.toml");
    let text = format!(
        r#"
[proxy]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 10000

[targets]
monolith = {{ url = "http://{m}", role = "primary" }}
auth = {{ url = "http://{a}" }}

[[routes]]
match = "/auth/**"
candidate = "auth"

[translate]
enabled = true

[[identities]]
label = "svcbot"
[identities.targets.auth]
login = "{s}"
username_env = "CFG_TEST_BOT_USER"
password_env = "CFG_TEST_BOT_PASSWORD"
"#,
        m = sys.monolith,
        a = sys.auth,
        s = scenario()
    );
    std::fs::write(&cfg, text).expect("config");
    let rec = dir.path().join("recording.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["proxy", "--config"])
        .arg(&cfg)
        .arg("--record")
        .arg(&rec)
        .env("CFG_TEST_BOT_USER", "svcbot")
        .env("CFG_TEST_BOT_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cutover proxy");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let listen = wait_for_line(&mut lines, "listening http://");
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let client = reqwest::Client::new();
    for token in [&bot, &stranger] {
        let r = client
            .get(format!("http://{listen}/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("me");
        assert_eq!(
            r.status().as_u16(),
            200,
            "the client is served by the primary"
        );
    }
    // Let the copies finish, then stop the proxy cleanly (it flushes the recording).
    let mut lines_seen = Vec::new();
    for _ in 0..200 {
        let text = std::fs::read_to_string(&rec).unwrap_or_default();
        lines_seen = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("request").is_some())
            .collect();
        if lines_seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    if lines_seen.len() < 2 {
        let text = std::fs::read_to_string(&rec).unwrap_or_default();
        lines_seen = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("request").is_some())
            .collect();
    }
    assert_eq!(
        lines_seen.len(),
        2,
        "two exchanges recorded: {lines_seen:#?}"
    );
    let by_label = |label: &str| {
        lines_seen
            .iter()
            .find(|v| v.to_string().contains(label))
            .cloned()
            .unwrap_or_else(|| panic!("no exchange of {label}: {lines_seen:#?}"))
    };
    let bot_ex = by_label("svcbot").to_string();
    let stranger_ex = by_label("stranger").to_string();
    assert!(
        !bot_ex.contains("untranslated") && bot_ex.contains("\"status\":200"),
        "the configured identity's copy was sent with the Auth service's own token: {bot_ex}"
    );
    assert_eq!(
        bot_ex.matches("\"status\":200").count(),
        2,
        "primary and candidate both answered 200: {bot_ex}"
    );
    assert!(
        stranger_ex.contains("untranslated"),
        "an identity without a configured credential is untranslated: {stranger_ex}"
    );
    let recording = std::fs::read_to_string(&rec).expect("recording");
    assert!(!recording.contains(&bot) && !recording.contains(PASSWORD));
    sys.shutdown().await;
}
