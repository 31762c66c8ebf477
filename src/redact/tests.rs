use super::marker::unmark;
use super::*;
use crate::exchange::*;

fn plain(v: &Option<serde_json::Value>) -> Option<serde_json::Value> {
    v.as_ref()
        .map(|v| serde_json::from_str(&unmark(&v.to_string())).expect("json"))
}

fn rules() -> Redaction {
    Redaction::new(&["x-api-key".into()], &["ssn".into()])
}

fn response(headers: Headers, body: &str) -> Outcome {
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Response(RecordedResponse {
            status: 200,
            headers,
            body: Body::from(body),
            truncated: false,
            ttfb_us: 0,
            total_us: 0,
        }),
    }
}

#[test]
fn headers_keep_scheme_and_cookie_names() {
    let mut h: Headers = vec![
        ("authorization".into(), "Bearer eyJhbGci.x.y".into()),
        ("cookie".into(), "access_token=abc; theme=dark".into()),
        (
            "set-cookie".into(),
            "access_token=abc; HttpOnly; Path=/".into(),
        ),
        ("x-api-key".into(), "k123".into()),
        ("accept".into(), "*/*".into()),
    ];
    redact_headers(&mut h, &rules());
    assert!(h[0].1.starts_with("Bearer [REDACTED string "), "{}", h[0].1);
    let h: Vec<String> = h.iter().map(|(_, v)| unmark(v)).collect();
    assert_eq!(h[0], "Bearer [REDACTED]");
    assert_eq!(h[1], "access_token=[REDACTED]; theme=[REDACTED]");
    assert_eq!(h[2], "access_token=[REDACTED]; HttpOnly; Path=/");
    assert_eq!(h[3], "[REDACTED]");
    assert_eq!(h[4], "*/*");
}

