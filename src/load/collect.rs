//! What a load run measured, per side, target and route, and the mergeable result file.
//!
//! Owns the [`Collector`] the attack records into (one mutex per series, created before
//! the attack so recording never allocates a key), the serialisable [`LoadResult`] (a whole
//! run or one worker's part: counts and HDR buckets, so parts add up exactly) and its merge,
//! which refuses parts of different configurations. No network, no verdicts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::Dist;

pub use super::merge::{MergeError, merge};

/// The result file format name.
pub const RESULT_FORMAT: &str = "cutover.load-result/v1";
/// Longest latency recorded (1 hour, in µs); longer ones count as this.
const MAX_US: u64 = 3_600_000_000;
/// The timeline keeps at most this many windows; a longer run widens them.
pub const MAX_WINDOWS: u64 = 60;

/// Which side of the comparison a target is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Baseline,
    Candidate,
}

/// One request's outcome as the collector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// No answer: connection refused, reset, timed out.
    Transport,
}

/// Counts and a latency histogram.
#[derive(Debug, Clone)]
pub struct Counts {
    pub requests: u64,
    /// 5xx answers.
    pub status_5xx: u64,
    /// Transport failures.
    pub transport: u64,
    pub status_4xx: u64,
    /// Latency of every answer (not of transport failures), µs.
    pub latency: Histogram<u64>,
    /// With a rate: the same latencies corrected for coordinated omission
    /// (`record_correct` with the expected interval between one user's requests), µs.
    pub corrected: Option<Histogram<u64>>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            requests: 0,
            status_5xx: 0,
            transport: 0,
            status_4xx: 0,
            latency: new_histogram(3),
            corrected: None,
        }
    }
}

pub(super) fn new_histogram(sigfig: u8) -> Histogram<u64> {
    match Histogram::new(sigfig) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram settings are valid: {e:?}"),
    }
}

impl Counts {
    fn record(&mut self, outcome: Outcome, elapsed: Duration, interval_us: Option<u64>) {
        self.requests += 1;
        match outcome {
            Outcome::Transport => self.transport += 1,
            Outcome::Status(s) => {
                if s >= 500 {
                    self.status_5xx += 1;
                } else if s >= 400 {
                    self.status_4xx += 1;
                }
                let us = u64::try_from(elapsed.as_micros()).unwrap_or(MAX_US);
                let us = us.clamp(1, MAX_US);
                if self.latency.record(us).is_err() {
                    self.latency.saturating_record(us);
                }
                if let Some(iv) = interval_us {
                    let h = self.corrected.get_or_insert_with(|| new_histogram(3));
                    // Values are clamped to the histogram's range, so this cannot fail.
                    let _ = h.record_correct(us, iv.max(1));
                }
            }
        }
    }

    /// 5xx plus transport failures.
    pub fn errors(&self) -> u64 {
        self.status_5xx + self.transport
    }

    /// Latencies in milliseconds.
    pub fn dist_ms(&self) -> Dist {
        Dist::from_histogram(&self.latency, 0.001)
    }

    /// Coordinated-omission corrected latencies in milliseconds, when recorded.
    pub fn corrected_ms(&self) -> Option<Dist> {
        self.corrected
            .as_ref()
            .map(|h| Dist::from_histogram(h, 0.001))
    }

    pub(super) fn to_file(&self) -> CountsFile {
        CountsFile {
            requests: self.requests,
            status_5xx: self.status_5xx,
            transport: self.transport,
            status_4xx: self.status_4xx,
            latency_us: self
                .latency
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
            corrected_us: self
                .corrected
                .iter()
                .flat_map(|h| {
                    h.iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                })
                .collect(),
        }
    }

    pub(super) fn add_file(&mut self, f: &CountsFile) {
        self.requests += f.requests;
        self.status_5xx += f.status_5xx;
        self.transport += f.transport;
        self.status_4xx += f.status_4xx;
        for &(v, c) in &f.latency_us {
            let _ = self.latency.record_n(v.clamp(1, MAX_US), c);
        }
        if !f.corrected_us.is_empty() {
            let h = self.corrected.get_or_insert_with(|| new_histogram(3));
            for &(v, c) in &f.corrected_us {
                let _ = h.record_n(v.clamp(1, MAX_US), c);
            }
        }
    }
}

