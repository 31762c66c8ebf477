//! Ordered shadows: shadow copies of one client identity's requests reach each target in
//! the order the requests arrived, while different identities run concurrently.
//!
//! Owns a sharded map from identity fingerprint ([`crate::identity::ClientIdentity::key`])
//! to that identity's queue, and the [`Ticket`]s it hands out. A request takes its ticket
//! *on arrival* (in the handler, before its body is read or the primary is called), which
//! fixes its place; per target the ticket holds the previous copy's completion signal and
//! its own. A copy is sent to a target only once the previous copy of the same identity to
//! that target has completed (answered, failed, timed out, or was never sent). Identities
//! on different worker threads share the map (std mutexes, held only for a few map
//! operations; the waiting uses runtime-independent `tokio::sync::oneshot` channels), so
//! ordering holds whichever connection or thread a request arrives on.
//!
//! Bounds: at most `max_queued_per_identity` copies of one identity waiting or in flight,
//! at most `max_identities` identities with copies waiting or in flight; past either, the
//! copy is not made and counted (`identity_queue_full`, `identities_full`). An identity's
//! entry is removed when its last ticket is dropped. Never touches the primary's path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use http::HeaderMap;
use tokio::sync::oneshot;

use super::Shared;
use super::metrics::NotMirrored;

/// Shards of the identity map (a power of two).
const SHARDS: usize = 64;

/// Per-identity FIFOs, one lane per target.
#[derive(Debug)]
pub struct ShadowOrder {
    shards: Box<[Mutex<HashMap<u128, Entry>>]>,
    identities: AtomicUsize,
    max_identities: usize,
    max_queued: usize,
}

#[derive(Debug, Default)]
struct Entry {
    /// Tickets alive for this identity.
    pending: usize,
    /// Per target index: the completion signal of the last copy queued to it.
    tails: Vec<(usize, Signal)>,
}

impl ShadowOrder {
    pub fn new(max_identities: usize, max_queued: usize) -> Arc<ShadowOrder> {
        Arc::new(ShadowOrder {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            identities: AtomicUsize::new(0),
            max_identities: max_identities.max(1),
            max_queued: max_queued.max(1),
        })
    }