#[test]
fn json_fields_at_any_depth_and_forms_and_queries() {
    let ex = Exchange {
        translation: Vec::new(),
        id: 1,
        seq: 1,
        identity: None,
        at: chrono::Utc::now(),
        route: "POST /auth/login".into(),
        request: RecordedRequest {
            method: "POST".into(),
            uri: "/auth/login?access_token=q1&page=2".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Body::from("username=bob&password=hunter2&My%20Secret=s3"),
            truncated: false,
        },
        outcomes: Outcomes {
            primary: response(
                vec![("content-type".into(), "application/json".into())],
                r#"{"access_token":"tok1","user":{"ssn":"123","name":"bob","Nested":[{"clientSecret":7}]}}"#,
            ),
            secondary: None,
            // Truncated JSON: does not parse, still scanned.
            candidate: Some(response(vec![], r#"{"access_token": "tok2", "user": {"na"#)),
        },
    };
    let out = redact(&ex, &rules());
    // Markers shown as `[REDACTED]`: their hex class could hold a short secret like `123`.
    let line = unmark(&serde_json::to_string(&out).expect("json"));
    for secret in ["hunter2", "tok1", "tok2", "q1", "123", "s3", ":7"] {
        assert!(!line.contains(secret), "{secret} leaked: {line}");
    }
    assert_eq!(
        unmark(&out.request.uri),
        "/auth/login?access_token=[REDACTED]&page=2"
    );
    assert!(
        unmark(&String::from_utf8_lossy(out.request.body.as_bytes()))
            .starts_with("username=bob&password=[REDACTED]")
    );
    assert!(line.contains("bob"));
    // The input is untouched (pure function).
    assert_eq!(
        ex.request.body,
        Body::from("username=bob&password=hunter2&My%20Secret=s3")
    );
}

#[test]
fn bodies_without_secrets_stay_byte_for_byte() {
    let mut body = Body::from("{ \"b\": 1,  \"a\": [2] }");
    redact_body(&mut body, Some("application/json"), &Redaction::default());
    assert_eq!(body, Body::from("{ \"b\": 1,  \"a\": [2] }"));
}

#[test]
fn sse_data_lines_are_scanned() {
    let mut body = Body::from("data: {\"token\": \"abc\"}\n\ndata: [DONE]\n\n");
    redact_body(&mut body, Some("text/event-stream"), &Redaction::default());
    assert_eq!(
        unmark(&String::from_utf8_lossy(body.as_bytes())),
        "data: {\"token\": \"[REDACTED]\"}\n\ndata: [DONE]\n\n"
    );
}

#[test]
fn descriptive_token_fields_are_kept() {
    let r = rules();
    for secret in [
        "token",
        "access_token",
        "refresh_token",
        "csrfToken",
        "password",
        "new_password",
        "client_secret",
    ] {
        assert!(r.is_secret_field(secret), "{secret} must be redacted");
    }
    for plain in ["token_type", "tokens", "input", "username", "display_name"] {
        assert!(!r.is_secret_field(plain), "{plain} carries no secret");
    }
    let mut v =
        serde_json::json!({"access_token": "eyJ", "token_type": "bearer", "tokens": {"input": 3}});
    assert!(redact_json(&mut v, &r));
    assert_eq!(
        plain(&Some(v)).expect("value"),
        serde_json::json!({"access_token": "[REDACTED]", "token_type": "bearer", "tokens": {"input": 3}})
    );
}

#[test]
fn differences_lose_their_secrets() {
    use crate::compare::{DiffKind, Difference};
    let r = rules();
    let mut d = Difference {
        path: "/access_token".into(),
        kind: DiffKind::TypeChanged,
        primary: Some(serde_json::json!("eyJhbGciOi.x.y")),
        candidate: Some(serde_json::json!(42)),
        detail: None,
    };
    redact_difference(&mut d, &r);
    assert_eq!(plain(&d.primary), Some(serde_json::json!("[REDACTED]")));
    assert_eq!(plain(&d.candidate), Some(serde_json::json!("[REDACTED]")));
    // The kind survives: a JWT-looking string against a number.
    let kind = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .and_then(|v| v.as_str())
            .and_then(marker::parse)
            .and_then(|m| m.kind)
    };
    assert_eq!(kind(&d.candidate), Some(SecretKind::Number));

    let mut d = Difference {
        path: "".into(),
        kind: DiffKind::ValueChanged,
        primary: Some(serde_json::json!({"password": "hunter2", "id": 1})),
        candidate: Some(serde_json::json!({"id": "1"})),
        detail: None,
    };
    redact_difference(&mut d, &r);
    assert_eq!(
        plain(&d.primary),
        Some(serde_json::json!({"password": "[REDACTED]", "id": 1}))
    );

    let mut d = Difference {
        path: "header:set-cookie".into(),
        kind: DiffKind::Header,
        primary: Some(serde_json::json!("access_token=abc; HttpOnly")),
        candidate: None,
        detail: Some("access_token=abc".into()),
    };
    redact_difference(&mut d, &r);
    assert_eq!(
        plain(&d.primary),
        Some(serde_json::json!("access_token=[REDACTED]; HttpOnly"))
    );
    assert_eq!(d.detail.as_deref(), Some("[REDACTED]"));
}

#[test]
fn random_tokens_are_recognised() {
    const B62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = fastrand::Rng::with_seed(7);
    for (alphabet, len, min_share) in [
        (B62, 16, 0.90),
        (B62, 22, 0.97),
        (B64URL, 22, 0.95),
        (B64URL, 43, 0.99),
        (&b"0123456789abcdef"[..], 32, 0.99),
    ] {
        let hits = (0..1000)
            .filter(|_| {
                let t: String = (0..len)
                    .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
                    .collect();
                looks_secret_segment(&t)
            })
            .count();
        let share = hits as f64 / 1000.0;
        eprintln!(
            "{} chars from a {}-letter alphabet: {share}",
            len,
            alphabet.len()
        );
        assert!(share >= min_share, "{len}/{}: {share}", alphabet.len());
    }
}
