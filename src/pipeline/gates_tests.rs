use super::*;

fn figures() -> RouteFigures {
    RouteFigures {
        parity: 1.0,
        parity_threshold: 0.99,
        compared: 100,
        mismatched: 0,
        primary_p95_ms: 100.0,
        candidate_p95_ms: 100.0,
        candidate_latency_samples: 100,
        candidate_requests: 100,
        primary_requests: 100,
        ..RouteFigures::default()
    }
}

fn fired(f: &RouteFigures) -> Vec<GateKind> {
    evaluate(f, &Triggers::default())
        .into_iter()
        .filter(|r| r.fired)
        .map(|r| r.gate)
        .collect()
}

#[test]
fn a_healthy_route_passes_every_gate_and_lists_them() {
    let r = evaluate(&figures(), &Triggers::default());
    let kinds: Vec<_> = r.iter().map(|r| r.gate).collect();
    assert_eq!(
        kinds,
        [
            GateKind::Parity,
            GateKind::LatencyP95,
            GateKind::LatencyIncrease,
            GateKind::ErrorRate
        ]
    );
    assert!(!failed(&r));
}

#[test]
fn parity_below_threshold_fires_with_its_numbers() {
    let f = RouteFigures {
        parity: 0.9,
        mismatched: 10,
        ..figures()
    };
    let r = evaluate(&f, &Triggers::default());
    assert_eq!(fired(&f), [GateKind::Parity]);
    assert!(r[0].message.contains("10 of 100"), "{}", r[0].message);
    assert_eq!(r[0].value, 90.0);
}

#[test]
fn error_rate_fires_above_the_limit_and_above_the_primary() {
    let f = RouteFigures {
        candidate_errors: 10,
        ..figures()
    };
    assert_eq!(fired(&f), [GateKind::ErrorRate]);
    let r = evaluate(&f, &Triggers::default());
    let e = r.iter().find(|r| r.gate == GateKind::ErrorRate).unwrap();
    assert_eq!((e.value, e.limit, e.primary), (10.0, 1.0, Some(0.0)));
    assert!(e.message.contains("10 of 100"), "{}", e.message);
    // Exactly at the limit: not above it.
    let at = RouteFigures {
        candidate_errors: 1,
        ..figures()
    };
    assert!(fired(&at).is_empty());
    // The primary fails as often: the monolith's errors, not the candidate's.
    let both = RouteFigures {
        candidate_errors: 10,
        primary_errors: 10,
        ..figures()
    };
    assert!(fired(&both).is_empty());
    // No candidate requests: no error-rate gate at all.
    let none = RouteFigures {
        candidate_requests: 0,
        ..figures()
    };
    assert!(
        evaluate(&none, &Triggers::default())
            .iter()
            .all(|r| r.gate != GateKind::ErrorRate)
    );
}

#[test]
fn latency_triggers_keep_their_rules() {
    let slow = RouteFigures {
        candidate_p95_ms: 200.0,
        ..figures()
    };
    assert_eq!(fired(&slow), [GateKind::LatencyIncrease]);
    // +100 % but only 0.5 ms: jitter, under the floor.
    let tiny = RouteFigures {
        primary_p95_ms: 0.5,
        candidate_p95_ms: 1.0,
        ..figures()
    };
    assert!(fired(&tiny).is_empty());
    let over = RouteFigures {
        candidate_p95_ms: 600.0,
        primary_p95_ms: 590.0,
        ..figures()
    };
    assert_eq!(fired(&over), [GateKind::LatencyP95]);
    let few = RouteFigures {
        candidate_latency_samples: LATENCY_MIN_SAMPLES - 1,
        ..slow
    };
    assert!(fired(&few).is_empty());
}

#[test]
fn a_rise_the_secondary_shows_too_is_not_the_candidates() {
    let machine = RouteFigures {
        candidate_p95_ms: 200.0,
        secondary_p95_ms: 190.0,
        secondary_latency_samples: 100,
        ..figures()
    };
    assert!(fired(&machine).is_empty());
    // The secondary stayed put: the candidate's rise is its own.
    let own = RouteFigures {
        secondary_p95_ms: 105.0,
        ..machine.clone()
    };
    assert_eq!(fired(&own), [GateKind::LatencyIncrease]);
    // Too few secondary samples to vouch for the machine.
    let thin = RouteFigures {
        secondary_latency_samples: LATENCY_MIN_SAMPLES - 1,
        ..machine
    };
    assert_eq!(fired(&thin), [GateKind::LatencyIncrease]);
}
