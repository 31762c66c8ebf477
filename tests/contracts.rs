//! Contracts end to end: the shipped contract is the reference system's own `/openapi.json`
//! (regenerated and compared), importing it round-trips to contracts its real traffic
//! passes, a migration bug in the candidate is named as exactly the expected violation, and
//! bad contract input exits 2 naming the file and the location.
//!
//! `UPDATE_CONTRACTS=1 cargo test --test contracts` rewrites `contracts/reference.openapi.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use cutover::contract::{Check, Contracts, ViolationKind, import};
use cutover::reference::{self, Divergence, Options, ReferenceSystem};
use reqwest::{Client, Response};
use serde_json::{Value, json};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/reference.openapi.json")
}

#[test]
fn the_shipped_contract_is_generated_from_the_reference_system() {
    let mut text = serde_json::to_string_pretty(&reference::api::monolith_openapi())
        .unwrap_or_else(|e| panic!("{e}"));
    text.push('\n');
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::write(shipped(), &text).unwrap_or_else(|e| panic!("{e}"));
    }
    let committed = std::fs::read_to_string(shipped()).unwrap_or_default();
    assert!(
        committed == text,
        "contracts/reference.openapi.json differs from the reference system's /openapi.json; \
         run `UPDATE_CONTRACTS=1 cargo test --test contracts` and commit the file"
    );
    let c = Contracts::load(&shipped().with_file_name("")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.len(), 9, "6 auth + 3 AI operations");
}

