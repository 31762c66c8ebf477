//! The bypasses of issue #7 (defect 4), one by one, on the pure functions.

use super::marker::{unmark, unmark_bytes};
use super::*;
use crate::exchange::Body;

/// The redacted body, markers shown as `[REDACTED]`.
fn body(bytes: &[u8], ct: Option<&str>) -> Vec<u8> {
    let mut b = Body::from(bytes.to_vec());
    redact_body(&mut b, ct, &Redaction::default());
    unmark_bytes(b.as_bytes())
}

/// The redacted URI, markers shown as `[REDACTED]`.
fn uri_plain(uri: &str, rules: &Redaction) -> Option<String> {
    redact_uri(uri, rules).map(|u| unmark(&u))
}

fn plain(v: &Option<serde_json::Value>) -> Option<serde_json::Value> {
    v.as_ref()
        .map(|v| serde_json::from_str(&unmark(&v.to_string())).expect("json"))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn non_utf8_json_is_redacted_and_stays_lossless_elsewhere() {
    let raw = b"{\"user\":\"bob\xff\",\"password\":\"hunter2\",\"n\":1}";
    let out = body(raw, Some("application/json"));
    assert_eq!(
        out,
        b"{\"user\":\"bob\xff\",\"password\":\"[REDACTED]\",\"n\":1}".to_vec()
    );
    // Serialised as base64 of the redacted bytes: no secret inside.
    let json = serde_json::to_string(&Body::from(out)).expect("json");
    assert!(json.contains("base64"), "{json}");
    use base64::Engine as _;
    let b64 = json.split('"').nth(3).expect("value");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("b64");
    assert!(!contains(&decoded, "hunter2"));
}

#[test]
fn new_field_names_in_json_and_form() {
    let names = [
        "api_key",
        "apiKey",
        "api-key",
        "private_key",
        "client_secret",
        "clientSecret",
        "secret_answer",
        "credentials",
        "passwd",
        "password_confirmation",
        "pin",
        "otp",
        "code",
        "refresh_token",
        "session_id",
        "cookie",
        "authorization",
        "signature",
    ];
    for name in names {
        let j = format!(r#"{{"{name}": "S3cr3t-{name}", "keep": 1}}"#);
        let out = body(j.as_bytes(), Some("application/json"));
        assert!(!contains(&out, &format!("S3cr3t-{name}")), "json {name}");
        assert!(contains(&out, "\"keep\": 1"));
        let f = format!("keep=1&{name}=S3cr3t-{name}");
        let out = body(f.as_bytes(), Some("application/x-www-form-urlencoded"));
        assert_eq!(
            out,
            format!("keep=1&{name}=[REDACTED]").into_bytes(),
            "{name}"
        );
    }
    let r = Redaction::default();
    for plain in [
        "token_type",
        "tokens",
        "status_code",
        "username",
        "display_name",
        "input",
        "id",
        "keep",
    ] {
        assert!(!r.is_secret_field(plain), "{plain} carries no secret");
    }
}

#[test]
fn objects_under_secret_names_are_masked_whole() {
    let out = body(
        br#"{"credentials": {"user": "u", "pass": "p1"}, "x": [1]}"#,
        None,
    );
    assert_eq!(out, br#"{"credentials": "[REDACTED]", "x": [1]}"#.to_vec());
}

#[test]
fn form_labelled_json_and_json_labelled_form() {
    let out = body(b"user=bob&password=hunter2", Some("application/json"));
    assert_eq!(out, b"user=bob&password=[REDACTED]".to_vec());
    let out = body(
        br#"{"user":"bob","password":"hunter2"}"#,
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(out, br#"{"user":"bob","password":"[REDACTED]"}"#.to_vec());
    // Raw spaces (curl -d) and `;` separators.
    let out = body(b"password=hunter 2;x=1", Some("text/plain"));
    assert_eq!(out, b"password=[REDACTED];x=1".to_vec());
}

#[test]
fn multipart_parts_by_name_and_by_content() {
    let raw = b"--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"api_key\":\"k1\"}\r\n\
--XyZ--\r\n";
    for ct in [
        Some("multipart/form-data; boundary=XyZ"),
        Some("text/plain"),
        None,
    ] {
        let out = body(raw, ct);
        assert!(!contains(&out, "hunter2"), "{ct:?}");
        assert!(!contains(&out, "k1\""), "{ct:?}");
        assert!(contains(&out, "\r\n\r\nbob\r\n--XyZ"));
        assert!(contains(
            &out,
            "name=\"password\"\r\n\r\n[REDACTED]\r\n--XyZ"
        ));
        assert!(out.ends_with(b"--XyZ--\r\n"));
    }
}

#[test]
fn queries_with_semicolons_fragments_and_path_parameters() {
    let r = Redaction::default();
    assert_eq!(
        uri_plain("/x?x=1;token=abc;page=2", &r).as_deref(),
        Some("/x?x=1;token=[REDACTED];page=2")
    );
    assert_eq!(
        uri_plain("/x?token=a;b&page=2", &r).as_deref(),
        Some("/x?token=[REDACTED]&page=2")
    );
    assert_eq!(
        uri_plain("/cb#access_token=abc&state=1", &r).as_deref(),
        Some("/cb#access_token=[REDACTED]&state=1")
    );
    assert_eq!(
        uri_plain("/shop;jsessionid=AB12CD/cart", &r).as_deref(),
        Some("/shop;jsessionid=[REDACTED]/cart")
    );
    assert_eq!(
        uri_plain("http://u:pw@h/x", &r).as_deref(),
        Some("http://u:[REDACTED]@h/x")
    );
    assert_eq!(uri_plain("/users/17?page=2", &r), None);
}

#[test]
fn secret_path_segments() {
    let r = Redaction::default();
    for secret in [
        "Xk9fQ2mZr7LpA1sWvB3n",
        "3f8a9c2e1b7d4f6a8c0e2b4d6f8a0c2e",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc123DEF",
        "dGhpcyBpcyBhIHNlY3JldCB0b2tlbg==",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "Drmhze6EPcv0fN_81Bj-nA",
        "QmFzZVNpeHR5Rm91ckxldHRlcnNPbmx5",
        "qWeRtYuIoPaSdFgHjKlZxCvB",
        "c1w5p2-0a7a5e3f2b9c8d1e4f6a",
        "Dk4s9fLq2x8ZbN3mP7vR1tY6wH0cJ5gA",
    ] {
        assert!(looks_secret_segment(secret), "{secret} looks secret");
    }
    for id in [
        "users",
        "17",
        "12345678901234567890",
        "550e8400-e29b-41d4-a716-446655440000",
        "v2",
        "2024-01-15",
        "my-first-blog-post",
        "user-profile-settings-v2",
        "internationalization",
        "getUserProfileSettingsById",
        "SomeCamelCaseNameHereOk",
        "report-2024-11-22.pdf",
        "5f2b8c1a9d3e4f7a6b0c1d2e",
        "product_12345678",
        "v1.2.3-beta4-build5678",
        "report_2024Q3_final_v2.pdf",
        "Xk9fQ2mZr7LpA1sWvB3n.png",
    ] {
        assert!(!looks_secret_segment(id), "{id} is an id or a name");
    }
    assert_eq!(
        uri_plain("/auth/reset/Xk9fQ2mZr7LpA1sWvB3n?x=1", &r).as_deref(),
        Some("/auth/reset/[REDACTED]?x=1")
    );
    let off = Redaction::default().with(&crate::config::RedactionConfig {
        path_segments: false,
        ..Default::default()
    });
    assert_eq!(uri_plain("/auth/reset/Xk9fQ2mZr7LpA1sWvB3n", &off), None);
}

#[test]
fn headers_new_defaults_and_urls_in_other_headers() {
    let mut h: crate::exchange::Headers = vec![
        ("x-api-key".into(), "k1".into()),
        ("X-Auth-Token".into(), "t1".into()),
        ("x-amz-security-token".into(), "t2".into()),
        ("x-my-session".into(), "s1".into()),
        ("location".into(), "/cb?code=c1&state=ok".into()),
        ("link".into(), "</n?page=2&token=t3>; rel=next".into()),
        ("content-type".into(), "application/json".into()),
        ("x-ratelimit-remaining-tokens".into(), "149000".into()),
    ];
    redact_headers(&mut h, &Redaction::default());
    let v: Vec<String> = h.iter().map(|(_, v)| unmark(v)).collect();
    assert_eq!(
        v,
        [
            MASK,
            MASK,
            MASK,
            MASK,
            "/cb?code=[REDACTED]&state=ok",
            "</n?page=2&token=[REDACTED]>; rel=next",
            "application/json",
            "149000"
        ]
    );
}

#[test]
fn configured_additions_and_removals() {
    let cfg = crate::config::RedactionConfig {
        headers: vec!["x-tenant-key".into()],
        fields: vec!["ssn".into(), "*_pii".into()],
        keep_headers: vec!["x-session-count".into()],
        keep_fields: vec!["session_count".into(), "code".into()],
        path_segments: true,
    };
    let r = Redaction::default().with(&cfg);
    assert!(r.is_secret_header("X-Tenant-Key"));
    assert!(!r.is_secret_header("x-session-count"));
    assert!(r.is_secret_header("x-session-id"));
    assert!(r.is_secret_field("SSN"));
    assert!(r.is_secret_field("home_pii"));
    assert!(
        !r.is_secret_field("ssn_hint"),
        "exact unless a `*` says otherwise"
    );
    assert!(!r.is_secret_field("sessionCount"));
    assert!(!r.is_secret_field("code"));
    assert!(r.is_secret_field("session_id"));
    // The legacy keys are fragments.
    let legacy = Redaction::new(&[], &["ssn".into()]);
    assert!(legacy.is_secret_field("ssn_hint"));
}

#[test]
fn text_details_lose_their_secrets() {
    let r = Redaction::default();
    let diff = "--- primary\n+++ candidate\n-user=bob&password=p1\n+user=bob&password=p2\n {\"api_key\": \"k9\"}\n";
    let out = unmark(&redact_text(diff, &r).expect("changed"));
    for s in ["p1", "p2", "k9"] {
        assert!(!out.contains(s), "{s} in {out}");
    }
    assert!(out.contains("-user=bob&password=[REDACTED]"));
    let out = unmark(
        &redact_text("moved to /cb?code=c1 and https://x/y?token=t1, see", &r).expect("urls"),
    );
    assert_eq!(
        out,
        "moved to /cb?code=[REDACTED] and https://x/y?token=[REDACTED], see"
    );
}

#[test]
fn values_under_secret_ancestors_in_differences() {
    use crate::compare::{DiffKind, Difference};
    let mut d = Difference {
        path: "/credentials/user".into(),
        kind: DiffKind::ValueChanged,
        primary: Some(serde_json::json!("alice-pw")),
        candidate: Some(serde_json::json!("bob-pw")),
        detail: None,
    };
    redact_difference(&mut d, &Redaction::default());
    assert_eq!(plain(&d.primary), Some(serde_json::json!(MASK)));
    assert_eq!(plain(&d.candidate), Some(serde_json::json!(MASK)));
    assert_ne!(
        d.primary, d.candidate,
        "different secrets, different markers"
    );
}

#[test]
fn redaction_is_idempotent_and_never_panics_on_odd_bytes() {
    let r = Redaction::default();
    for raw in [
        &b"\"password\""[..],
        b"\"password\":",
        b"\"password\": {\"a\": [1, {\"b\"",
        b"{\"a\":\"\\\"password\\\": x\"}",
        b"--\r\n",
        b"--b\r\nContent-Disposition: form-data; name=password\r\n",
        b"=&;;==&",
        b"\xff\xfe\"pin\":\xff1234}",
    ] {
        let once = body(raw, None);
        let twice = body(&once, None);
        assert_eq!(once, twice, "{raw:?}");
        let _ = redact_text(&String::from_utf8_lossy(raw), &r);
    }
    assert!(!contains(&body(b"\xff\xfe\"pin\":\xff1234}", None), "1234"));
}

#[test]
fn secrets_inside_string_values() {
    let raw = br#"{"payload": "{\"password\": \"p9\", \"n\": 1}", "form": "a=1&token=t9", "next": "https://app/cb?code=c9&state=s", "reset": "/auth/reset/Xk9fQ2mZr7LpA1sWvB3n", "plain": "a=b c", "url": "/users/17"}"#;
    let out = body(raw, Some("application/json"));
    let text = String::from_utf8_lossy(&out);
    for s in ["p9", "t9", "c9", "Xk9fQ2mZr7LpA1sWvB3n"] {
        assert!(!text.contains(s), "{s} in {text}");
    }
    assert!(text.contains(r#""url": "/users/17""#), "{text}");
    assert!(text.contains("state=s"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("still JSON");
    assert_eq!(v["payload"], r#"{"password": "[REDACTED]", "n": 1}"#);
    let raw: serde_json::Value = serde_json::from_slice(&{
        let mut b = Body::from(raw.to_vec());
        redact_body(&mut b, None, &Redaction::default());
        b.as_bytes().to_vec()
    })
    .expect("still JSON");
    assert!(
        raw["payload"]
            .as_str()
            .is_some_and(|p| p.contains("\"password\": \"[REDACTED string ")),
        "{raw}"
    );
    assert_eq!(body(&out, None), out, "idempotent");
    let mut value = serde_json::json!({"next": "https://app/cb?code=c9"});
    assert!(redact_json(&mut value, &Redaction::default()));
    assert_eq!(
        unmark(value["next"].as_str().unwrap_or_default()),
        "https://app/cb?code=[REDACTED]"
    );
}

#[path = "tests_bypass_props.rs"]
mod properties;

#[test]
fn xml_elements_and_attributes_but_not_html_markup() {
    let raw = br#"<?xml version="1.0"?><s:Envelope><wsse:Password Type="t">pw1</wsse:Password><user apiKey="k1" id="7">bob</user><creds><pin>1234</pin></creds></s:Envelope>"#;
    let out = body(raw, Some("text/plain"));
    let text = String::from_utf8_lossy(&out);
    for s in ["pw1", "k1", "1234"] {
        assert!(!text.contains(s), "{s} in {text}");
    }
    assert!(
        text.contains(r#"<user apiKey="[REDACTED]" id="7">bob</user>"#),
        "{text}"
    );
    assert_eq!(body(&out, None), out, "idempotent");
    let html = b"<html><body><code>let x = 1;</code></body></html>";
    assert_eq!(body(html, Some("text/html")), html.to_vec());
}

#[test]
fn compressed_bodies_are_scanned_decompressed() {
    use std::io::{Read as _, Write as _};
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    };
    let gunzip = |data: &[u8]| {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    };
    let headers: crate::exchange::Headers = vec![
        ("content-type".into(), "application/json".into()),
        ("content-encoding".into(), "gzip".into()),
    ];
    let r = Redaction::default();
    let secret = gz(br#"{"access_token": "tk9", "n": 1}"#);
    let mut b = Body::from(secret.clone());
    redact_body_in(&mut b, &headers, &r);
    assert_eq!(
        unmark_bytes(&gunzip(b.as_bytes())),
        br#"{"access_token": "[REDACTED]", "n": 1}"#.to_vec()
    );
    // A cut capture is scanned as far as it goes.
    let mut b = Body::from(secret[..secret.len() - 8].to_vec());
    redact_body_in(&mut b, &headers, &r);
    assert!(!contains(&gunzip_lossy(b.as_bytes()), "tk9"));
    // Clean: the compressed bytes are kept exactly.
    let clean = gz(br#"{"n": 1}"#);
    let mut b = Body::from(clean.clone());
    redact_body_in(&mut b, &headers, &r);
    assert_eq!(b.as_bytes(), &clean[..]);
    // Unreadable codings are not kept.
    let br: crate::exchange::Headers = vec![("content-encoding".into(), "br".into())];
    let mut b = Body::from(b"\x1b\x00secret".to_vec());
    redact_body_in(&mut b, &br, &r);
    assert_eq!(unmark_bytes(b.as_bytes()), MASK.as_bytes());
}

/// What a possibly cut gzip stream holds (a `[REDACTED]` body as is).
fn gunzip_lossy(data: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out);
    if out.is_empty() { data.to_vec() } else { out }
}