/// [`Counts`] as written: HDR buckets as `[value_us, count]` pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsFile {
    pub requests: u64,
    pub status_5xx: u64,
    pub transport: u64,
    pub status_4xx: u64,
    pub latency_us: Vec<(u64, u64)>,
    /// Coordinated-omission corrected buckets (runs with a rate only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrected_us: Vec<(u64, u64)>,
}

/// What the collector records into: one series per (side, target, route).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub side: Side,
    pub target: String,
    pub route: String,
}

/// The index of the series `(side, target, route)` in `keys`, added when new.
pub fn series_index(keys: &mut Vec<SeriesKey>, side: Side, target: &str, route: &str) -> usize {
    let key = SeriesKey {
        side,
        target: target.into(),
        route: route.into(),
    };
    match keys.iter().position(|k| *k == key) {
        Some(i) => i,
        None => {
            keys.push(key);
            keys.len() - 1
        }
    }
}

/// The live recorder of one attack.
#[derive(Debug)]
pub struct Collector {
    started: Instant,
    window: Duration,
    keys: Vec<SeriesKey>,
    series: Vec<Mutex<Counts>>,
    /// Per side: the timeline windows (requests, errors, 2-digit latency).
    timeline: [Mutex<Vec<Counts>>; 2],
    /// Scenario step runs not sent (a variable they need was never set).
    not_sent: AtomicU64,
    /// The expected interval between one user's requests (µs), when a rate is set.
    interval_us: Option<u64>,
    /// When the first and the last request ended, µs since `started` (`u64::MAX`: none
    /// yet): the run's duration is the time requests were sent, without the attack's
    /// start-up and shut-down.
    first_us: AtomicU64,
    last_us: AtomicU64,
}

impl Collector {
    /// A collector for these series over a run of `duration`.
    pub fn new(keys: Vec<SeriesKey>, duration: Duration) -> Collector {
        let secs = duration.as_secs().max(1);
        let window = Duration::from_secs(secs.div_ceil(MAX_WINDOWS).max(1));
        Collector {
            started: Instant::now(),
            window,
            series: keys.iter().map(|_| Mutex::new(Counts::default())).collect(),
            keys,
            timeline: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
            not_sent: AtomicU64::new(0),
            interval_us: None,
            first_us: AtomicU64::new(u64::MAX),
            last_us: AtomicU64::new(0),
        }
    }

    /// Correct for coordinated omission: with `rate` requests per second in all spread over
    /// `users` users, each user is expected to send one request every `users / rate`
    /// seconds; a longer latency stands for the requests it held back
    /// (`Histogram::record_correct`).
    pub fn with_rate(mut self, rate: Option<usize>, users: usize) -> Collector {
        self.interval_us = rate
            .filter(|r| *r > 0)
            .map(|r| (users.max(1) as u64 * 1_000_000 / r as u64).max(1));
        self
    }

