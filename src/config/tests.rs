use super::*;

const GOOD: &str = r#"
[proxy]
listen = "127.0.0.1:8080"

[targets]
monolith  = { url = "http://127.0.0.1:8000", role = "primary" }
monolith2 = { url = "http://127.0.0.1:8003", role = "secondary" }
auth      = { url = "http://127.0.0.1:8001" }

[[routes]]
match = "/auth/**"
candidate = "auth"
sample = 0.5

[compare]
ignore = ["/access_token"]
"#;

fn invalid(text: &str) -> Located {
    match Config::parse(text, "cutover.toml") {
        Err(ConfigError::Invalid(l)) => l,
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

#[test]
fn parses_roles_routes_and_defaults() {
    let cfg = Config::parse(GOOD, "cutover.toml").expect("valid");
    assert_eq!(cfg.primary().0, "monolith");
    assert_eq!(cfg.secondary().map(|s| s.0), Some("monolith2"));
    assert_eq!(cfg.file.proxy.max_body_bytes, 1024 * 1024);
    assert_eq!(cfg.file.proxy.max_in_flight_shadows, 1024);
    assert_eq!(cfg.file.proxy.shadow_timeout_ms, 5_000);
    assert_eq!(cfg.file.triggers.p95_ms, 300.0);
    let route = cfg.routes.lookup("/auth/users/17").expect("route");
    assert_eq!(route.candidate.as_deref(), Some("auth"));
    assert_eq!(route.sample, 0.5);
    assert_eq!(route.rules.ignore, vec!["/access_token".to_string()]);
    assert!(route.mirrors_method("GET"));
    assert!(!route.mirrors_method("POST"));
    assert!(cfg.routes.lookup("/channels").is_none());
    assert!(cfg.routes.lookup("/authx/me").is_none());
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = "[proxy]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\n";
    let err = invalid(text);
    assert_eq!(err.path, "cutover.toml");
    assert_eq!(err.line, 3);
    assert!(
        err.message.contains("unknown field `lisen`"),
        "{}",
        err.message
    );
}

#[test]
fn syntax_error_has_a_position() {
    let err = invalid("[targets\nm = 1\n");
    assert_eq!(err.line, 1);
    assert!(err.to_string().starts_with("cutover.toml:1:"));
}

#[test]
fn unknown_candidate_is_reported_at_its_line() {
    let text = "[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\n[[routes]]\nmatch = \"/auth/**\"\ncandidate = \"nope\"\n";
    let err = invalid(text);
    assert_eq!(err.line, 5);
    assert_eq!(err.key.as_deref(), Some("routes[0].candidate"));
    assert!(err.message.contains("no target named `nope`"));
}

#[test]
fn bad_url_sample_and_primary_count_are_errors() {
    let err = invalid("[targets]\nm = { url = \"ftp://a:1\", role = \"primary\" }\n");
    assert_eq!(err.key.as_deref(), Some("targets.m.url"));
    assert_eq!(err.line, 2);
    let err = invalid("[targets]\nm = { url = \"http://a:1\" }\n");
    assert!(err.message.contains("primary"));
    let err = invalid(
        "[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\nc = { url = \"http://b:1\" }\n[[routes]]\nmatch = \"/x/**\"\ncandidate = \"c\"\nsample = 1.5\n",
    );
    assert_eq!(err.key.as_deref(), Some("routes[0].sample"));
    assert_eq!(err.line, 7);
}

#[test]
fn reference_config_is_valid() {
    let cfg = Config::parse(REFERENCE, "reference.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.routes.len(), 2);
    assert_eq!(
        cfg.routes
            .lookup("/ai/query")
            .and_then(|r| r.candidate.as_deref()),
        Some("ai")
    );
    assert!(
        cfg.routes
            .lookup("/ai/query")
            .is_some_and(|r| r.mirrors_method("POST"))
    );
}

#[test]
fn shipped_cutover_toml_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cutover.toml");
    let cfg = Config::load(&path).expect("shipped cutover.toml parses");
    assert_eq!(cfg.primary().0, "monolith");
}

#[test]
fn bad_compare_rule_is_located() {
    let text = "[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\n[compare]\nignore = [\"/ok\", \"no-leading-slash\"]\n";
    let err = invalid(text);
    assert_eq!(err.line, 4, "{err}");
    assert_eq!(err.key.as_deref(), Some("compare"));
    assert!(err.message.contains("no-leading-slash"), "{}", err.message);
}

#[test]
fn body_budgets_and_retention_must_be_positive_and_are_located() {
    let base = "[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\n";
    let cfg = Config::parse(base, "cutover.toml").expect("valid");
    assert_eq!(cfg.file.proxy.max_shadow_memory_bytes, 256 * 1024 * 1024);
    assert_eq!(cfg.file.recording.max_total_bytes, 1024 * 1024 * 1024);
    assert_eq!(cfg.file.recording.bodies, RecordBodies::All);
    for (text, line, key) in [
        (
            "[proxy]\nmax_shadow_memory_bytes = 0\n",
            2,
            "proxy.max_shadow_memory_bytes",
        ),
        (
            "[recording]\n\n  max_total_bytes = 0\n",
            3,
            "recording.max_total_bytes",
        ),
        ("[recording]\nmax_files = 0\n", 2, "recording.max_files"),
    ] {
        let err = invalid(&format!("{text}{base}"));
        assert_eq!((err.line, err.key.as_deref()), (line, Some(key)), "{err}");
    }
    let err = invalid(&format!("[recording]\nbodies = \"some\"\n{base}"));
    assert_eq!(err.line, 2, "{err}");
    let ok = Config::parse(
        &format!("[recording]\nbodies = \"mismatches\"\nmax_files = 3\n{base}"),
        "cutover.toml",
    )
    .expect("valid");
    assert_eq!(ok.file.recording.bodies, RecordBodies::Mismatches);
    assert_eq!(ok.file.recording.max_files, Some(3));
}

/// A configuration for the reference system's three services.
const REFERENCE: &str = r#"
[targets]
monolith = { url = "http://127.0.0.1:8000", role = "primary" }
auth = { url = "http://127.0.0.1:8001" }
ai = { url = "http://127.0.0.1:8002" }

[[routes]]
match = "/auth/**"
candidate = "auth"
mirror_writes = true

[[routes]]
match = "/ai/**"
candidate = "ai"
mirror_writes = true
"#;
