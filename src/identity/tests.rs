use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;

fn jwt(payload: &str) -> String {
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).expect("header value"));
    }
    h
}

#[test]
fn bearer_jwt_gives_the_first_claim_found() {
    let rules = IdentityRules::default();
    let token = jwt(r#"{"sub":"guest2","email":"g2@example.com"}"#);
    let id = rules.identify(
        &headers(&[("authorization", format!("Bearer {token}").as_str())]),
        "c1",
    );
    assert_eq!(id.label.as_deref(), Some("guest2"));
    assert!(id.credentialed);
    // Same credential, another connection: same identity.
    let again = rules.identify(
        &headers(&[("authorization", format!("Bearer {token}").as_str())]),
        "c2",
    );
    assert_eq!(id.key, again.key);
    let only_email = jwt(r#"{"email":"g2@example.com"}"#);
    let id = rules.identify(
        &headers(&[("authorization", format!("Bearer {only_email}").as_str())]),
        "c",
    );
    assert_eq!(id.label.as_deref(), Some("g2@example.com"));
    let numeric = jwt(r#"{"sub":17}"#);
    let id = rules.identify(
        &headers(&[("authorization", format!("Bearer {numeric}").as_str())]),
        "c",
    );
    assert_eq!(id.label.as_deref(), Some("17"));
}

#[test]
fn opaque_credentials_get_a_short_fingerprint_never_the_secret() {
    let rules = IdentityRules::default();
    let id = rules.identify(
        &headers(&[("authorization", "Token s3cr3t-opaque-value")]),
        "c",
    );
    let label = id.label.expect("a label");
    assert!(label.starts_with("cred:") && label.len() == 11, "{label}");
    assert!(!label.contains("s3cr3t"));
    let other = rules.identify(&headers(&[("authorization", "Token another")]), "c");
    assert_ne!(id.key, other.key);
    // A JWT without any configured claim falls back to the fingerprint too.
    let token = jwt(r#"{"scope":"read"}"#);
    let id = rules.identify(
        &headers(&[("authorization", format!("Bearer {token}").as_str())]),
        "c",
    );
    assert!(id.label.is_some_and(|l| l.starts_with("cred:")));
}

#[test]
fn credential_cookies_identify_and_other_cookies_do_not() {
    let rules = IdentityRules::default();
    let a = rules.identify(
        &headers(&[("cookie", "theme=dark; sessionid=abc123")]),
        "c1",
    );
    let b = rules.identify(
        &headers(&[("cookie", "sessionid=abc123; theme=light")]),
        "c2",
    );
    assert!(a.credentialed);
    assert_eq!(a.key, b.key, "cookie order and other cookies do not matter");
    let token = jwt(r#"{"preferred_username":"alice"}"#);
    let c = rules.identify(
        &headers(&[("cookie", format!("access_token={token}").as_str())]),
        "c",
    );
    assert_eq!(c.label.as_deref(), Some("alice"));
    let anon = rules.identify(&headers(&[("cookie", "theme=dark")]), "c1");
    assert!(!anon.credentialed && anon.label.is_none());
    let anon2 = rules.identify(&HeaderMap::new(), "c2");
    assert_ne!(
        anon.key, anon2.key,
        "anonymous requests are keyed by connection"
    );
    assert_eq!(anon.key, rules.identify(&HeaderMap::new(), "c1").key);
}

#[test]
fn label_modes_and_configured_cookies() {
    let token = jwt(r#"{"sub":"guest2"}"#);
    let h = headers(&[("authorization", format!("Bearer {token}").as_str())]);
    let cfg = |toml: &str| {
        let text = format!("[targets.a]\nurl = \"http://127.0.0.1:1\"\nrole = \"primary\"\n{toml}");
        crate::config::Config::parse(&text, "t.toml").expect("valid")
    };
    let off = IdentityRules::for_config(&cfg("[identity]\nlabel = \"off\"\n").file.identity);
    assert_eq!(off.identify(&h, "c").label, None);
    let fp = IdentityRules::for_config(&cfg("[identity]\nlabel = \"fingerprint\"\n").file.identity);
    assert!(
        fp.identify(&h, "c")
            .label
            .is_some_and(|l| l.starts_with("cred:"))
    );
    let custom = IdentityRules::for_config(
        &cfg("[identity]\ncredential_cookies = [\"my_login\"]\n")
            .file
            .identity,
    );
    assert!(
        custom
            .identify(&headers(&[("cookie", "my_login=x")]), "c")
            .credentialed
    );
    assert!(
        !IdentityRules::default()
            .identify(&headers(&[("cookie", "my_login=x")]), "c")
            .credentialed
    );
}

#[test]
fn hostile_tokens_never_panic_and_labels_are_clean() {
    let rules = IdentityRules::default();
    for v in [
        "Bearer eyJ..",
        "Bearer eyJhbGciOiJub25lIn0.!!!.x",
        "Bearer eyJhbGciOiJub25lIn0.bm90IGpzb24.x",
        "Bearer",
        "Bearer eyJhbGciOiJub25lIn0.W10.x",
    ] {
        let id = rules.identify(&headers(&[("authorization", v)]), "c");
        assert!(id.label.is_some_and(|l| l.starts_with("cred:")), "{v}");
    }
    let long = "x".repeat(500);
    let token = jwt(&format!(r#"{{"sub":"a\u0007b{long}"}}"#));
    let id = rules.identify(
        &headers(&[("authorization", format!("Bearer {token}").as_str())]),
        "c",
    );
    let label = id.label.expect("label");
    assert!(label.starts_with("ab") && label.chars().count() == MAX_LABEL_CHARS);
}

#[test]
fn config_is_checked_strictly() {
    let parse = |toml: &str| {
        let text = format!(
            "[targets.a]\nurl = \"http://127.0.0.1:1\"\nrole = \"primary\"\n[identity]\n{toml}"
        );
        crate::config::Config::parse(&text, "t.toml")
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert!(parse("").is_ok());
    let e = parse("max_queued_per_identity = 0").expect_err("zero");
    assert!(
        e.contains("t.toml:5") && e.contains("max_queued_per_identity"),
        "{e}"
    );
    let e = parse("max_identities = 0").expect_err("zero");
    assert!(e.contains("max_identities must be from 1"), "{e}");
    let e = parse("label = \"sometimes\"").expect_err("bad mode");
    assert!(e.contains("t.toml:5"), "{e}");
    let e = parse("claims = [\"\"]").expect_err("empty claim");
    assert!(e.contains("identity.claims"), "{e}");
    let e = parse("credential_cookies = [\"a*b\"]").expect_err("bad pattern");
    assert!(e.contains("identity.credential_cookies"), "{e}");
    let e = parse("orderd = true").expect_err("unknown key");
    assert!(e.contains("orderd"), "{e}");
}