    /// Count one scenario step run that was not sent (its variables were unset).
    pub fn not_sent(&self) {
        self.not_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// The index of a series, to record into without a lookup.
    pub fn index(&self, side: Side, target: &str, route: &str) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| k.side == side && k.target == target && k.route == route)
    }

    pub fn keys(&self) -> &[SeriesKey] {
        &self.keys
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// How long requests were sent: from the first request's end to the last one's (the
    /// collector's whole life while fewer than two were recorded).
    pub fn sending(&self) -> Duration {
        let (first, last) = (
            self.first_us.load(Ordering::Relaxed),
            self.last_us.load(Ordering::Relaxed),
        );
        if first == u64::MAX || last <= first {
            return self.started.elapsed();
        }
        Duration::from_micros(last - first)
    }

    /// Record one request of series `i`, `elapsed` from its start to the end of its body.
    pub fn record(&self, i: usize, outcome: Outcome, elapsed: Duration) {
        let (Some(key), Some(series)) = (self.keys.get(i), self.series.get(i)) else {
            return;
        };
        if let Ok(mut s) = series.lock() {
            s.record(outcome, elapsed, self.interval_us);
        }
        let now = self.started.elapsed();
        let us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX - 1);
        self.first_us.fetch_min(us, Ordering::Relaxed);
        self.last_us.fetch_max(us, Ordering::Relaxed);
        let w = (now.as_secs() / self.window.as_secs().max(1)).min(MAX_WINDOWS - 1) as usize;
        if let Ok(mut t) = self.timeline[key.side as usize].lock() {
            while t.len() <= w {
                t.push(Counts {
                    latency: new_histogram(2),
                    ..Counts::default()
                });
            }
            t[w].record(outcome, elapsed, None);
        }
    }

    /// Live figures per side over the last full-or-current window: (requests in it,
    /// errors in it, P95 ms, total requests so far, total errors so far).
    pub fn live(&self, side: Side) -> (u64, u64, f64, u64, u64) {
        let Ok(t) = self.timeline[side as usize].lock() else {
            return (0, 0, 0.0, 0, 0);
        };
        let total = t.iter().map(|c| c.requests).sum();
        let errors = t.iter().map(Counts::errors).sum();
        let last = t.last();
        (
            last.map_or(0, |c| c.requests),
            last.map_or(0, Counts::errors),
            last.map_or(0.0, |c| c.latency.value_at_quantile(0.95) as f64 / 1000.0),
            total,
            errors,
        )
    }

    /// Everything recorded, as a result file's body.
    pub fn result(&self, meta: ResultMeta) -> LoadResult {
        let series = self
            .keys
            .iter()
            .zip(&self.series)
            .map(|(k, s)| SeriesFile {
                key: k.clone(),
                counts: s.lock().map(|c| c.to_file()).unwrap_or_default(),
            })
            .collect();
        let timeline = [Side::Baseline, Side::Candidate]
            .into_iter()
            .map(|side| TimelineFile {
                side,
                windows: self.timeline[side as usize]
                    .lock()
                    .map(|t| t.iter().map(Counts::to_file).collect())
                    .unwrap_or_default(),
            })
            .collect();
        LoadResult {
            format: RESULT_FORMAT.into(),
            meta,
            window_s: self.window.as_secs(),
            duration_s: self.sending().as_secs_f64(),
            series,
            timeline,
            not_sent: self.not_sent.load(Ordering::Relaxed),
        }
    }
}

/// What a result belongs to; parts merge only when `config_digest` agrees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultMeta {
    pub run_id: String,
    /// SHA-256 over the triggers, targets, routes and workload.
    pub config_digest: String,
    /// `i/N` for a worker's part; `None` for a whole run.
    #[serde(default)]
    pub worker: Option<(u32, u32)>,
    pub users: usize,
    #[serde(default)]
    pub rate: Option<usize>,
    pub calibrate: bool,
    /// Target names: the baseline (primary) and each candidate.
    pub baseline: String,
    pub candidates: Vec<String>,
    /// Human description of the workload (built-in or scenario files).
    pub workload: String,
    /// The triggers in force (a merge decides with these).
    pub triggers: super::model::TriggerSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesFile {
    #[serde(flatten)]
    pub key: SeriesKey,
    #[serde(flatten)]
    pub counts: CountsFile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineFile {
    pub side: Side,
    pub windows: Vec<CountsFile>,
}

/// A run's (or a worker's) measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadResult {
    pub format: String,
    pub meta: ResultMeta,
    pub window_s: u64,
    /// How long requests were sent (first to last request, without start-up and
    /// shut-down), seconds: the denominator of every rate.
    pub duration_s: f64,
    pub series: Vec<SeriesFile>,
    pub timeline: Vec<TimelineFile>,
    /// Scenario step runs not sent because a variable they need was never set (its
    /// capture failed, e.g. a `register` answered 400 for a second user).
    #[serde(default)]
    pub not_sent: u64,
}

/// A series' counts from its file form (for verdicts over a result).
pub fn counts_of(f: &CountsFile) -> Counts {
    let mut c = Counts::default();
    c.add_file(f);
    c
}

#[cfg(test)]
#[path = "collect_tests.rs"]
mod tests;
