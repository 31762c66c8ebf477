//! Learned per-target credentials and ids (`[translate]`, issue 12) on real sockets: a
//! primary and a candidate written here with axum, each with its own users, its own tokens
//! (different formats and claim names) and its own id sequence (the candidate's are offset
//! by 1000). Through the proxy: creates and reads compare at 100 % parity with translation
//! (and fail without it), a real difference in one field is still reported, an identity
//! whose login was never mirrored is untranslated — reported, not a mismatch, and no copy
//! reaches the candidate with a foreign token — a token refresh mid-run replaces the pair,
//! and no learned credential reaches the recording or the report files.

#[path = "support/translation_targets.rs"]
mod targets;

use serde_json::{Value, json};
use targets::{Run, serve};

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

/// Sign up `names`, read each account back at `/api/users/{id}`: the read route's parity.
async fn signups_read_back(translate: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, _) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, translate, dir.path()).await;
    for name in ["zed", "yan"] {
        let (status, v) = run
            .call("POST", "/api/signup", None, Some(json!({"username": name})))
            .await;
        assert_eq!(status, 201, "{v}");
        let token = v["token"].as_str().expect("token").to_string();
        let path = format!("/api/users/{}", v["id"].as_u64().expect("id"));
        assert_eq!(run.call("GET", &path, Some(&token), None).await.0, 200);
    }
    let report = run.finish(dir.path()).await;
    assert_eq!(
        route(&report, "POST /api/signup")["parity"],
        1.0,
        "{report:#}"
    );
    route(&report, "GET /api/users/{id}").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_created_on_one_route_and_read_on_another_need_their_collection() {
    // A signup answers with the token and the account id; reads go to /api/users/{id}.
    let reads = signups_read_back(
        "[[translate.routes]]\nmatch = \"/api/signup\"\ncollection = \"users\"\n",
    )
    .await;
    assert_eq!(
        (reads["compared"].as_u64(), reads["parity"].as_f64()),
        (Some(2), Some(1.0)),
        "{reads:#}"
    );
    assert_eq!(reads["translation"]["ids"], 2);
    assert_eq!(reads["translation"]["credential"], 2);
    // Without it the id after `users` is not known to be a signup's: the copy names the
    // primary's id, which the candidate does not have.
    let reads = signups_read_back("").await;
    assert_eq!(reads["mismatched"], 2, "{reads:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_creating_at_once_compare_at_full_parity() {
    // Four clients log in, create and read at once: each store numbers the creates in the
    // order they reach it (the candidate's copies may arrive in another order), on top of
    // its own offset; every login and create is pending for the copies that follow it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (primary, _) = serve(0, "ptok", "user_id", false).await;
    let (candidate, c_side) = serve(1000, "ctok", "id", false).await;
    let mut run = Run::start(&primary, &candidate, "", dir.path()).await;
    let base = format!("http://{}", run.proxy.listen);
    let mut tasks = Vec::new();
    for c in 0..4 {
        let (client, base) = (run.client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let login: Value = client
                .post(format!("{base}/api/login"))
                .json(&json!({"username": format!("client{c}")}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("json");
            let token = login["token"].as_str().expect("token").to_string();
            for i in 0..5 {
                let created: Value = client
                    .post(format!("{base}/api/users"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("c{c}u{i}")}))
                    .send()
                    .await
                    .expect("create")
                    .json()
                    .await
                    .expect("json");
                let id = created["id"].as_u64().expect("id");
                let read = client
                    .get(format!("{base}/api/users/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("read");
                assert_eq!(read.status(), 200);
                let _ = read.bytes().await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    run.sent = 4 * 11;
    let report = run.finish(dir.path()).await;
    for name in ["POST /api/login", "POST /api/users", "GET /api/users/{id}"] {
        let r = route(&report, name);
        assert_eq!(r["parity"], 1.0, "{name}: {r:#}");
    }
    let reads = route(&report, "GET /api/users/{id}");
    assert_eq!(reads["compared"], 20);
    assert_eq!(reads["translation"]["credential"], 20);
    assert!(c_side.foreign.lock().map(|f| f.is_empty()).unwrap_or(false));
}