async fn start(divergences: Vec<Divergence>) -> ReferenceSystem {
    ReferenceSystem::start(Options {
        bcrypt_cost: 4,
        divergences,
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// One answer as the checker sees it.
struct Seen {
    method: &'static str,
    path: String,
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn seen(method: &'static str, path: &str, r: Response) -> Seen {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Seen {
        method,
        path: path.to_string(),
        status,
        content_type,
        body,
    }
}

/// Every mirrored operation, with its success and its error answers, against `addr`.
async fn traffic(addr: SocketAddr, login_at: SocketAddr) -> Vec<Seen> {
    let c = Client::new();
    let mut out = Vec::new();
    let admin = json!({"username": "admina", "password": "correct-horse", "display_name": null});
    for body in [
        admin.clone(),
        json!({"username": "bob", "password": "correct-horse", "display_name": "Bob"}),
        admin,
        json!({"username": "x"}),
    ] {
        let r = c
            .post(url(login_at, "/auth/register"))
            .json(&body)
            .send()
            .await;
        out.push(
            seen(
                "POST",
                "/auth/register",
                r.unwrap_or_else(|e| panic!("{e}")),
            )
            .await,
        );
    }
    let mut tokens = Vec::new();
    for (user, pw) in [
        ("admina", "correct-horse"),
        ("bob", "correct-horse"),
        ("bob", "wrong-pass"),
    ] {
        let r = c
            .post(url(login_at, "/auth/login"))
            .form(&[("username", user), ("password", pw)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let s = seen("POST", "/auth/login", r).await;
        if let Ok(v) = serde_json::from_slice::<Value>(&s.body)
            && let Some(t) = v["access_token"].as_str()
        {
            tokens.push(format!("Bearer {t}"));
        }
        out.push(s);
    }
    assert_eq!(tokens.len(), 2);
    let (admin, bob) = (&tokens[0], &tokens[1]);
    let calls: Vec<(&'static str, &str, Option<&String>, Option<Value>)> = vec![
        ("GET", "/auth/me", Some(admin), None),
        ("GET", "/auth/me", None, None),
        (
            "PUT",
            "/auth/me",
            Some(bob),
            Some(json!({"display_name": "Bobby"})),
        ),
        ("PUT", "/auth/me", Some(bob), Some(json!({}))),
        ("GET", "/auth/users/1", None, None),
        ("GET", "/auth/users/999", None, None),
        ("GET", "/auth/users/abc", None, None),
        ("GET", "/auth/users/search?q=bo", Some(admin), None),
        ("GET", "/auth/users/search", Some(admin), None),
        (
            "POST",
            "/ai/query",
            Some(admin),
            Some(json!({"prompt": "what is rust"})),
        ),
        (
            "POST",
            "/ai/query",
            Some(bob),
            Some(json!({"prompt": "hi"})),
        ),
        (
            "POST",
            "/ai/query",
            Some(admin),
            Some(json!({"prompt": "hi", "model": "nope"})),
        ),
        (
            "POST",
            "/ai/query",
            Some(admin),
            Some(json!({"model": "x"})),
        ),
        (
            "POST",
            "/ai/query/stream",
            Some(admin),
            Some(json!({"prompt": "stream it"})),
        ),
        ("GET", "/ai/status", Some(admin), None),
        ("GET", "/ai/status", None, None),
    ];
    for (method, path, auth, body) in calls {
        let mut rb = match method {
            "GET" => c.get(url(addr, path)),
            "PUT" => c.put(url(addr, path)),
            _ => c.post(url(addr, path)),
        };
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        out.push(seen(method, path, r).await);
    }
    out
}

fn failures(c: &Contracts, answers: &[Seen]) -> Vec<String> {
    let mut bad = Vec::new();
    for s in answers {
        let check = c.check_response(
            s.method,
            &s.path,
            s.status,
            s.content_type.as_deref(),
            &s.body,
        );
        match check {
            Check::Conforms => {}
            other => bad.push(format!("{} {} {}: {other:?}", s.method, s.path, s.status)),
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_the_monoliths_openapi_round_trips_to_contracts_its_traffic_passes() {
    let system = start(Vec::new()).await;
    let doc_url = url(system.monolith, "/openapi.json");
    let text = reqwest::get(&doc_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        reference::api::monolith_openapi(),
        "served = generated"
    );
    let auth_doc: Value = reqwest::get(url(system.auth, "/openapi.json"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(
        auth_doc["paths"].as_object().map(|p| p.len()),
        Some(5),
        "auth: 5 paths, 6 ops"
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let done = import::import(&text, &doc_url, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.operations, 9);
    let contracts = Contracts::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    for (who, addr) in [
        ("monolith", system.monolith),
        ("auth", system.auth),
        ("ai", system.ai),
    ] {
        let answers = traffic_for(who, addr, system.auth).await;
        let bad = failures(&contracts, &answers);
        assert!(bad.is_empty(), "{who}: {bad:#?}");
    }
    system.shutdown().await;
}

/// The monolith serves everything; the extracted services only their own operations (the
/// AI service with a token the auth service issued: one secret).
async fn traffic_for(who: &str, addr: SocketAddr, auth: SocketAddr) -> Vec<Seen> {
    let login_at = if who == "ai" { auth } else { addr };
    let mut all = traffic(addr, login_at).await;
    match who {
        "auth" => all.retain(|s| s.path.starts_with("/auth/")),
        "ai" => all.retain(|s| s.path.starts_with("/ai/")),
        _ => {}
    }
    assert!(all.len() >= 6, "{who}");
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_candidate_answer_gives_exactly_the_expected_violation() {
    let system = start(vec![Divergence::IdAsString, Divergence::NonAdmin403]).await;
    let contracts =
        Contracts::load(&shipped().with_file_name("")).unwrap_or_else(|e| panic!("{e}"));
    let c = Client::new();
    let body = json!({"username": "carol", "password": "correct-horse"});
    let r = c
        .post(url(system.auth, "/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = seen("POST", "/auth/register", r).await;
    let check = contracts.check_response(
        s.method,
        &s.path,
        s.status,
        s.content_type.as_deref(),
        &s.body,
    );
    let v = check.violations();
    assert_eq!(v.len(), 1, "{check:?}");
    assert_eq!(v[0].kind, ViolationKind::Schema);
    assert_eq!(v[0].instance_path, "/id");
    assert!(
        v[0].schema_path.ends_with("/properties/id/type"),
        "{}",
        v[0].schema_path
    );

    // The same registration on the monolith conforms.
    let r = c
        .post(url(system.monolith, "/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = seen("POST", "/auth/register", r).await;
    let check = contracts.check_response(
        s.method,
        &s.path,
        s.status,
        s.content_type.as_deref(),
        &s.body,
    );
    assert_eq!(check, Check::Conforms);
    system.shutdown().await;
}

#[test]
fn a_deliberately_broken_contract_gives_exactly_the_expected_violation() {
    // The shipped contract with `username` declared an integer: every user answer breaks it
    // in exactly one place.
    let mut doc = reference::api::monolith_openapi();
    doc["components"]["schemas"]["User"]["properties"]["username"] = json!({"type": "integer"});
    let c =
        Contracts::from_document(Path::new("broken.json"), &doc).unwrap_or_else(|e| panic!("{e}"));
    let body = br#"{"id":1,"username":"ann","display_name":null,"status":"offline","profile_picture_url":null,"created_at":"2026-11-22T10:49:54.811406"}"#;
    let check = c.check_response("GET", "/auth/users/1", 200, Some("application/json"), body);
    let v = check.violations();
    assert_eq!(v.len(), 1, "{check:?}");
    assert_eq!(v[0].instance_path, "/username");
    assert_eq!(
        v[0].schema_path,
        "broken.json#/components/schemas/User/properties/username/type"
    );
}

fn cutover(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_contract_input_exits_2_naming_file_and_location() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p.display().to_string()
    };
    let out = dir.path().join("out").display().to_string();
    let cases = [
        (
            write("syntax.yaml", "openapi: 3.1.0\npaths:\n  /a:\n    get: [\n"),
            vec!["syntax.yaml:", "YAML syntax error"],
        ),
        (
            write(
                "remote.yaml",
                "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json:\n              schema: {$ref: 'https://example.com/a.json'}\n",
            ),
            vec![
                "remote.yaml: #/paths/~1a/get/responses/200/content/application~1json/schema: remote $ref `https://example.com/a.json`",
            ],
        ),
        (
            write(
                "unresolved.json",
                r##"{"openapi":"3.1.0","paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Nope"}}}}}}}}}"##,
            ),
            vec![
                "unresolved.json: #/paths/~1a/get/responses/200/content/application~1json/schema: unresolvable $ref `#/components/schemas/Nope`",
            ],
        ),
        (
            write(
                "invalid.json",
                r#"{"openapi":"3.1.0","paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"type":"integer","minimum":"zero"}}}}}}}}}"#,
            ),
            vec![
                "invalid.json: #/paths/~1a/get/responses/200/content/application~1json/schema: invalid schema",
            ],
        ),
    ];
    for (file, expected) in cases {
        let (code, _, stderr) = cutover(&["contract", "import", "--from", &file, "--out", &out]);
        assert_eq!(code, 2, "{file}: {stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{file}: expected `{e}` in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // An https URL is refused as such, not reported as unreachable.
    let url = "https://127.0.0.1:9/openapi.json";
    let (code, _, stderr) = cutover(&["contract", "import", "--from", url, "--out", &out]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("fetching over https is not supported"),
        "{stderr}"
    );
    // A recursive schema is fine.
    let tree = write(
        "tree.yaml",
        "openapi: 3.0.3\ninfo: {title: Tree, version: '1'}\npaths:\n  /t:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Node'}\ncomponents:\n  schemas:\n    Node:\n      type: object\n      nullable: true\n      properties:\n        kids: {type: array, items: {$ref: '#/components/schemas/Node'}}\n",
    );
    let (code, stdout, stderr) = cutover(&["contract", "import", "--from", &tree, "--out", &out]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("imported 1 operations"), "{stdout}");
    assert!(dir.path().join("out/tree.openapi.json").exists());
    let (code, stdout, _) = cutover(&["contract", "check", &out]);
    assert_eq!(code, 0);
    assert!(stdout.contains("GET /t"), "{stdout}");
}

#[test]
fn proxy_and_report_refuse_broken_contracts_with_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let contracts = dir.path().join("contracts");
    std::fs::create_dir_all(&contracts).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        contracts.join("api.yaml"),
        "openapi: 3.1.0\npaths:\n  /a:\n    get:\n      responses: {'200': {description: x\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("cutover.toml");
    std::fs::write(
        &config,
        "[proxy]\nlisten = \"127.0.0.1:0\"\nadmin_enabled = false\n[targets]\n\
         p = { url = \"http://127.0.0.1:9\", role = \"primary\" }\n\
         [contracts]\ndir = \"contracts\"\nfail_on = \"any\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg = config.display().to_string();
    let (code, _, stderr) = cutover(&["proxy", "--config", &cfg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("api.yaml:") && stderr.contains("YAML syntax error"),
        "{stderr}"
    );

    // An unknown key in [contracts] is a config error naming file:line.
    std::fs::write(
        &config,
        "[targets]\np = { url = \"http://127.0.0.1:9\", role = \"primary\" }\n\
         [contracts]\ndir = \"contracts\"\nstrict = true\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, _, stderr) = cutover(&["proxy", "--config", &cfg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cutover.toml:5:") && stderr.contains("strict"),
        "{stderr}"
    );
}
