//! Latency distributions per target, kept in compact HDR histograms (microseconds, 2
//! significant figures — at most 1 % error — `u32` counts), summarised as percentiles for
//! reports.
//!
//! Sized to what they must hold: nothing is allocated until the first value (a route with no
//! secondary pays one pointer for it), the histogram grows only as far as the largest value
//! seen, and values are clamped to [`MAX_US`] (one hour). A histogram holding 1 µs – 60 s
//! takes about 10 KB; the former 3-digit `u64` one took about 140 KB.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant decimal digits kept: values are exact to within 1 %.
pub const SIGFIG: u8 = 2;
/// Longest duration recorded; longer ones count as this.
pub const MAX_US: u64 = 3_600_000_000;

/// An HDR histogram of durations in microseconds, allocated on first use.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    hist: Option<Box<Histogram<u32>>>,
}

impl Latency {
    pub fn new() -> Latency {
        Latency::default()
    }

    pub fn record_us(&mut self, us: u64) {
        if self.hist.is_none() {
            match Histogram::new(SIGFIG) {
                Ok(h) => self.hist = Some(Box::new(h)),
                Err(e) => unreachable!("constant histogram settings are valid: {e:?}"),
            }
        }
        if let Some(h) = self.hist.as_mut() {
            let us = us.clamp(1, MAX_US);
            // `record` grows the histogram up to the value (bounded by MAX_US); counts
            // saturate at u32::MAX per bucket instead of overflowing.
            if h.record(us).is_err() {
                h.saturating_record(us);
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.hist.as_ref().map_or(0, |h| h.len())
    }

    /// Bytes this latency holds (the struct and its counts), for memory accounting.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.hist.as_ref().map_or(0, |h| {
                std::mem::size_of::<Histogram<u32>>()
                    + h.distinct_values() * std::mem::size_of::<u32>()
            })
    }

    /// Value at quantile `q` (0.0–1.0) in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        match &self.hist {
            Some(h) if !h.is_empty() => h.value_at_quantile(q),
            _ => 0,
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        let (max, mean) = match &self.hist {
            Some(h) if !h.is_empty() => (h.max(), h.mean() / 1000.0),
            _ => (0, 0.0),
        };
        LatencySummary {
            count: self.count(),
            p50_ms: ms(self.quantile_us(0.50)),
            p90_ms: ms(self.quantile_us(0.90)),
            p95_ms: ms(self.quantile_us(0.95)),
            p99_ms: ms(self.quantile_us(0.99)),
            max_ms: ms(max),
            mean_ms: mean,
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.01
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut l = Latency::new();
        for ms in 1..=100u64 {
            l.record_us(ms * 1000);
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert!(close(s.p50_ms, 50.0), "{s:?}");
        assert!(close(s.p95_ms, 95.0), "{s:?}");
        assert!(close(s.max_ms, 100.0), "{s:?}");
    }

    #[test]
    fn empty_is_zero_and_costs_a_pointer() {
        let l = Latency::new();
        assert_eq!(l.summary().p99_ms, 0.0);
        assert_eq!(l.bytes(), std::mem::size_of::<usize>());
    }

    /// The memory figure behind the module docs: 1 µs – 60 s, and an hour-long outlier.
    #[test]
    fn sized_to_what_it_holds() {
        let mut l = Latency::new();
        l.record_us(1);
        l.record_us(60_000_000);
        let full = l.bytes();
        assert!(full < 16 * 1024, "{full} bytes");
        l.record_us(u64::MAX);
        assert!(l.bytes() < 24 * 1024, "{} bytes", l.bytes());
        assert_eq!(l.summary().count, 3);
        assert!(close(l.summary().max_ms, MAX_US as f64 / 1000.0));
    }
}
