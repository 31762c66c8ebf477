use proptest::prelude::*;

use super::bootstrap::Rng;
use super::*;

fn lognormal(rng: &mut Rng, n: usize, median_ms: f64, sigma: f64, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| median_ms * scale * (sigma * rng.normal()).exp())
        .collect()
}

#[test]
fn quantiles_are_nearest_rank() {
    let d = Dist::from_samples(&(1..=100).map(f64::from).collect::<Vec<_>>());
    assert_eq!(d.len(), 100);
    assert_eq!(d.quantile(0.95), 95.0);
    assert_eq!(d.quantile(0.5), 50.0);
    assert_eq!(d.quantile(1.0), 100.0);
    assert_eq!(d.quantile(0.0), 1.0);
    assert_eq!(Dist::default().quantile(0.5), 0.0);
    let merged = Dist::from_pairs([(2.0, 1), (1.0, 2), (2.0, 3), (f64::NAN, 9), (5.0, 0)]);
    assert_eq!(merged.points(), &[(1.0, 2), (2.0, 4)]);
}

#[test]
fn a_histogram_gives_the_same_quantiles_as_its_samples() {
    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    let samples: Vec<u64> = (1..=1000).map(|i| i * 7).collect();
    for s in &samples {
        h.record(*s).expect("record");
    }
    let d = Dist::from_histogram(&h, 1.0);
    assert_eq!(d.len(), 1000);
    let p95 = d.quantile(0.95);
    assert!((p95 - 6650.0).abs() / 6650.0 < 0.001, "{p95}");
}

#[test]
fn normal_cdf_and_inverse_known_values() {
    assert!((normal::cdf(0.0) - 0.5).abs() < 1e-7);
    assert!((normal::cdf(1.959_964) - 0.975).abs() < 1e-6);
    assert!((normal::cdf(-2.326_348) - 0.01).abs() < 1e-6);
    assert!((normal::inverse_cdf(0.975) - 1.959_964).abs() < 1e-5);
    assert!((normal::inverse_cdf(0.001) + 3.090_232).abs() < 1e-5);
    assert!(normal::inverse_cdf(0.0).is_infinite());
}

#[test]
fn mann_whitney_known_answer_separated_samples() {
    let base = Dist::from_samples(&(1..=20).map(f64::from).collect::<Vec<_>>());
    let cand = Dist::from_samples(&(21..=40).map(f64::from).collect::<Vec<_>>());
    let r = mann_whitney(&cand, &base).expect("enough samples");
    assert_eq!(r.u, 400.0);
    assert_eq!(r.effect, 1.0);
    // z = (400 - 200 - 0.5) / sqrt(20·20·41/12)
    assert!((r.z - 199.5 / (400.0f64 * 41.0 / 12.0).sqrt()).abs() < 1e-9);
    assert!(r.p_value < 1e-7);
    // The other way round: no evidence the baseline-as-candidate is slower.
    let back = mann_whitney(&base, &cand).expect("enough samples");
    assert_eq!(back.u, 0.0);
    assert!(back.p_value > 0.999_999);
}

#[test]
fn mann_whitney_ties_and_all_equal() {
    let same = Dist::from_samples(&[5.0; 30]);
    let r = mann_whitney(&same, &same).expect("enough samples");
    assert_eq!((r.u, r.p_value, r.effect), (450.0, 1.0, 0.5));
    // Ties: candidate {1×10, 2×20}, baseline {1×20, 2×10}. Mid-ranks 15.5 and 45.5:
    // R = 10·15.5 + 20·45.5 = 1065, U = 1065 − 465 = 600.
    let c = Dist::from_pairs([(1.0, 10), (2.0, 20)]);
    let b = Dist::from_pairs([(1.0, 20), (2.0, 10)]);
    let r = mann_whitney(&c, &b).expect("enough samples");
    assert_eq!(r.u, 600.0);
    // Tie-corrected variance: 30·30/12 · (61 − (30³−30)·2 / (60·59)).
    let var: f64 = 900.0 / 12.0 * (61.0 - 2.0 * (27_000.0 - 30.0) / (60.0 * 59.0));
    assert!((r.z - (600.0 - 450.0 - 0.5) / var.sqrt()).abs() < 1e-9);
    assert!(r.p_value < 0.01);
}

#[test]
fn too_few_samples_give_no_test() {
    let small = Dist::from_samples(&[1.0; 19]);
    let big = Dist::from_samples(&[1.0; 100]);
    assert!(mann_whitney(&small, &big).is_none());
    assert!(mann_whitney(&big, &small).is_none());
    assert!(quantile_interval(&Dist::default(), 0.95, &Bootstrap::default()).is_none());
    assert!(wilson(0, 0, 0.95).is_none());
}

#[test]
fn wilson_known_answers() {
    let w = wilson(0, 10, 0.95).expect("trials");
    assert!(w.lower < 1e-12, "{w:?}");
    assert!((w.upper - 0.2775).abs() < 1e-3, "{w:?}");
    let w = wilson(5, 100, 0.95).expect("trials");
    assert!(
        (w.lower - 0.0215).abs() < 1e-3 && (w.upper - 0.1118).abs() < 1e-3,
        "{w:?}"
    );
    // Enough clean requests put the upper bound under 1 %.
    assert!(wilson(0, 400, 0.95).expect("trials").upper < 0.01);
    assert!(wilson(0, 300, 0.95).expect("trials").upper > 0.01);
}

