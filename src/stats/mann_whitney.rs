//! The Mann-Whitney U test, one-sided: is the candidate stochastically slower (larger) than
//! the baseline? Normal approximation with tie correction and continuity correction, valid
//! from [`MIN_SAMPLES_MW`] samples per side. Works on [`Dist`]s, so histogram buckets are
//! simply ties; the work is linear in the number of distinct values, not of samples.

use serde::{Deserialize, Serialize};

use super::{Dist, normal};

/// Fewer samples than this on either side and the normal approximation is not used.
pub const MIN_SAMPLES_MW: u64 = 20;

/// The test's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U of the candidate: how many (candidate, baseline) pairs the candidate wins (ties ½).
    pub u: f64,
    /// Standardised U (positive: the candidate tends to be larger).
    pub z: f64,
    /// One-sided p-value for "the candidate is larger".
    pub p_value: f64,
    /// P(candidate > baseline) + ½ P(equal): 0.5 means no tendency either way.
    pub effect: f64,
}

/// One-sided test that `candidate` tends to exceed `baseline`; `None` below
/// [`MIN_SAMPLES_MW`] samples on either side.
pub fn mann_whitney(candidate: &Dist, baseline: &Dist) -> Option<MannWhitney> {
    let (n1, n2) = (candidate.len(), baseline.len());
    if n1 < MIN_SAMPLES_MW || n2 < MIN_SAMPLES_MW {
        return None;
    }
    let (a, b) = (candidate.points(), baseline.points());
    let (mut i, mut j) = (0usize, 0usize);
    // Ranks so far, the candidate's rank sum and Σ(t³ - t) over tie groups, in f64 (counts
    // from histograms can be large).
    let mut below = 0f64;
    let mut rank_sum = 0f64;
    let mut ties = 0f64;
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let mut ca = 0f64;
        let mut cb = 0f64;
        if let Some(x) = a.get(i).filter(|x| x.0 == v) {
            ca = x.1 as f64;
            i += 1;
        }
        if let Some(y) = b.get(j).filter(|y| y.0 == v) {
            cb = y.1 as f64;
            j += 1;
        }
        let t = ca + cb;
        let mid_rank = below + (t + 1.0) / 2.0;
        rank_sum += ca * mid_rank;
        ties += t * t * t - t;
        below += t;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let n = n1f + n2f;
    let u = rank_sum - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let effect = u / (n1f * n2f);
    if var <= 0.0 {
        // Every value is the same: no evidence of any difference.
        return Some(MannWhitney {
            u,
            z: 0.0,
            p_value: 1.0,
            effect,
        });
    }
    let diff = u - mean;
    // Continuity correction towards the mean (never past it).
    let corrected = if diff.abs() <= 0.5 {
        0.0
    } else {
        diff - 0.5 * diff.signum()
    };
    let z = corrected / var.sqrt();
    Some(MannWhitney {
        u,
        z,
        p_value: 1.0 - normal::cdf(z),
        effect,
    })
}
