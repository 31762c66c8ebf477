//! Property tests: generated secrets in generated bodies never survive redaction.

use super::*;
use proptest::prelude::*;

fn plain_json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop::sample::select(vec![
        "id",
        "name",
        "items",
        "token_type",
        "tokens",
        "status_code",
        "user",
        "a",
        "b",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z0-9 ]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::vec((key.clone(), inner), 0..4).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn bodies_without_secrets_keep_their_bytes(v in plain_json(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_string_pretty(&v).expect("json")
        } else {
            serde_json::to_string(&v).expect("json")
        };
        for ct in [Some("application/json"), Some("application/x-www-form-urlencoded"), None] {
            let mut b = Body::from(text.clone().into_bytes());
            redact_body(&mut b, ct, &Redaction::default());
            prop_assert_eq!(b.as_bytes(), text.as_bytes());
        }
    }

    #[test]
    fn any_bytes_never_panic_and_redaction_is_idempotent(
        raw in prop::collection::vec(any::<u8>(), 0..200),
        ct in prop::option::of("(multipart/form-data; boundary=b|application/json|text/plain|application/xml)"),
    ) {
        let once = body(&raw, ct.as_deref());
        let twice = body(&once, ct.as_deref());
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn secret_values_never_survive(secret in "[A-Za-z0-9]{12}", sep in "(&|;)") {
        let raw = format!("a=1{sep}password={secret}{sep}b=2");
        let out = body(raw.as_bytes(), None);
        prop_assert!(!contains(&out, &secret));
        let raw = format!("{{\"x\": [1, {{\"apiKey\": \"{secret}\"}}]}}");
        let out = body(raw.as_bytes(), Some("text/plain"));
        prop_assert!(!contains(&out, &secret));
    }
}