    fn shard(&self, key: u128) -> MutexGuard<'_, HashMap<u128, Entry>> {
        let m = &self.shards[(key as usize) & (SHARDS - 1)];
        match m.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Take the next place in `key`'s queue for each of `targets` (target indexes), or
    /// say why the copy cannot be made.
    pub fn admit(self: &Arc<Self>, key: u128, targets: &[usize]) -> Result<Ticket, NotMirrored> {
        let mut shard = self.shard(key);
        if !shard.contains_key(&key) {
            let admitted = self
                .identities
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < self.max_identities).then_some(n + 1)
                })
                .is_ok();
            if !admitted {
                return Err(NotMirrored::IdentitiesFull);
            }
        }
        let entry = shard.entry(key).or_default();
        if entry.pending >= self.max_queued {
            // Only an entry with tickets alive can be full: it is never left empty here.
            return Err(NotMirrored::IdentityQueueFull);
        }
        entry.pending += 1;
        let guard = Arc::new(Guard {
            order: Arc::clone(self),
            key,
        });
        let mut lanes = Vec::with_capacity(targets.len());
        for &target in targets {
            let (done, tail) = oneshot::channel();
            let prev = match entry.tails.iter_mut().find(|(t, _)| *t == target) {
                Some((_, slot)) => Some(std::mem::replace(slot, tail)),
                None => {
                    entry.tails.push((target, tail));
                    None
                }
            };
            lanes.push(Lane {
                target,
                prev,
                done: Some(done),
                _guard: Arc::clone(&guard),
            });
        }
        Ok(Ticket {
            lanes,
            _guard: guard,
        })
    }

    /// Identities with copies waiting or in flight now.
    pub fn identities(&self) -> usize {
        self.identities.load(Ordering::Relaxed)
    }

    fn release(&self, key: u128) {
        let mut shard = self.shard(key);
        if let Some(e) = shard.get_mut(&key) {
            e.pending = e.pending.saturating_sub(1);
            if e.pending == 0 {
                shard.remove(&key);
                self.identities.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// What a copy tells the next one in its lane when it is done: nothing (it completed, or
/// it waited its turn and then went away), or — when it went away *before* its turn — the
/// signal it was itself waiting for, which the next copy then waits for instead.
#[derive(Debug)]
pub struct Forward(Option<Signal>);

type Signal = oneshot::Receiver<Forward>;

/// Holds one place in `pending`: released when the ticket and every lane taken from it
/// are gone, so an identity's entry never goes while a copy of it may still be running.
#[derive(Debug)]
struct Guard {
    order: Arc<ShadowOrder>,
    key: u128,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.order.release(self.key);
    }
}

/// One request's places in its identity's queues. Dropping it (or a [`Lane`] taken from
/// it) lets the next copy of the same identity go, after its own predecessors.
#[derive(Debug)]
pub struct Ticket {
    /// Dropped before the guard (field order).
    lanes: Vec<Lane>,
    _guard: Arc<Guard>,
}

impl Ticket {
    /// The place for `target` (taken out, to be awaited and dropped by the call to it).
    pub fn take(&mut self, target: usize) -> Option<Lane> {
        let i = self.lanes.iter().position(|l| l.target == target)?;
        Some(self.lanes.swap_remove(i))
    }
}

/// One copy's place in one target's lane.
#[derive(Debug)]
pub struct Lane {
    target: usize,
    /// The previous copy's signal, until this copy's turn came.
    prev: Option<Signal>,
    /// Dropped (or sent) when this copy completes: the next copy's `prev` resolves.
    done: Option<oneshot::Sender<Forward>>,
    /// Dropped last (field order).
    _guard: Arc<Guard>,
}

impl Lane {
    /// Wait until the previous copy of this identity to this target has completed.
    /// Cancel-safe: dropped mid-wait, the lane still hands its predecessor on.
    pub async fn turn(&mut self) {
        while let Some(prev) = self.prev.as_mut() {
            // Err: the sender was dropped, which is how completion is signalled.
            let next = prev.await.ok().and_then(|Forward(f)| f);
            self.prev = next;
        }
    }

    /// This copy completed: let the next one go (also done by dropping the lane).
    pub fn finish(&mut self) {
        self.done.take();
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        // Gone before its turn (never sent, or cancelled while waiting): the next copy
        // must still wait for the copies before this one.
        if let (Some(prev), Some(done)) = (self.prev.take(), self.done.take()) {
            let _ = done.send(Forward(Some(prev)));
        }
    }
}

impl Shared {
    /// The identity of a request about to be mirrored on `route`, and its places in the
    /// identity's queues: one per shadow target (the candidate, the secondary) and, when
    /// `primary_too` (mirror-target mode, where the primary's call is a copy as well), the
    /// primary. Refused when the identity's queue or the identity table is full.
    pub(super) fn admit(
        &self,
        route: usize,
        headers: &HeaderMap,
        peer: SocketAddr,
        primary_too: bool,
    ) -> Result<(Option<Ticket>, Option<String>), NotMirrored> {
        let conn = peer.to_string();
        let who = self.identity.identify(headers, &conn);
        let Some(order) = &self.order else {
            return Ok((None, who.label));
        };
        let mut targets = Vec::with_capacity(3);
        if let Some(Some(c)) = self.route_candidates.get(route) {
            targets.push(c.index);
        }
        if let Some(s) = &self.secondary {
            targets.push(s.index);
        }
        if primary_too {
            targets.push(self.primary.index);
        }
        targets.sort_unstable();
        targets.dedup();
        let ticket = order.admit(self.identity.order_key(&who, &conn), &targets)?;
        Ok((Some(ticket), who.label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_identity_waits_for_its_previous_copy_per_target() {
        let order = ShadowOrder::new(10, 10);
        let mut first = order.admit(1, &[7, 8]).expect("admitted");
        let mut second = order.admit(1, &[7, 8]).expect("admitted");
        let mut other = order.admit(2, &[7]).expect("another identity");
        // Another identity does not wait.
        other.take(7).expect("lane").turn().await;
        let mut l7 = second.take(7).expect("lane");
        let waiting = tokio::spawn(async move {
            l7.turn().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the second copy waits for the first"
        );
        // Target 8 finishing does not release target 7.
        first.take(8).expect("lane").finish();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        first.take(7).expect("lane").finish();
        waiting.await.expect("released");
        second.take(8).expect("lane").turn().await;
        assert_eq!(order.identities(), 2);
        drop((first, second, other));
        assert_eq!(order.identities(), 0, "entries go with their last ticket");
    }

    #[test]
    fn bounds_refuse_and_release() {
        let order = ShadowOrder::new(2, 2);
        let a1 = order.admit(1, &[0]).expect("a1");
        let a2 = order.admit(1, &[0]).expect("a2");
        assert_eq!(
            order.admit(1, &[0]).err(),
            Some(NotMirrored::IdentityQueueFull)
        );
        let b = order.admit(2, &[0]).expect("b");
        assert_eq!(
            order.admit(3, &[0]).err(),
            Some(NotMirrored::IdentitiesFull)
        );
        drop(a1);
        let a3 = order.admit(1, &[0]).expect("room again");
        drop((a2, a3, b));
        assert!(order.admit(3, &[0]).is_ok());
    }

    #[tokio::test]
    async fn a_dropped_ticket_lets_the_next_go() {
        let order = ShadowOrder::new(4, 4);
        let first = order.admit(9, &[1]).expect("first");
        let mut second = order.admit(9, &[1]).expect("second");
        drop(first);
        second.take(1).expect("lane").turn().await;
    }

    #[tokio::test]
    async fn a_copy_dropped_before_its_turn_hands_its_predecessor_on() {
        let order = ShadowOrder::new(4, 8);
        let mut a = order.admit(5, &[1]).expect("a");
        let b = order.admit(5, &[1]).expect("b");
        let mut c = order.admit(5, &[1]).expect("c");
        let mut d = order.admit(5, &[1]).expect("d");
        let mut a_lane = a.take(1).expect("lane");
        a_lane.turn().await;
        // b is never sent (body over the cap, client gone, ...).
        drop(b);
        let mut c_lane = c.take(1).expect("lane");
        let waiting = tokio::spawn(async move {
            c_lane.turn().await;
            c_lane
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "c still waits for a, in flight");
        // d is cancelled while waiting: it must not let anyone skip c.
        let mut d_lane = d.take(1).expect("lane");
        let _ = tokio::time::timeout(Duration::from_millis(5), d_lane.turn()).await;
        drop(a_lane);
        let c_lane = waiting.await.expect("c's turn after a");
        let mut e = order.admit(5, &[1]).expect("e");
        let mut e_lane = e.take(1).expect("lane");
        // d was dropped with its wait on c pending: e waits for c.
        drop(d_lane);
        drop(d);
        let e_wait = tokio::spawn(async move { e_lane.turn().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !e_wait.is_finished(),
            "e waits for c through the cancelled d"
        );
        drop(c_lane);
        e_wait.await.expect("e's turn");
        drop((a, c, e));
        assert_eq!(order.identities(), 0);
    }
}
