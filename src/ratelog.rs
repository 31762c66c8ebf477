//! Rate limits for log lines about events that can repeat thousands of times a second
//! (accept errors, upstream failures, exchanges dropped by the pipeline or for memory).
//!
//! Owns only the decision "log a line now, and with which count": the first event of a
//! kind is logged at once (with its message), later ones are counted and summarised in at
//! most one line per interval. Never formats or writes a line itself, and never holds its
//! lock while the caller logs. Memory is bounded by the keys the caller uses (targets ×
//! failure kinds, fixed by configuration), never by traffic.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a repeating event is summarised, unless a caller asks otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What the caller should log for this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// The first event of its kind: log it with its message.
    First,
    /// A summary: `count` events (this one included) since the last line.
    Summary { count: u64 },
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    unlogged: u64,
}

impl State {
    fn hit(&mut self, now: Instant, interval: Duration) -> Option<Emit> {
        self.unlogged += 1;
        let first = self.last.is_none();
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return None;
        }
        self.last = Some(now);
        let count = std::mem::take(&mut self.unlogged);
        Some(if first {
            Emit::First
        } else {
            Emit::Summary { count }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// One rate-limited event kind.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    state: Mutex<State>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(DEFAULT_INTERVAL)
    }
}

impl RateLimit {
    pub fn new(interval: Duration) -> RateLimit {
        RateLimit {
            interval,
            state: Mutex::default(),
        }
    }

    /// The interval between two lines.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Count one event; `Some` when a line is due now.
    pub fn hit(&self) -> Option<Emit> {
        self.hit_at(Instant::now())
    }

    fn hit_at(&self, now: Instant) -> Option<Emit> {
        lock(&self.state).hit(now, self.interval)
    }
}

/// Rate-limited event kinds told apart by a key (e.g. target and failure kind), each with
/// its own first line and its own summaries. The caller keeps the keys bounded.
#[derive(Debug)]
pub struct KeyedRateLimit<K> {
    interval: Duration,
    keys: Mutex<Vec<(K, State)>>,
}

impl<K: PartialEq> Default for KeyedRateLimit<K> {
    fn default() -> Self {
        KeyedRateLimit::new(DEFAULT_INTERVAL)
    }
}

impl<K: PartialEq> KeyedRateLimit<K> {
    pub fn new(interval: Duration) -> KeyedRateLimit<K> {
        KeyedRateLimit {
            interval,
            keys: Mutex::new(Vec::new()),
        }
    }

    /// The interval between two lines of one key.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Count one event of `key`; `Some` when a line is due now.
    pub fn hit(&self, key: K) -> Option<Emit> {
        self.hit_at(key, Instant::now())
    }

    fn hit_at(&self, key: K, now: Instant) -> Option<Emit> {
        let mut keys = lock(&self.keys);
        let i = match keys.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                keys.push((key, State::default()));
                keys.len() - 1
            }
        };
        keys[i].1.hit(now, self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_then_one_summary_per_interval_with_the_count() {
        let limit = RateLimit::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(limit.hit_at(t0), Some(Emit::First));
        for k in 1..=99 {
            assert_eq!(limit.hit_at(t0 + Duration::from_millis(k * 10)), None);
        }
        // 99 unlogged, plus this one.
        assert_eq!(
            limit.hit_at(t0 + Duration::from_secs(5)),
            Some(Emit::Summary { count: 100 })
        );
        assert_eq!(limit.hit_at(t0 + Duration::from_secs(6)), None);
        assert_eq!(
            limit.hit_at(t0 + Duration::from_secs(11)),
            Some(Emit::Summary { count: 2 })
        );
    }

    #[test]
    fn keys_are_limited_independently() {
        let limit = KeyedRateLimit::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(limit.hit_at(("cand", 1), t0), Some(Emit::First));
        assert_eq!(limit.hit_at(("cand", 2), t0), Some(Emit::First));
        assert_eq!(limit.hit_at(("cand", 1), t0), None);
        assert_eq!(limit.hit_at(("other", 1), t0), Some(Emit::First));
        assert_eq!(
            limit.hit_at(("cand", 1), t0 + Duration::from_secs(5)),
            Some(Emit::Summary { count: 2 })
        );
        assert_eq!(lock(&limit.keys).len(), 3);
    }
}
