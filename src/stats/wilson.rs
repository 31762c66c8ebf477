//! The Wilson score interval for a proportion (an error rate): well-behaved at 0 and at
//! small counts, where the normal ("Wald") interval collapses to nothing.

use serde::{Deserialize, Serialize};

use super::normal;

/// A two-sided interval around `successes / trials`, as fractions (0–1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WilsonInterval {
    pub rate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The Wilson score interval at `confidence` (two-sided, e.g. 0.95); `None` without trials.
pub fn wilson(successes: u64, trials: u64, confidence: f64) -> Option<WilsonInterval> {
    if trials == 0 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let k = successes.min(trials) as f64;
    let n = trials as f64;
    let p = k / n;
    let z = normal::inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(WilsonInterval {
        rate: p,
        lower: (center - half).max(0.0),
        upper: (center + half).min(1.0),
    })
}
