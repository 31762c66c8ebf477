//! Latency distributions per target, kept in HDR histograms (microseconds, 3 significant
//! figures, auto-resizing), summarised as percentiles for reports.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// An HDR histogram of durations in microseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        let mut hist = match Histogram::new_with_bounds(1, 60_000_000, 3) {
            Ok(h) => h,
            Err(e) => unreachable!("constant histogram bounds are valid: {e:?}"),
        };
        hist.auto(true);
        Latency { hist }
    }

    pub fn record_us(&mut self, us: u64) {
        self.hist.saturating_record(us.max(1));
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Value at quantile `q` (0.0–1.0) in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.value_at_quantile(q)
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: self.count(),
            p50_ms: ms(self.quantile_us(0.50)),
            p90_ms: ms(self.quantile_us(0.90)),
            p95_ms: ms(self.quantile_us(0.95)),
            p99_ms: ms(self.quantile_us(0.99)),
            max_ms: ms(if self.hist.is_empty() {
                0
            } else {
                self.hist.max()
            }),
            mean_ms: if self.hist.is_empty() {
                0.0
            } else {
                self.hist.mean() / 1000.0
            },
        }
    }
}

/// Percentiles of one target's latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut l = Latency::new();
        for ms in 1..=100u64 {
            l.record_us(ms * 1000);
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p95_ms - 95.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Latency::new().summary().p99_ms, 0.0);
    }
}
