//! The shadow memory budget and the capped capture buffer.
//!
//! Owns the one number that bounds what shadow work may hold in memory at once
//! (`[proxy] max_shadow_memory_bytes`): every byte a capture keeps (the primary's teed copy,
//! each shadow's response) is reserved here *before* it is copied, and released when the
//! last reference to the captured bytes is dropped, i.e. after the exchange went through the
//! pipeline queue, the analysis and the sinks (the reservation travels inside the body's
//! [`Bytes`] via [`Bytes::from_owner`]). So the budget covers in-flight captures *and*
//! exchanges waiting in the analysis queue, with no bookkeeping on the way.
//!
//! A [`CappedBuf`] never grows past its cap (its first allocation is `min(declared length,
//! cap)`, later growth doubles up to the cap, never above), so a body over the cap holds
//! exactly `cap` bytes. Accounting is two relaxed atomics per growth, never per frame.
//! This module never reads from a socket and never decides what is mirrored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::exchange::{Failure, FailureKind, OutcomeResult};

/// The failure message of an outcome whose capture was stopped because the shadow memory
/// budget was exhausted; exchanges carrying it are dropped and counted, never analysed.
pub const OVER_BUDGET: &str = "shadow memory budget exhausted ([proxy] max_shadow_memory_bytes)";

/// Bytes held by captures, bounded by a limit.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    held: AtomicU64,
    peak: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit: limit.max(1),
            held: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        })
    }

    /// Reserve `n` bytes; false (nothing reserved) when that would pass the limit.
    pub fn try_reserve(&self, n: u64) -> bool {
        let mut cur = self.held.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(n);
            if next > self.limit {
                return false;
            }
            match self
                .held
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn release(&self, n: u64) {
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// The most bytes ever held at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Prometheus gauges: bytes held now, the peak and the limit.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, help, value) in [
            (
                "cutover_shadow_memory_bytes",
                "Bytes held by body captures and by exchanges waiting for analysis.",
                self.held(),
            ),
            (
                "cutover_shadow_memory_peak_bytes",
                "The most bytes body captures held at once.",
                self.peak(),
            ),
            (
                "cutover_shadow_memory_limit_bytes",
                "max_shadow_memory_bytes.",
                self.limit,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
    }
}

/// An outcome standing for a capture the budget could not hold.
pub fn over_budget(elapsed_us: u64) -> OutcomeResult {
    OutcomeResult::Failure(Failure {
        kind: FailureKind::Dropped,
        elapsed_us,
        message: OVER_BUDGET.to_string(),
    })
}

/// Whether an outcome is [`over_budget`].
pub fn is_over_budget(result: &OutcomeResult) -> bool {
    matches!(result, OutcomeResult::Failure(f) if f.kind == FailureKind::Dropped && f.message == OVER_BUDGET)
}

/// What [`CappedBuf::push`] did with a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Every byte kept.
    Kept,
    /// The cap was reached: the part that fit was kept, the rest is not wanted.
    Full,
    /// The budget could not hold more: the capture is abandoned.
    OverBudget,
}

/// A capture buffer bounded by a cap and by a [`MemoryBudget`].
#[derive(Debug)]
pub struct CappedBuf {
    buf: Vec<u8>,
    cap: usize,
    /// `None`: unaccounted (tests, sources without a budget).
    budget: Option<Arc<MemoryBudget>>,
    /// Bytes reserved in the budget (= `buf.capacity()` as far as we asked for it).
    reserved: usize,
    full: bool,
}

impl CappedBuf {
    /// An empty buffer; nothing is allocated or reserved until the first byte.
    pub fn new(cap: usize, budget: Option<Arc<MemoryBudget>>) -> CappedBuf {
        CappedBuf {
            buf: Vec::new(),
            cap,
            budget,
            reserved: 0,
            full: false,
        }
    }

    /// Bytes kept so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The cap was reached (more arrived than was kept).
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Mark the capture as cut without more data (e.g. the rest was never read).
    pub fn set_full(&mut self) {
        self.full = true;
    }

