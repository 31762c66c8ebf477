//! The connection cap of one shadow origin: at most `max` connections open at once, with
//! waiters.
//!
//! Owns the permits (one per open connection: taken before dialling, moved into the
//! connection's task and released only when that task ends, i.e. when the socket is
//! closed), the wake-up of waiters when a connection goes back to the idle list, and the
//! counters shown in `/metrics` and the shutdown summary (waits, waits that ran out).
//! A request that finds no idle connection and no free permit waits — within its own
//! deadline — for either; when the deadline passes first it fails with
//! [`UpstreamError::ConnectionCap`], which callers count as a capacity drop, never as a
//! timeout of the target. Never dials and never holds connections: [`super::pool::Pool`]
//! does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::pool::UpstreamError;
use crate::exchange::{Failure, FailureKind, OutcomeResult};

/// What a request got from [`ConnCap::wait`] after finding no idle connection on its own
/// thread.
pub(super) enum Slot<T> {
    /// An idle connection (from any worker's idle list).
    Idle(T),
    /// Room to dial one more connection; the permit belongs to that connection.
    Dial(OwnedSemaphorePermit),
}

/// The cap on one origin's open connections.
#[derive(Debug)]
pub struct ConnCap {
    max: usize,
    permits: Arc<Semaphore>,
    /// A connection went back to an idle list.
    freed: Notify,
    peak: AtomicUsize,
    waits: AtomicU64,
    expired: AtomicU64,
}

/// A snapshot of one cap's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CapStats {
    /// The cap.
    pub max: usize,
    /// Connections open now.
    pub open: usize,
    /// The most connections open at once.
    pub peak: usize,
    /// Requests that found every connection busy and waited for one.
    pub waits: u64,
    /// Waits that ran out of time before a connection was free (the request was never
    /// sent).
    pub expired: u64,
}

impl ConnCap {
    pub(super) fn new(max: usize) -> ConnCap {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConnCap {
            max,
            permits: Arc::new(Semaphore::new(max)),
            freed: Notify::new(),
            peak: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    /// A permit for one more connection, if the cap allows it now.
    pub(super) fn try_dial(&self) -> Option<OwnedSemaphorePermit> {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(p) => Some(self.opened(p)),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => None,
        }
    }

    fn opened(&self, permit: OwnedSemaphorePermit) -> OwnedSemaphorePermit {
        let open = self.max.saturating_sub(self.permits.available_permits());
        self.peak.fetch_max(open, Ordering::Relaxed);
        permit
    }

    /// A connection went back to an idle list: wake one waiter.
    pub(super) fn freed(&self) {
        self.freed.notify_one();
    }

    /// Wait until `take_idle` finds an idle connection or a permit is free, whichever
    /// comes first, until `deadline` (`None`: no deadline of its own).
    pub(super) async fn wait<T>(
        &self,
        mut take_idle: impl FnMut() -> Option<T>,
        deadline: Option<Instant>,
    ) -> Result<Slot<T>, UpstreamError> {
        let mut counted = false;
        loop {
            // Registered before looking, so a connection checked in meanwhile wakes us.
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(idle) = take_idle() {
                return Ok(Slot::Idle(idle));
            }
            if let Some(p) = self.try_dial() {
                return Ok(Slot::Dial(p));
            }
            if !counted {
                counted = true;
                self.waits.fetch_add(1, Ordering::Relaxed);
            }
            let expired = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut notified => {}
                permit = Arc::clone(&self.permits).acquire_owned() => {
                    if let Ok(p) = permit {
                        return Ok(Slot::Dial(self.opened(p)));
                    }
                }
                () = expired => {
                    self.expired.fetch_add(1, Ordering::Relaxed);
                    return Err(UpstreamError::ConnectionCap { max: self.max });
                }
            }
        }
    }

    pub fn stats(&self) -> CapStats {
        CapStats {
            max: self.max,
            open: self.max.saturating_sub(self.permits.available_permits()),
            peak: self.peak.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
        }
    }
}

/// The failure message of a shadow call that found no free connection before its deadline;
/// exchanges carrying it are dropped and counted, never analysed.
pub const CONNECTION_CAP: &str = "no free connection to the target before the deadline ([proxy] max_shadow_connections_per_target)";

/// An outcome standing for a call that waited out its deadline for a connection.
pub fn connection_capped(elapsed_us: u64) -> OutcomeResult {
    OutcomeResult::Failure(Failure {
        kind: FailureKind::Dropped,
        elapsed_us,
        message: CONNECTION_CAP.to_string(),
    })
}

/// Whether an outcome is [`connection_capped`].
pub fn is_connection_capped(result: &OutcomeResult) -> bool {
    matches!(result, OutcomeResult::Failure(f) if f.kind == FailureKind::Dropped && f.message == CONNECTION_CAP)
}
