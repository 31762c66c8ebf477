use super::*;
use crate::stats::bootstrap::Rng;

fn samples(seed: u64, n: usize, median: f64, sigma: f64) -> Dist {
    let mut rng = Rng::new(seed);
    Dist::from_samples(
        &(0..n)
            .map(|_| median * (sigma * rng.normal()).exp())
            .collect::<Vec<_>>(),
    )
}

fn figures(candidate: Dist, baseline: Dist) -> LoadFigures {
    let (c, b) = (candidate.len(), baseline.len());
    LoadFigures {
        route: "GET /auth/me".into(),
        candidate,
        baseline,
        candidate_requests: c,
        baseline_requests: b,
        ..LoadFigures::default()
    }
}

fn decision(results: &[TriggerResult], t: LoadTrigger) -> Decision {
    results
        .iter()
        .find(|r| r.trigger == t)
        .map(|r| r.decision)
        .unwrap_or_else(|| panic!("{t:?} not evaluated"))
}

#[test]
fn same_distribution_proceeds() {
    let f = figures(samples(1, 2_000, 5.0, 0.3), samples(2, 2_000, 5.0, 0.3));
    let r = evaluate(&f, &Triggers::default());
    assert_eq!(
        Verdict::of(r.iter().map(|r| r.decision)),
        Verdict::Proceed,
        "{r:#?}"
    );
    assert_eq!(r.len(), 3, "optional overhead triggers are off by default");
}

#[test]
fn two_hundred_ms_slower_rolls_back_on_the_increase_only() {
    let slow = Dist::from_pairs(
        samples(1, 500, 5.0, 0.3)
            .points()
            .iter()
            .map(|&(v, c)| (v + 200.0, c)),
    );
    let f = figures(slow, samples(2, 500, 5.0, 0.3));
    let r = evaluate(&f, &Triggers::default());
    assert_eq!(decision(&r, LoadTrigger::LatencyIncrease), Decision::Fail);
    assert_eq!(decision(&r, LoadTrigger::LatencyP95), Decision::Pass);
    let inc = r
        .iter()
        .find(|r| r.trigger == LoadTrigger::LatencyIncrease)
        .expect("r");
    assert!(inc.message.contains("over the limit"), "{}", inc.message);
    assert!(inc.p_value.is_some_and(|p| p < 1e-6));
}

#[test]
fn the_absolute_limit_and_the_optional_overheads() {
    let slow = samples(3, 500, 400.0, 0.1);
    let f = figures(slow, samples(4, 500, 300.0, 0.1));
    let t = Triggers {
        p50_overhead_ms: Some(50.0),
        p99_overhead_ms: Some(100.0),
        ..Triggers::default()
    };
    let r = evaluate(&f, &t);
    assert_eq!(decision(&r, LoadTrigger::LatencyP95), Decision::Fail);
    assert_eq!(
        decision(&r, LoadTrigger::LatencyP50Overhead),
        Decision::Fail
    );
    assert_eq!(
        decision(&r, LoadTrigger::LatencyP99Overhead),
        Decision::Fail
    );
    assert_eq!(r.len(), 5);
}

#[test]
fn too_few_samples_are_inconclusive_never_pass() {
    let f = figures(samples(1, 50, 5.0, 0.3), samples(2, 50, 5.0, 0.3));
    let r = evaluate(&f, &Triggers::default());
    assert_eq!(
        decision(&r, LoadTrigger::LatencyP95),
        Decision::Inconclusive
    );
    assert_eq!(
        decision(&r, LoadTrigger::LatencyIncrease),
        Decision::Inconclusive
    );
    // 0 errors in 50 requests: the upper bound is far above 1 %.
    assert_eq!(decision(&r, LoadTrigger::ErrorRate), Decision::Inconclusive);
    assert_eq!(
        Verdict::of(r.iter().map(|r| r.decision)),
        Verdict::Inconclusive
    );
    assert!(r[1].message.contains("too few samples"), "{}", r[1].message);
}

#[test]
fn error_rate_decisions() {
    let t = Triggers::default();
    let mut f = figures(Dist::default(), Dist::default());
    f.candidate_requests = 1_000;
    f.baseline_requests = 1_000;
    f.candidate_errors = 50;
    assert_eq!(error_rate(&f, &t).decision, Decision::Fail);
    f.candidate_errors = 0;
    assert_eq!(error_rate(&f, &t).decision, Decision::Pass);
    f.candidate_errors = 12;
    assert_eq!(error_rate(&f, &t).decision, Decision::Inconclusive);
    // The baseline fails as often: not the candidate's doing.
    f.candidate_errors = 50;
    f.baseline_errors = 60;
    assert_ne!(error_rate(&f, &t).decision, Decision::Fail);
    // 4xx count only when asked.
    f.candidate_errors = 0;
    f.baseline_errors = 0;
    f.candidate_4xx = 100;
    assert_eq!(error_rate(&f, &t).decision, Decision::Pass);
    let strict = Triggers {
        errors_include_4xx: true,
        ..Triggers::default()
    };
    assert_eq!(error_rate(&f, &strict).decision, Decision::Fail);
}

#[test]
fn the_same_samples_give_the_same_verdict() {
    let f = figures(samples(5, 300, 5.0, 0.5), samples(6, 300, 5.0, 0.5));
    assert_eq!(
        evaluate(&f, &Triggers::default()),
        evaluate(&f, &Triggers::default())
    );
}

#[test]
fn verdict_of_decisions() {
    use Decision::*;
    assert_eq!(Verdict::of([Pass, Pass]), Verdict::Proceed);
    assert_eq!(Verdict::of([Pass, Inconclusive]), Verdict::Inconclusive);
    assert_eq!(Verdict::of([Inconclusive, Fail]), Verdict::Rollback);
    assert_eq!(Verdict::of([]), Verdict::Inconclusive);
}