    /// Make room for `want` more bytes: first allocation `min(hint, cap)`, then doubling,
    /// never above the cap. False when the budget refuses.
    fn grow(&mut self, want: usize, hint: usize) -> bool {
        let needed = self.buf.len() + want;
        if needed <= self.buf.capacity() {
            return true;
        }
        let target = if self.buf.capacity() == 0 {
            needed.max(hint)
        } else {
            needed.max(self.buf.capacity().saturating_mul(2))
        }
        .min(self.cap);
        let extra = target.saturating_sub(self.reserved);
        if let Some(b) = &self.budget {
            if !b.try_reserve(extra as u64) {
                return false;
            }
        }
        self.reserved += extra;
        self.buf.reserve_exact(target - self.buf.len());
        true
    }

    /// Keep `data` up to the cap. `hint` is the declared total length, if known (it sizes
    /// the first allocation).
    pub fn push(&mut self, data: &[u8], hint: Option<u64>) -> Pushed {
        if self.full {
            return Pushed::Full;
        }
        let room = self.cap - self.buf.len();
        let take = data.len().min(room);
        if take > 0 {
            let hint = hint.map_or(0, |h| usize::try_from(h).unwrap_or(usize::MAX));
            if !self.grow(take, hint) {
                return Pushed::OverBudget;
            }
            self.buf.extend_from_slice(&data[..take]);
        }
        if data.len() > room {
            self.full = true;
            Pushed::Full
        } else {
            Pushed::Kept
        }
    }

    /// The kept bytes; their reservation is released when the last clone is dropped.
    pub fn freeze(mut self) -> Bytes {
        let buf = std::mem::take(&mut self.buf);
        let reserved = std::mem::take(&mut self.reserved);
        match self.budget.take() {
            Some(budget) if reserved > 0 => Bytes::from_owner(Held {
                buf,
                budget,
                bytes: reserved,
            }),
            _ => Bytes::from(buf),
        }
    }
}

impl Drop for CappedBuf {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.release(self.reserved as u64);
        }
    }
}

/// Captured bytes and their reservation.
struct Held {
    buf: Vec<u8>,
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.release(self.bytes as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_grows_past_the_cap_and_reserves_what_it_allocates() {
        let budget = MemoryBudget::new(1 << 20);
        let mut b = CappedBuf::new(1000, Some(Arc::clone(&budget)));
        assert_eq!(b.push(&[1; 300], None), Pushed::Kept);
        assert_eq!(b.push(&[2; 300], None), Pushed::Kept);
        assert_eq!(b.push(&[3; 600], None), Pushed::Full);
        assert_eq!(b.push(&[4; 10], None), Pushed::Full);
        assert_eq!(b.len(), 1000);
        assert!(b.buf.capacity() <= 1000, "capacity {}", b.buf.capacity());
        assert_eq!(budget.held(), 1000);
        let bytes = b.freeze();
        assert_eq!(bytes.len(), 1000);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(budget.held(), 1000, "a clone still holds the memory");
        drop(clone);
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.peak(), 1000);
    }

    #[test]
    fn declared_length_sizes_the_first_allocation_within_the_cap() {
        let mut b = CappedBuf::new(4096, None);
        b.push(&[0; 10], Some(50_000_000));
        assert_eq!(b.buf.capacity(), 4096);
        let mut b = CappedBuf::new(4096, None);
        b.push(&[0; 10], Some(100));
        assert_eq!(b.buf.capacity(), 100);
    }

    #[test]
    fn an_exhausted_budget_refuses_and_a_dropped_buffer_gives_back() {
        let budget = MemoryBudget::new(1500);
        let mut a = CappedBuf::new(1000, Some(Arc::clone(&budget)));
        assert_eq!(a.push(&[0; 1000], Some(1000)), Pushed::Kept);
        let mut b = CappedBuf::new(1000, Some(Arc::clone(&budget)));
        assert_eq!(b.push(&[0; 400], Some(400)), Pushed::Kept);
        assert_eq!(b.push(&[0; 400], None), Pushed::OverBudget);
        assert!(budget.held() <= 1500);
        drop(a);
        drop(b);
        assert_eq!(budget.held(), 0);
    }
}
