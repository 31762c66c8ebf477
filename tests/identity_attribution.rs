//! Identity attribution end to end: the reference system with the allowlist divergence
//! that only guest2 runs into, through the proxy and the demo workload; report.json (valid
//! against its schema), summary.md and index.html say "for guest2 only".

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_divergence_one_user_sees_is_attributed_to_that_user() {
    use cutover::demo::{self, DemoOptions, WorkloadOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let divergences =
        cutover::reference::parse_divergences(&["allowlist-default-guests".to_string()])
            .expect("known divergence");
    let outcome = demo::run(DemoOptions {
        divergences,
        workload: WorkloadOptions {
            rounds: 1,
            ..WorkloadOptions::default()
        },
        out: Some(dir.path().to_path_buf()),
        secondary: false,
        ..DemoOptions::default()
    })
    .await
    .expect("demo runs");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report.json"),
    )
    .expect("json");
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_path).expect("schema")).expect("parses");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json breaks the schema: {errors:#?}"
    );
    let mut broken = json.clone();
    broken["routes"][0]["status_matrix"] = serde_json::json!([{
        "primary": "404", "candidate": "200", "count": 1,
        "identities": {"labels": [{"label": "", "count": 1}], "summary": "x"}
    }]);
    assert!(
        !validator.is_valid(&broken),
        "an empty label breaks the schema"
    );
    let route = json["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == "GET /ai/status")
        .expect("GET /ai/status")
        .clone();
    let cell = route["status_matrix"]
        .as_array()
        .expect("status matrix")
        .iter()
        .find(|c| c["primary"] == "404" && c["candidate"] == "200")
        .expect("404 → 200")
        .clone();
    assert_eq!(cell["identities"]["summary"], "for guest2 only", "{cell}");
    assert_eq!(
        cell["identities"]["labels"],
        serde_json::json!([{"label": "guest2", "count": cell["count"]}])
    );
    let status = route["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .find(|d| d["path"] == "status")
        .expect("a status difference")
        .clone();
    assert_eq!(status["identities"]["summary"], "for guest2 only");
    // Routes every user calls are attributed to the users that saw a difference only.
    assert!(outcome.report.routes.iter().all(|r| {
        r.status_matrix
            .iter()
            .filter(|c| c.primary != c.candidate)
            .all(|c| {
                c.identities
                    .as_ref()
                    .is_some_and(|i| i.summary == "for guest2 only")
            })
    }));
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(
        md.contains("status 404 → 200 in") && md.contains("for guest2 only"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("index.html")).expect("index.html");
    assert!(html.contains("for guest2 only"));
    // No credential reaches the report.
    let text = std::fs::read_to_string(dir.path().join("report.json")).expect("report.json");
    assert!(!text.contains("eyJ"), "no JWT in the report");
}
