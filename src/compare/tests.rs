use super::*;
use crate::exchange::{Failure, FailureKind};

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Outcome {
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Response(RecordedResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
            truncated: false,
            ttfb_us: 1,
            total_us: 2,
        }),
    }
}

fn failure(kind: FailureKind) -> Outcome {
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Failure(Failure {
            kind,
            elapsed_us: 5,
            message: "boom".into(),
        }),
    }
}

#[test]
fn typical_exchange() {
    let json = ("content-type", "application/json");
    let a = response(
        200,
        &[json, ("date", "Mon"), ("content-length", "60")],
        r#"{"id":1,"name":"ann","created_at":"2026-01-02T03:04:05Z","role":"admin"}"#,
    );
    let b = response(
        201,
        &[json, ("date", "Tue"), ("content-length", "61")],
        r#"{"role":"user","created_at":"2026-01-02T03:04:06Z","name":"ann","id":1}"#,
    );
    let c = compare(&a, &b, &Rules::default());
    let paths: Vec<_> = c.differences.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["status", "/role"]);
    let reasons: Vec<_> = c.suppressed.iter().map(|(_, r)| r.to_string()).collect();
    assert_eq!(
        reasons,
        [
            "header: content-length ignored: the bodies are compared whole",
            "header: date ignored by default",
            "normaliser: timestamp (different instants)"
        ]
    );
    assert!(compare(&a, &a, &Rules::default()).is_match());
}

#[test]
fn transport_failures_are_their_own_kind() {
    let ok = response(200, &[], "");
    let c = compare(&ok, &failure(FailureKind::Timeout), &Rules::default());
    assert_eq!(c.differences[0].kind, DiffKind::Transport);
    assert_eq!(c.differences[0].candidate, Some(Value::from("timeout")));
    let same = compare(
        &failure(FailureKind::Reset),
        &failure(FailureKind::Reset),
        &Rules::default(),
    );
    assert!(same.is_match());
    let other = compare(
        &failure(FailureKind::Reset),
        &failure(FailureKind::Connect),
        &Rules::default(),
    );
    assert_eq!(other.differences.len(), 1);
}
