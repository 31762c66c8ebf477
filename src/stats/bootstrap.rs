//! The seeded bootstrap of quantiles: a confidence interval for one distribution's quantile
//! and for how far a candidate's quantile is from a limit set by the baseline's.
//!
//! Each resample is drawn exactly but cheaply: the k-th smallest of n values resampled from
//! an empirical distribution F is F⁻¹(U₍ₖ₎), where U₍ₖ₎ — the k-th smallest of n uniforms —
//! follows Beta(k, n − k + 1). One Beta draw and one binary search per resample, so the cost
//! is bounded by the number of resamples (capped at [`MAX_RESAMPLES`]) and the number of
//! distinct values, never by the sample count.

use serde::{Deserialize, Serialize};

use super::{Dist, rank_of};

/// Resamples are capped here whatever the caller asks.
pub const MAX_RESAMPLES: usize = 20_000;

/// How to bootstrap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Resamples (1..=[`MAX_RESAMPLES`]).
    pub resamples: usize,
    /// Two-sided confidence of the interval (e.g. 0.95).
    pub confidence: f64,
    /// Seed of the deterministic generator: the same inputs and seed give the same interval.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 2_000,
            confidence: 0.95,
            seed: 0x5eed_cafe,
        }
    }
}

/// A point estimate with a two-sided percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// How a candidate's quantile compares with a limit derived from the baseline's quantile:
/// `limit(b) = max(b × ratio, b + add)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LimitCheck {
    /// The candidate's quantile minus the limit (negative: within it).
    pub excess: Interval,
    /// The candidate's quantile over the baseline's.
    pub ratio: Interval,
    /// The limit at the observed baseline quantile.
    pub limit: f64,
}

/// The bootstrap interval of `dist`'s quantile `q`; `None` when empty.
pub fn quantile_interval(dist: &Dist, q: f64, b: &Bootstrap) -> Option<Interval> {
    if dist.is_empty() {
        return None;
    }
    let mut rng = Rng::new(b.seed);
    let sampler = QuantileSampler::new(dist, q);
    let mut draws: Vec<f64> = (0..b.resamples.clamp(1, MAX_RESAMPLES))
        .map(|_| sampler.draw(&mut rng))
        .collect();
    Some(percentile_interval(
        &mut draws,
        dist.quantile(q),
        b.confidence,
    ))
}

/// Bootstrap `candidate_q − max(baseline_q × ratio, baseline_q + add)` and the ratio of the
/// two quantiles, resampling both sides independently; `None` when either side is empty.
pub fn compare_quantile(
    candidate: &Dist,
    baseline: &Dist,
    q: f64,
    ratio: f64,
    add: f64,
    b: &Bootstrap,
) -> Option<LimitCheck> {
    if candidate.is_empty() || baseline.is_empty() {
        return None;
    }
    let limit_of = |base: f64| (base * ratio).max(base + add);
    let mut rng = Rng::new(b.seed);
    let (cs, bs) = (
        QuantileSampler::new(candidate, q),
        QuantileSampler::new(baseline, q),
    );
    let n = b.resamples.clamp(1, MAX_RESAMPLES);
    let mut excess = Vec::with_capacity(n);
    let mut ratios = Vec::with_capacity(n);
    for _ in 0..n {
        let (c, base) = (cs.draw(&mut rng), bs.draw(&mut rng));
        excess.push(c - limit_of(base));
        ratios.push(c / base.max(f64::MIN_POSITIVE));
    }
    let (c, base) = (candidate.quantile(q), baseline.quantile(q));
    Some(LimitCheck {
        excess: percentile_interval(&mut excess, c - limit_of(base), b.confidence),
        ratio: percentile_interval(&mut ratios, c / base.max(f64::MIN_POSITIVE), b.confidence),
        limit: limit_of(base),
    })
}

fn percentile_interval(draws: &mut [f64], estimate: f64, confidence: f64) -> Interval {
    draws.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence.clamp(0.5, 0.999_999)) / 2.0;
    let at = |p: f64| {
        let i = ((p * draws.len() as f64).floor() as usize).min(draws.len().saturating_sub(1));
        draws.get(i).copied().unwrap_or(estimate)
    };
    Interval {
        estimate,
        lower: at(alpha),
        upper: at(1.0 - alpha),
    }
}

/// Draws the bootstrap distribution of one quantile of one [`Dist`].
struct QuantileSampler<'a> {
    dist: &'a Dist,
    cum: Vec<u64>,
    /// Beta(k, n − k + 1) shape parameters.
    a: f64,
    b: f64,
}

impl<'a> QuantileSampler<'a> {
    fn new(dist: &'a Dist, q: f64) -> Self {
        let n = dist.len();
        let k = rank_of(q, n);
        QuantileSampler {
            dist,
            cum: dist.cumulative(),
            a: k as f64,
            b: (n - k + 1) as f64,
        }
    }

    fn draw(&self, rng: &mut Rng) -> f64 {
        let x = rng.gamma(self.a);
        let y = rng.gamma(self.b);
        let u = x / (x + y);
        self.dist.at_fraction(&self.cum, u)
    }
}

/// A small deterministic generator (fastrand's wyrand under a fixed seed) with the normal
/// and gamma draws the bootstrap needs.
pub(crate) struct Rng(fastrand::Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// Uniform in (0, 1].
    pub(crate) fn uniform(&mut self) -> f64 {
        1.0 - self.0.f64()
    }

    /// Standard normal (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.0.f64());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Gamma(shape, 1) for shape ≥ 1 (Marsaglia and Tsang); smaller shapes are raised to 1
    /// (the bootstrap only asks for shapes ≥ 1).
    pub(crate) fn gamma(&mut self, shape: f64) -> f64 {
        let d = shape.max(1.0) - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }
}
