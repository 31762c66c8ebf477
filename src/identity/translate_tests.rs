use super::*;
use http::HeaderValue;
use http::header::AUTHORIZATION;

fn answer<'a>(h: &'a HeaderMap, body: &'a [u8]) -> Answer<'a> {
    Answer { headers: h, body }
}

#[test]
fn login_then_create_then_a_translated_copy() {
    let now = Instant::now();
    let cookies = crate::config::IdentityConfig::default().cookie_patterns();
    let mut t = Translator::new(100, Duration::from_secs(600), 1000, cookies);
    let none = HeaderMap::new();
    let login = br#"{"username":"alice","password":"pw"}"#;
    let who = t.identity(login, None).expect("identity");
    let p = t
        .issued(&answer(&none, br#"{"access_token":"P-TOKEN"}"#))
        .expect("primary issued");
    let a = t
        .issued(&answer(
            &none,
            br#"{"token":"A-TOKEN","token_type":"Token"}"#,
        ))
        .expect("target issued");
    t.learn_credential(&who, &p, "auth", a, now);
    assert!(t.issues_own("auth"));
    let learned = t.learn_create(
        "users",
        None,
        &answer(&none, br#"{"id":17}"#),
        "auth",
        &answer(&none, br#"{"id":3}"#),
    );
    assert_eq!(learned.map(|l| l.0), Some(Learned::New));
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer P-TOKEN"));
    let p = t
        .prepare(
            "auth",
            &mut h,
            "/users/17?page=17",
            br#"{"friend_id":17}"#,
            now,
            false,
        )
        .expect("translated");
    assert_eq!(
        h.get(AUTHORIZATION).map(|v| v.as_bytes()),
        Some(&b"Token A-TOKEN"[..])
    );
    assert_eq!(p.uri, "/users/3?page=17", "page is not an id");
    assert_eq!(p.body.as_deref(), Some(&br#"{"friend_id":3}"#[..]));
    let (identity, marker) = p.credential.expect("credential");
    assert_eq!(identity.as_deref(), Some("alice"));
    assert!(marker.starts_with("[REDACTED") && !marker.contains("A-TOKEN"));
    assert_eq!(p.ids, vec![("17".to_string(), "3".to_string())]);
    assert_eq!(
        t.answer_ids("auth", br#"{"id":3,"n":3}"#),
        vec![("17".to_string(), "3".to_string())]
    );
    // A cookie stays a cookie; the primary's token in a second place is replaced too.
    let mut h = HeaderMap::new();
    h.insert(
        http::header::COOKIE,
        HeaderValue::from_static("theme=x; access_token=P-TOKEN"),
    );
    assert!(t.prepare("auth", &mut h, "/me", b"", now, true).is_ok());
    assert_eq!(
        h.get(http::header::COOKIE).map(|v| v.as_bytes()),
        Some(&b"theme=x; access_token=A-TOKEN"[..])
    );
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer P-TOKEN"));
    h.insert(
        http::header::COOKIE,
        HeaderValue::from_static("access_token=P-TOKEN"),
    );
    assert!(t.prepare("auth", &mut h, "/me", b"", now, true).is_ok());
    let all = format!("{h:?}");
    assert!(!all.contains("P-TOKEN"), "{all}");
    // Another collection's 17 is not rewritten in a path.
    let p = t
        .prepare("auth", &mut HeaderMap::new(), "/pages/17", b"", now, false)
        .expect("anonymous");
    assert_eq!(p.uri, "/pages/17");
    // An identity whose login was never mirrored: untranslated, headers untouched.
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer OTHER"));
    assert_eq!(
        t.prepare("auth", &mut h, "/users/17", b"", now, false)
            .err(),
        Some(Untranslated::UnknownCredential)
    );
    assert_eq!(
        h.get(AUTHORIZATION).map(|v| v.as_bytes()),
        Some(&b"Bearer OTHER"[..])
    );
    // A target never seen issuing its own credentials gets it unchanged in auto mode,
    // and not at all when strict.
    assert!(
        t.prepare("ai", &mut h, "/x", b"", now, false)
            .is_ok_and(|p| p.credential.is_none())
    );
    assert!(t.prepare("ai", &mut h, "/x", b"", now, true).is_err());
    // Anonymous: passes, ids still translated.
    let p = t
        .prepare("auth", &mut HeaderMap::new(), "/users/17", b"", now, false)
        .expect("anonymous");
    assert_eq!((p.uri.as_str(), p.credential.is_none()), ("/users/3", true));
    // A login answer without a credential teaches nothing.
    assert!(t.issued(&answer(&none, br#"{"ok":true}"#)).is_none());
}

#[test]
fn ids_are_scoped_by_collection_and_collisions_are_not_translated() {
    let now = Instant::now();
    let mut t = Translator::new(10, Duration::from_secs(60), 100, Vec::new());
    let none = HeaderMap::new();
    let mut create = |collection: &str, p: &str, c: &str| {
        t.learn_create(
            collection,
            None,
            &answer(&none, format!(r#"{{"id":{p}}}"#).as_bytes()),
            "new",
            &answer(&none, format!(r#"{{"id":{c}}}"#).as_bytes()),
        )
        .map(|l| l.0)
    };
    assert_eq!(create("users", "5", "1005"), Some(Learned::New));
    assert_eq!(
        create("avatars", "5", "5"),
        Some(Learned::New),
        "another table"
    );
    assert_eq!(create("users", "6", "1006"), Some(Learned::New));
    assert_eq!(create("users", "6", "1007"), Some(Learned::Conflict));
    let prep = |uri: &str, body: &[u8]| {
        t.prepare("new", &mut HeaderMap::new(), uri, body, now, true)
            .expect("anonymous")
    };
    assert_eq!(prep("/users/5", b"").uri, "/users/1005");
    assert_eq!(prep("/avatars/5", b"").uri, "/avatars/5");
    assert_eq!(
        prep("/users/6", b"").uri,
        "/users/6",
        "a collision is never guessed"
    );
    // In a body the collection is unknown: tables that disagree translate nothing.
    assert_eq!(prep("/x", br#"{"user_id":5}"#).body, None);
    assert_eq!(
        t.answer_ids("new", br#"{"id":1005}"#),
        vec![("5".into(), "1005".into())]
    );
}
