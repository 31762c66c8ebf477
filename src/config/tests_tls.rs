//! `[targets.NAME]` TLS and protocol keys: accepted forms, located refusals, CA files
//! resolved next to the configuration.

use super::*;

fn config(target: &str) -> String {
    format!(
        "[targets]\nmono = {{ url = \"http://127.0.0.1:8000\", role = \"primary\" }}\n{target}\n"
    )
}

fn error(target: &str) -> Located {
    match Config::parse(&config(target), "t.toml") {
        Err(ConfigError::Invalid(l)) => l,
        other => panic!("expected a located error for {target}, got {other:?}"),
    }
}

#[test]
fn https_and_the_protocols_are_accepted_with_their_defaults() {
    let c = Config::parse(
        &config("a = { url = \"https://api.internal:8443/v1\" }"),
        "t",
    )
    .expect("https accepted");
    let a = c.target("a").expect("a");
    assert_eq!(*a.protocol.get_ref(), Protocol::Auto);
    assert!(!*a.insecure.get_ref());
    assert!(a.tls_ca_file.is_none());
    for (url, protocol) in [
        ("http://127.0.0.1:1", "h2c"),
        ("http://127.0.0.1:1", "http1"),
        ("https://127.0.0.1:1", "http1"),
        ("https://127.0.0.1:1", "auto"),
    ] {
        let line = format!("a = {{ url = \"{url}\", protocol = \"{protocol}\" }}");
        Config::parse(&config(&line), "t").unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let c = Config::parse(
        &config("a = { url = \"https://127.0.0.1:1\", insecure = true }"),
        "t",
    )
    .expect("insecure accepted on https");
    assert!(*c.target("a").expect("a").insecure.get_ref());
}

#[test]
fn keys_that_do_not_fit_the_scheme_are_refused_at_their_place() {
    for (target, key, needle) in [
        (
            "a = { url = \"http://127.0.0.1:1\", tls_ca_file = \"ca.pem\" }",
            "targets.a.tls_ca_file",
            "only an https:// target",
        ),
        (
            "a = { url = \"http://127.0.0.1:1\", insecure = true }",
            "targets.a.insecure",
            "only an https:// target",
        ),
        (
            "a = { url = \"https://127.0.0.1:1\", protocol = \"h2c\" }",
            "targets.a.protocol",
            "ALPN",
        ),
        (
            "a = { url = \"https://127.0.0.1:1\", insecure = true, tls_ca_file = \"ca.pem\" }",
            "targets.a.tls_ca_file",
            "keep one of the two",
        ),
        (
            "a = { url = \"ftp://127.0.0.1:1\" }",
            "targets.a.url",
            "https://",
        ),
    ] {
        let l = error(target);
        assert_eq!(l.line, 3, "{target}: {l}");
        assert!(l.column > 1, "{target}: {l}");
        assert_eq!(l.key.as_deref(), Some(key), "{target}: {l}");
        assert!(l.message.contains(needle), "{target}: {l}");
    }
    let l = error("a = { url = \"http://127.0.0.1:1\", protocol = \"h3\" }");
    assert_eq!(l.line, 3, "{l}");
    assert!(l.message.contains("unknown variant"), "{l}");
}

#[test]
fn a_relative_ca_file_is_read_next_to_the_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).expect("ca");
    std::fs::create_dir(dir.path().join("tls")).expect("mkdir");
    std::fs::write(dir.path().join("tls/ca.pem"), ca.pem()).expect("write");
    let path = dir.path().join("cutover.toml");
    std::fs::write(
        &path,
        config("a = { url = \"https://127.0.0.1:1\", tls_ca_file = \"tls/ca.pem\" }"),
    )
    .expect("write");
    let c = Config::load(&path).expect("loads");
    let resolved = c
        .target("a")
        .and_then(|a| a.tls_ca_file.as_ref())
        .expect("ca");
    assert_eq!(resolved.get_ref(), &dir.path().join("tls/ca.pem"));
    // A file with a key and no certificate is refused, naming the resolved file.
    std::fs::write(dir.path().join("tls/ca.pem"), key.serialize_pem()).expect("write");
    match Config::load(&path) {
        Err(ConfigError::Invalid(l)) => {
            assert_eq!(l.key.as_deref(), Some("targets.a.tls_ca_file"), "{l}");
            assert!(l.message.contains("holds no certificate"), "{l}");
            assert!(
                l.message
                    .contains(&dir.path().join("tls/ca.pem").display().to_string()),
                "{l}"
            );
        }
        other => panic!("{other:?}"),
    }
}
