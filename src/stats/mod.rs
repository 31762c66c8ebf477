//! Statistics for deciding a load run: is the candidate slower than the baseline, by how
//! much, and is its error rate above a limit — with an honest "not enough evidence" answer.
//!
//! Owns the weighted sample type [`Dist`] (raw samples or HDR histogram buckets, so the same
//! code serves one run and merged partial results), the one-sided Mann-Whitney U test
//! ([`mann_whitney`]), the seeded bootstrap of quantiles and of a quantile-based limit
//! ([`bootstrap`]), and the Wilson score interval ([`wilson`]). Pure: no I/O, no clock, no
//! global randomness (every random draw comes from a caller-given seed), bounded work
//! whatever the sample count.

pub mod bootstrap;
pub mod mann_whitney;
pub mod normal;
pub mod wilson;

pub use bootstrap::{Bootstrap, Interval, LimitCheck, compare_quantile, quantile_interval};
pub use mann_whitney::{MIN_SAMPLES_MW, MannWhitney, mann_whitney};
pub use wilson::{WilsonInterval, wilson};

/// A distribution of non-negative values as sorted `(value, count)` pairs (distinct values,
/// positive counts). Built from raw samples or from an HDR histogram's recorded buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dist {
    points: Vec<(f64, u64)>,
    n: u64,
}

impl Dist {
    /// From raw samples; non-finite values are ignored.
    pub fn from_samples(samples: &[f64]) -> Dist {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let mut points: Vec<(f64, u64)> = Vec::new();
        for x in v {
            match points.last_mut() {
                Some((last, c)) if *last == x => *c += 1,
                _ => points.push((x, 1)),
            }
        }
        Dist::from_sorted(points)
    }

    /// From `(value, count)` pairs in any order; zero counts and non-finite values dropped,
    /// equal values merged.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (f64, u64)>) -> Dist {
        let mut v: Vec<(f64, u64)> = pairs
            .into_iter()
            .filter(|(x, c)| x.is_finite() && *c > 0)
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut points: Vec<(f64, u64)> = Vec::with_capacity(v.len());
        for (x, c) in v {
            match points.last_mut() {
                Some((last, lc)) if *last == x => *lc = lc.saturating_add(c),
                _ => points.push((x, c)),
            }
        }
        Dist::from_sorted(points)
    }

    /// From an HDR histogram: each recorded bucket at its highest equivalent value, times
    /// `scale` (e.g. `0.001` for microseconds → milliseconds).
    pub fn from_histogram<T: hdrhistogram::Counter>(
        h: &hdrhistogram::Histogram<T>,
        scale: f64,
    ) -> Dist {
        Dist::from_pairs(h.iter_recorded().map(|v| {
            (
                h.highest_equivalent(v.value_iterated_to()) as f64 * scale,
                v.count_at_value().as_u64(),
            )
        }))
    }

    fn from_sorted(points: Vec<(f64, u64)>) -> Dist {
        let n = points.iter().fold(0u64, |a, (_, c)| a.saturating_add(*c));
        Dist { points, n }
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The sorted `(value, count)` pairs.
    pub fn points(&self) -> &[(f64, u64)] {
        &self.points
    }

    /// The value of rank `rank` (1-based; clamped to 1..=n); 0 when empty.
    pub fn at_rank(&self, rank: u64) -> f64 {
        let rank = rank.clamp(1, self.n.max(1));
        let mut seen = 0u64;
        for (x, c) in &self.points {
            seen = seen.saturating_add(*c);
            if seen >= rank {
                return *x;
            }
        }
        self.points.last().map_or(0.0, |p| p.0)
    }

    /// The nearest-rank quantile `q` (0–1): the smallest value with at least `ceil(q·n)`
    /// samples at or below it; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        self.at_rank(rank_of(q, self.n))
    }

    /// The value at cumulative fraction `u` (0–1), by binary search over cumulative counts
    /// (`cum` from [`Dist::cumulative`]).
    fn at_fraction(&self, cum: &[u64], u: f64) -> f64 {
        let rank = ((u * self.n as f64).ceil() as u64).clamp(1, self.n.max(1));
        let i = cum.partition_point(|&c| c < rank);
        self.points
            .get(i)
            .or(self.points.last())
            .map_or(0.0, |p| p.0)
    }

    fn cumulative(&self) -> Vec<u64> {
        let mut acc = 0u64;
        self.points
            .iter()
            .map(|(_, c)| {
                acc = acc.saturating_add(*c);
                acc
            })
            .collect()
    }
}

/// `ceil(q·n)` clamped to 1..=n.
fn rank_of(q: f64, n: u64) -> u64 {
    let q = if q.is_finite() {
        q.clamp(0.0, 1.0)
    } else {
        1.0
    };
    ((q * n as f64).ceil() as u64).clamp(1, n.max(1))
}

#[cfg(test)]
mod tests;
