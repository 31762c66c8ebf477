//! Pacing for `--rate`: request slots handed out at a fixed period across all users, so
//! the load stage sends at most `rate` requests per second. Shared by both attacks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Paces requests to at most `rate` per second across all users.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    period_ns: u64,
    next_ns: AtomicU64,
}

impl Pacer {
    pub(crate) fn new(rate: usize) -> Pacer {
        Pacer {
            start: Instant::now(),
            period_ns: 1_000_000_000 / rate.max(1) as u64,
            next_ns: AtomicU64::new(0),
        }
    }

    pub(crate) async fn wait(&self) {
        let now = self.start.elapsed().as_nanos() as u64;
        let mut slot = self.next_ns.load(Ordering::Relaxed);
        loop {
            let mine = slot.max(now);
            match self.next_ns.compare_exchange_weak(
                slot,
                mine + self.period_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    slot = mine;
                    break;
                }
                Err(s) => slot = s,
            }
        }
        if slot > now {
            tokio::time::sleep(Duration::from_nanos(slot - now)).await;
        }
    }
}
