use super::*;
use crate::exchange::{Body, Outcomes, RecordedRequest, RecordedResponse};

fn exchange() -> Exchange {
    let outcome = |target: &str| Outcome {
        target: target.into(),
        result: OutcomeResult::Response(RecordedResponse {
            status: 200,
            headers: Vec::new(),
            body: Body::default(),
            truncated: false,
            ttfb_us: 1,
            total_us: 1,
        }),
    };
    Exchange {
        translation: Vec::new(),
        id: 1,
        seq: 1,
        identity: None,
        at: chrono::Utc::now(),
        route: "GET /x".into(),
        request: RecordedRequest {
            method: "GET".into(),
            uri: "/x".into(),
            headers: Vec::new(),
            body: Body::default(),
            truncated: false,
        },
        outcomes: Outcomes {
            primary: outcome("p"),
            secondary: None,
            candidate: Some(outcome("c")),
        },
    }
}

fn diff(path: String, kind: DiffKind) -> Difference {
    Difference {
        path,
        kind,
        primary: None,
        candidate: None,
        detail: None,
    }
}

fn mismatch(route: &str, differences: Vec<Difference>) -> Analysis {
    Analysis::compared(key(route), differences, Vec::new(), Vec::new())
}

#[test]
fn signatures_are_bounded_and_nothing_is_lost() {
    let ex = exchange();
    let mut agg = Aggregate::default();
    let n = MAX_SIGNATURES + 500;
    // Every exchange shows a distinct subset of 13 paths (bits of i): distinct signatures.
    for i in 1..=n {
        let differences = (0..13)
            .filter(|b| i & (1 << b) != 0)
            .map(|b| diff(format!("/{b}/id"), DiffKind::TypeChanged))
            .collect();
        agg.add(&ex, &mismatch("GET /x", differences));
    }
    let r = &agg.routes["GET /x"];
    assert_eq!(r.signature_count(), MAX_SIGNATURES);
    assert_eq!(r.unsigned_mismatched, 500);
    assert_eq!(
        r.signatures().map(|(_, n)| n).sum::<u64>() + r.unsigned_mismatched,
        n as u64
    );
}

#[test]
fn routes_past_the_cap_fold_into_the_overflow_route() {
    let ex = exchange();
    let mut agg = Aggregate::with_max_routes(10);
    for i in 0..1000 {
        agg.add(&ex, &mismatch(&format!("GET /r{i}"), Vec::new()));
    }
    // Routes already kept still count on their own.
    agg.add(&ex, &mismatch("GET /r3", Vec::new()));
    assert_eq!(agg.routes.len(), 11);
    assert_eq!(agg.overflow_exchanges(), 990);
    assert_eq!(agg.routes["GET /r3"].total, 2);
    assert_eq!(agg.total(), 1001);
}

#[test]
fn per_route_maps_are_bounded_by_hostile_bodies() {
    let ex = exchange();
    let mut agg = Aggregate::default();
    let n = 5_000usize;
    for i in 0..n {
        // Random-keyed objects: every exchange differs at new paths, some very long.
        let mut differences = vec![
            diff(format!("/k{i}"), DiffKind::ValueChanged),
            diff(format!("/j{i}"), DiffKind::ValueChanged),
            diff(
                format!("/{}", "a".repeat(MAX_PATH_BYTES + i)),
                DiffKind::Extra,
            ),
        ];
        differences.push(diff(format!("/t{i}"), DiffKind::TypeChanged));
        let suppressed = (0..3)
            .map(|j| crate::pipeline::Suppressed {
                difference: diff(format!("/s{i}/{j}"), DiffKind::ValueChanged),
                reason: format!("reason {}", i * 3 + j),
                learned: false,
            })
            .collect();
        let noise = vec![diff(format!("/n{i}"), DiffKind::ValueChanged)];
        agg.add(
            &ex,
            &Analysis::compared(key("GET /x"), differences, suppressed, noise),
        );
    }
    let r = &agg.routes["GET /x"];
    assert!(
        r.differences.len() <= MAX_DIFF_KEYS + 3,
        "{}",
        r.differences.len()
    );
    assert!(r.noise.len() <= MAX_DIFF_KEYS + 1, "{}", r.noise.len());
    assert!(r.suppressed.len() <= MAX_SUPPRESSED_PATHS + 1);
    assert!(
        r.suppressed
            .values()
            .all(|s| s.reasons.len() <= MAX_REASONS + 1)
    );
    assert!(r.keys.len() <= MAX_DIFF_KEYS + 3);
    assert!(r.signature_count() <= MAX_SIGNATURES);
    // A fold counts once per exchange: never more than the exchanges seen.
    for kind in [
        DiffKind::ValueChanged,
        DiffKind::Extra,
        DiffKind::TypeChanged,
    ] {
        let other = DiffKey {
            path: OTHER_PATHS.into(),
            kind,
            status: None,
        };
        assert!(r.differences[&other].count <= n as u64);
    }
    assert_eq!(r.mismatched, n as u64);
}

#[test]
fn status_matrix_is_bounded() {
    let mut agg = Aggregate::default();
    for status in 100..1000u16 {
        let mut ex = exchange();
        if let Some(c) = ex.outcomes.candidate.as_mut() {
            if let OutcomeResult::Response(r) = &mut c.result {
                r.status = status;
            }
        }
        agg.add(&ex, &mismatch("GET /x", Vec::new()));
    }
    let m = &agg.routes["GET /x"].status_matrix;
    assert!(m.len() <= MAX_STATUS_CELLS + 1, "{}", m.len());
    assert_eq!(m.values().sum::<u64>(), 900);
}

/// A route key from its display form (`GET /x`).
fn key(route: &str) -> crate::pipeline::RouteKey {
    let (m, t) = route.split_once(' ').unwrap_or(("GET", route));
    crate::pipeline::RouteKey::new(m, t)
}
