use super::*;
use crate::exchange::Body;

fn answer(status: u16, body: &str) -> Outcome {
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Response(RecordedResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from(body),
            truncated: false,
            ttfb_us: 1,
            total_us: 2,
        }),
    }
}

fn query(latency: i64, remaining: i64) -> String {
    format!(r#"{{"answer":"Sure.","latency_ms":{latency},"remaining":{remaining}}}"#)
}

fn repeat(p1: &Outcome, c1: &Outcome, p2: &Outcome, c2: &Outcome) -> Repeat {
    let rules = Rules::default();
    evidence(
        Answers {
            primary: p1,
            other: c1,
        },
        Answers {
            primary: p2,
            other: c2,
        },
        &rules,
    )
}

fn volatile_path(r: &Repeat) -> Option<&str> {
    match r {
        Repeat::Usable(Some(d)) => Some(d.path.as_str()),
        _ => None,
    }
}

#[test]
fn jitter_next_to_a_tracked_counter_is_evidence() {
    // The same question twice: latency jitters on both sides, remaining drops by one on both.
    let (p1, p2) = (answer(200, &query(23, 5)), answer(200, &query(37, 4)));
    let (c1, c2) = (answer(200, &query(12, 5)), answer(200, &query(30, 4)));
    assert_eq!(
        volatile_path(&repeat(&p1, &c1, &p2, &c2)),
        Some("/latency_ms")
    );
    // An off-by-one candidate still moves in step (same delta): latency is still the noise,
    // and remaining is never learned.
    let (c1, c2) = (answer(200, &query(12, 4)), answer(200, &query(30, 3)));
    assert_eq!(
        volatile_path(&repeat(&p1, &c1, &p2, &c2)),
        Some("/latency_ms")
    );
}

#[test]
fn state_the_candidate_does_not_track_is_never_learned() {
    let (p1, p2) = (answer(200, &query(23, 5)), answer(200, &query(37, 4)));
    // A stuck counter next to jitter: two paths moved on their own, nothing is learned.
    let (c1, c2) = (answer(200, &query(12, 6)), answer(200, &query(30, 6)));
    assert_eq!(repeat(&p1, &c1, &p2, &c2), Repeat::Unusable);
    // A counter alone that the candidate never moves: stuck, not volatile.
    let (p1, p2) = (answer(200, &query(20, 5)), answer(200, &query(20, 4)));
    let (c1, c2) = (answer(200, &query(20, 6)), answer(200, &query(20, 6)));
    assert_eq!(repeat(&p1, &c1, &p2, &c2), Repeat::Unusable);
}

#[test]
fn status_or_shape_changes_make_a_repeat_unusable() {
    let ok = answer(200, &query(1, 1));
    let limited = answer(429, r#"{"detail":"Rate limit exceeded"}"#);
    assert_eq!(repeat(&ok, &ok, &limited, &limited), Repeat::Unusable);
    // The candidate answered a different status to one of them.
    assert_eq!(repeat(&ok, &limited, &ok, &ok), Repeat::Unusable);
    let other_shape = answer(
        200,
        r#"{"answer":"Sure.","latency_ms":"slow","remaining":1}"#,
    );
    assert_eq!(
        repeat(&ok, &ok, &other_shape, &other_shape),
        Repeat::Unusable
    );
    // Equal answers are a usable repeat that proves nothing volatile.
    assert_eq!(repeat(&ok, &ok, &ok, &ok), Repeat::Usable(None));
}

#[test]
fn learning_needs_enough_repeats_and_exchanges_and_only_hides_value_changes() {
    let spec = NoiseSpec::default();
    let d = |kind| Difference {
        path: "/latency_ms".into(),
        kind,
        primary: Some(1.into()),
        candidate: Some(2.into()),
        detail: None,
    };
    let mut t = VolatileTable::default();
    let r = Repeat::Usable(Some(d(DiffKind::ValueChanged)));
    t.total = 30;
    t.record(&r);
    // One repeat is no evidence (`min_repeats` = 2).
    assert_eq!(
        t.decide(&d(DiffKind::ValueChanged), &spec),
        Decision::Report
    );
    t.record(&r);
    t.record(&r);
    t.record(&Repeat::Unusable);
    t.record(&Repeat::Usable(None));
    assert_eq!(t.repeats, 4);
    let Decision::Noise(reason) = t.decide(&d(DiffKind::ValueChanged), &spec) else {
        panic!("repeats over thirty exchanges are enough");
    };
    assert_eq!(
        reason.to_string(),
        "volatile on the primary: changed on its own between identical requests 3 times in \
         4 repeats (rest of the answer equal), T=30"
    );
    // A real change inside the volatile field is still reported.
    assert_eq!(t.decide(&d(DiffKind::TypeChanged), &spec), Decision::Report);
    assert_eq!(t.decide(&d(DiffKind::Missing), &spec), Decision::Report);
    // Too few exchanges on the route: nothing learned yet.
    t.total = 9;
    assert_eq!(
        t.decide(&d(DiffKind::ValueChanged), &spec),
        Decision::Report
    );
}
