//! Every value the config fuzz and the abuse campaign found accepted although wrong
//! (issue #7, defect 5) is refused at its place: file, line, key.

use super::*;

const BASE: &str = r#"[proxy]
listen = "127.0.0.1:8080"
admin = "127.0.0.1:9090"
max_body_bytes = 1048576
max_in_flight_shadows = 1024
max_shadow_connections_per_target = 256
primary_timeout_ms = 30000
shadow_timeout_ms = 5000

[targets]
monolith = { url = "http://127.0.0.1:8000", role = "primary" }
auth = { url = "http://127.0.0.1:8001" }

[recording]
rotate_bytes = 268435456
fsync_interval_ms = 200

[triggers]
p95_ms = 300
p95_increase_pct = 20
error_rate_pct = 1

[redaction]
fields = ["ssn"]
"#;

/// BASE with the line starting `prefix` replaced by `line`.
fn with(prefix: &str, line: &str) -> String {
    assert!(BASE.contains(prefix), "{prefix}");
    BASE.lines()
        .map(|l| if l.starts_with(prefix) { line } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn base_is_valid() {
    let cfg = Config::parse(BASE, "cutover.toml").expect("valid");
    assert_eq!(cfg.file.redaction.fields, vec!["ssn".to_string()]);
}

#[test]
fn each_invalid_value_is_located_with_its_key() {
    // (line prefix, replacement, expected key, words the message must contain)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "max_in_flight_shadows",
            "max_in_flight_shadows = 2305843009213693952",
            "proxy.max_in_flight_shadows",
            "1000000",
        ),
        (
            "max_in_flight_shadows",
            "max_in_flight_shadows = 0",
            "proxy.max_in_flight_shadows",
            "from 1",
        ),
        (
            "max_shadow_connections_per_target",
            "max_shadow_connections_per_target = 0",
            "proxy.max_shadow_connections_per_target",
            "from 1",
        ),
        (
            "max_shadow_connections_per_target",
            "max_shadow_connections_per_target = 2305843009213693952",
            "proxy.max_shadow_connections_per_target",
            "1000000",
        ),
        (
            "max_shadow_connections_per_target",
            "max_shadow_connections_per_target = -3",
            "proxy.max_shadow_connections_per_target",
            "",
        ),
        (
            "max_body_bytes",
            "max_body_bytes = 0",
            "proxy.max_body_bytes",
            "from 1",
        ),
        (
            "max_body_bytes",
            "max_body_bytes = 68719476736",
            "proxy.max_body_bytes",
            "268435456",
        ),
        (
            "primary_timeout_ms",
            "primary_timeout_ms = 0",
            "proxy.primary_timeout_ms",
            "from 1",
        ),
        (
            "shadow_timeout_ms",
            "shadow_timeout_ms = 0",
            "proxy.shadow_timeout_ms",
            "from 1",
        ),
        (
            "monolith",
            r#"monolith = { url = "http://127.0.0.1:99999", role = "primary" }"#,
            "targets.monolith.url",
            "port",
        ),
        (
            "auth",
            r#"auth = { url = "http://127.0.0.1:0" }"#,
            "targets.auth.url",
            "port",
        ),
        (
            "auth",
            r#"auth = { url = "http://127.0.0.1:" }"#,
            "targets.auth.url",
            "port",
        ),
        (
            "auth",
            r#"auth = { url = "http://user:pw@127.0.0.1:8001" }"#,
            "targets.auth.url",
            "header",
        ),
        (
            "auth",
            r#"auth = { url = "http://127.0.0.1:8001", timeout_ms = 0 }"#,
            "targets.auth.timeout_ms",
            "from 1",
        ),
        (
            "rotate_bytes",
            "rotate_bytes = 0",
            "recording.rotate_bytes",
            "1 MiB",
        ),
        (
            "rotate_bytes",
            "rotate_bytes = 1000",
            "recording.rotate_bytes",
            "1 MiB",
        ),
        (
            "fsync_interval_ms",
            "fsync_interval_ms = 0",
            "recording.fsync_interval_ms",
            "from 1",
        ),
        ("p95_ms", "p95_ms = -5", "triggers.p95_ms", "positive"),
        ("p95_ms", "p95_ms = 0", "triggers.p95_ms", "positive"),
        ("p95_ms", "p95_ms = nan", "triggers.p95_ms", "positive"),
        (
            "p95_increase_pct",
            "p95_increase_pct = -1",
            "triggers.p95_increase_pct",
            "0 or more",
        ),
        (
            "error_rate_pct",
            "error_rate_pct = 500",
            "triggers.error_rate_pct",
            "0 to 100",
        ),
        (
            "error_rate_pct",
            "error_rate_pct = -1",
            "triggers.error_rate_pct",
            "0 to 100",
        ),
        (
            "admin",
            r#"admin = "127.0.0.1:8080""#,
            "proxy.admin",
            "share",
        ),
        (
            "listen",
            r#"listen = "127.0.0.1:99999""#,
            "proxy.listen",
            "port",
        ),
        (
            "listen",
            r#"listen = "example.com:80""#,
            "proxy.listen",
            "localhost",
        ),
        ("listen", r#"listen = "8080""#, "proxy.listen", "HOST:PORT"),
        ("fields", r#"fields = ["a*b"]"#, "redaction.fields", "`*`"),
        (
            "max_in_flight_shadows",
            "max_in_flight_shadows = -1",
            "proxy.max_in_flight_shadows",
            "",
        ),
    ];
    for (prefix, line, key, words) in cases {
        let text = with(prefix, line);
        let expected_line = text
            .lines()
            .position(|l| l == *line)
            .map(|i| i + 1)
            .expect("line");
        let err = match Config::parse(&text, "cutover.toml") {
            Err(ConfigError::Invalid(l)) => l,
            other => panic!("{line}: expected an error, got {:?}", other.map(|_| ())),
        };
        assert_eq!(err.key.as_deref(), Some(*key), "{line}: {err}");
        assert_eq!(err.line, expected_line, "{line}: {err}");
        assert!(err.message.contains(words), "{line}: {err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("cutover.toml:{expected_line}:")),
            "{shown}"
        );
    }
}

#[test]
fn listen_accepts_localhost_and_ipv6() {
    for (listen, expected) in [
        ("localhost:8080", "127.0.0.1:8080"),
        ("LOCALHOST:0", "127.0.0.1:0"),
        ("[::1]:8081", "[::1]:8081"),
        ("0.0.0.0:80", "0.0.0.0:80"),
    ] {
        let text = with("listen", &format!("listen = \"{listen}\""));
        let cfg = Config::parse(&text, "cutover.toml").expect(listen);
        assert_eq!(cfg.file.proxy.listen.to_string(), expected);
    }
    let text = with("admin", "admin = \"localhost:9191\"");
    let cfg = Config::parse(&text, "cutover.toml").expect("admin localhost");
    assert_eq!(cfg.file.proxy.admin.to_string(), "127.0.0.1:9191");
}

#[test]
fn target_urls_with_ports_in_range_and_ipv6_are_fine() {
    for url in [
        "http://127.0.0.1:65535",
        "http://[::1]:8000",
        "http://localhost",
        "http://svc.internal:8000/prefix",
    ] {
        assert_eq!(check_target_url(url), Ok(()), "{url}");
    }
    let err = check_target_url("http://user:hunter2@h:1").expect_err("userinfo");
    assert!(!err.contains("hunter2"), "{err}");
    let text = with(
        "auth",
        r#"auth = { url = "http://user:hunter2@127.0.0.1:8001" }"#,
    );
    let shown = match Config::parse(&text, "cutover.toml") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("userinfo accepted"),
    };
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("user:[REDACTED]@127.0.0.1:8001"), "{shown}");
}