#[test]
fn the_bootstrap_is_deterministic_and_bounded() {
    let mut rng = Rng::new(1);
    let d = Dist::from_samples(&lognormal(&mut rng, 5_000, 20.0, 0.4, 1.0));
    let b = Bootstrap::default();
    let one = quantile_interval(&d, 0.95, &b).expect("samples");
    let two = quantile_interval(&d, 0.95, &b).expect("samples");
    assert_eq!(one, two);
    assert!(
        one.lower <= one.estimate && one.estimate <= one.upper,
        "{one:?}"
    );
    // The P95 of lognormal(20 ms, 0.4) is 20·e^(0.4·1.645) ≈ 38.7 ms.
    assert!(one.lower < 38.7 && 38.7 < one.upper, "{one:?}");
    assert!(one.upper - one.lower < 4.0, "{one:?}");
    let huge = Bootstrap {
        resamples: usize::MAX,
        ..b
    };
    assert!(quantile_interval(&d, 0.95, &huge).is_some());
}

/// The latency trigger's decision as the gates take it: slower by Mann-Whitney and the
/// P95 over 1.2 × the baseline's with confidence.
fn fires(cand: &[f64], base: &[f64], seed: u64) -> (bool, bool) {
    let (c, b) = (Dist::from_samples(cand), Dist::from_samples(base));
    let mw = mann_whitney(&c, &b).expect("enough samples");
    let boot = Bootstrap {
        seed,
        ..Bootstrap::default()
    };
    let check = compare_quantile(&c, &b, 0.95, 1.2, 0.0, &boot).expect("samples");
    let slower = mw.p_value < 0.05;
    (slower, slower && check.excess.lower > 0.0)
}

#[test]
fn identical_distributions_rarely_fire() {
    let mut rng = Rng::new(42);
    let (mut mw_fired, mut fired) = (0, 0);
    for trial in 0..200 {
        let a = lognormal(&mut rng, 300, 20.0, 0.5, 1.0);
        let b = lognormal(&mut rng, 300, 20.0, 0.5, 1.0);
        let (slower, f) = fires(&a, &b, trial);
        mw_fired += usize::from(slower);
        fired += usize::from(f);
    }
    // Mann-Whitney alone is calibrated at α = 5 %; the trigger needs the ratio too.
    assert!(mw_fired <= 18, "Mann-Whitney fired {mw_fired} of 200");
    assert!(fired < 10, "the trigger fired {fired} of 200 A/A trials");
}

#[test]
fn a_thirty_percent_slower_candidate_always_fires() {
    let mut rng = Rng::new(7);
    for trial in 0..20 {
        let base = lognormal(&mut rng, 3_000, 20.0, 0.25, 1.0);
        let cand = lognormal(&mut rng, 3_000, 20.0, 0.25, 1.3);
        assert_eq!(fires(&cand, &base, trial), (true, true), "trial {trial}");
    }
}

#[test]
fn a_ten_percent_slower_candidate_is_slower_but_within_the_limit() {
    let mut rng = Rng::new(9);
    let base = lognormal(&mut rng, 3_000, 20.0, 0.25, 1.0);
    let cand = lognormal(&mut rng, 3_000, 20.0, 0.25, 1.1);
    let (c, b) = (Dist::from_samples(&cand), Dist::from_samples(&base));
    let check = compare_quantile(&c, &b, 0.95, 1.2, 0.0, &Bootstrap::default()).expect("s");
    assert!(check.excess.upper < 0.0, "{check:?}");
    assert!(
        check.ratio.lower > 1.0 && check.ratio.upper < 1.2,
        "{check:?}"
    );
}

#[test]
fn an_absolute_floor_keeps_sub_millisecond_jitter_quiet() {
    // 0.3 ms against 0.2 ms is +50 %, but far below a 50 ms floor.
    let base = vec![0.2; 200];
    let cand = vec![0.3; 200];
    let (c, b) = (Dist::from_samples(&cand), Dist::from_samples(&base));
    let check = compare_quantile(&c, &b, 0.95, 1.2, 50.0, &Bootstrap::default()).expect("s");
    assert!(check.excess.upper < 0.0 && (check.limit - 50.2).abs() < 1e-9);
}

proptest! {
    #[test]
    fn mann_whitney_is_antisymmetric(
        a in proptest::collection::vec(0u16..50, 20..80),
        b in proptest::collection::vec(0u16..50, 20..80),
    ) {
        let da = Dist::from_samples(&a.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        let db = Dist::from_samples(&b.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        let ab = mann_whitney(&da, &db).expect("enough");
        let ba = mann_whitney(&db, &da).expect("enough");
        prop_assert!((ab.effect + ba.effect - 1.0).abs() < 1e-9);
        prop_assert!((0.0..=1.0).contains(&ab.p_value));
        prop_assert!((ab.z + ba.z).abs() < 1e-9);
    }

    #[test]
    fn wilson_brackets_the_rate(k in 0u64..1000, extra in 0u64..1000) {
        let n = k + extra;
        prop_assume!(n > 0);
        let w = wilson(k, n, 0.95).expect("trials");
        prop_assert!(w.lower <= w.rate + 1e-12 && w.rate <= w.upper + 1e-12);
        prop_assert!(w.lower >= 0.0 && w.upper <= 1.0);
    }

    #[test]
    fn intervals_are_ordered(xs in proptest::collection::vec(0.0f64..1000.0, 1..200), seed: u64) {
        let d = Dist::from_samples(&xs);
        let b = Bootstrap { resamples: 200, confidence: 0.9, seed };
        let i = quantile_interval(&d, 0.95, &b).expect("samples");
        prop_assert!(i.lower <= i.upper);
        let min = d.points()[0].0;
        let max = d.points()[d.points().len() - 1].0;
        prop_assert!(i.lower >= min && i.upper <= max);
    }
}
