//! Limits on client connections as a whole: the cap on connections open at once (derived
//! from the file-descriptor limit unless configured), refusing connections beyond it,
//! rate-limited logging of accept errors ([`crate::ratelog`]), and the counters `/metrics` and the shutdown
//! summary show for them.
//!
//! Owns [`ConnStats`] (shared by every listener thread and the admin listener) and the
//! process's `RLIMIT_NOFILE` adjustment. Never reads a request.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::ratelog::{Emit, RateLimit};

/// File descriptors kept free of client connections and their upstream connections: the
/// admin listener and its connections ([`ADMIN_MAX_CONNECTIONS`]), the listening sockets,
/// recording files, the runtime's own descriptors.
pub const RESERVED_FDS: u64 = 256;
/// Admin connections open at once; more are refused like proxy connections.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
/// The derived cap never goes below this, whatever the descriptor limit.
const MIN_CONNECTIONS: u64 = 16;
/// Without a descriptor limit to derive from (non-Unix).
const FALLBACK_CONNECTIONS: usize = 10_000;

/// Sent (best effort, without reading the request) to a connection over the cap.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
retry-after: 1\r\ncontent-type: text/plain\r\ncontent-length: 30\r\n\r\ntoo many connections, try again";

/// Deadlines and the cap for one listener's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request head must be complete this long after its first byte (or after the
    /// connection was accepted).
    pub header_read: Duration,
    /// A connection with no request in flight is closed after this long.
    pub idle: Duration,
    /// Connections open at once.
    pub max: usize,
}

/// Connection counters of one listener (proxy or admin).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now (including upgraded ones being tunnelled).
    pub open: AtomicUsize,
    pub accepted: AtomicU64,
    /// Refused because `max` connections were open.
    pub refused: AtomicU64,
    /// Closed (with `408` on HTTP/1) because the request head did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Keep-alive connections closed after the idle timeout.
    pub idle_closed: AtomicU64,
    /// `accept` failures (out of file descriptors, ...).
    pub accept_errors: AtomicU64,
    /// Upgraded connections (WebSocket, ...) tunnelled to the primary.
    pub upgrades: AtomicU64,
    accept_log: RateLimit,
}

/// One connection's place under the cap; released on drop.
#[derive(Debug)]
pub struct Slot(Arc<ConnStats>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnStats {
    /// Take a place for a new connection, or refuse it (counted) when `max` are open.
    pub fn admit(self: &Arc<Self>, max: usize) -> Option<Slot> {
        if self.open.fetch_add(1, Ordering::Relaxed) >= max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Some(Slot(Arc::clone(self)))
    }

    /// A place for a connection that already exists (an upgraded one leaving hyper).
    pub fn hold(self: &Arc<Self>) -> Slot {
        self.open.fetch_add(1, Ordering::Relaxed);
        Slot(Arc::clone(self))
    }

    /// Count an accept error; log at most one line per interval, with the count.
    pub fn accept_error(&self, what: &str, error: &std::io::Error) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
        let Some(emit) = self.accept_log.hit() else {
            return;
        };
        let n = match emit {
            Emit::First => 1,
            Emit::Summary { count } => count,
        };
        tracing::warn!(
            "{what}: accept failed {n} time(s) since the last report (at most one line per {} s): {error}; open connections: {}",
            self.accept_log.interval().as_secs(),
            self.open.load(Ordering::Relaxed)
        );
    }

    /// Prometheus families for this listener's connections.
    pub fn render(&self, out: &mut String, listener: &str) {
        let families: [(&str, &str, &str, u64); 7] = [
            (
                "cutover_client_connections",
                "gauge",
                "Client connections open now.",
                self.open.load(Ordering::Relaxed) as u64,
            ),
            (
                "cutover_client_connections_accepted_total",
                "counter",
                "Client connections accepted.",
                self.accepted.load(Ordering::Relaxed),
            ),
            (
                "cutover_client_connections_refused_total",
                "counter",
                "Client connections refused because max_connections were open.",
                self.refused.load(Ordering::Relaxed),
            ),
            (
                "cutover_client_header_timeouts_total",
                "counter",
                "Client connections closed (408) because no complete request head arrived within header_read_timeout_ms.",
                self.header_timeouts.load(Ordering::Relaxed),
            ),
            (
                "cutover_client_idle_closed_total",
                "counter",
                "Keep-alive client connections closed after idle_timeout_ms without a request.",
                self.idle_closed.load(Ordering::Relaxed),
            ),
            (
                "cutover_accept_errors_total",
                "counter",
                "Failed accepts (e.g. out of file descriptors).",
                self.accept_errors.load(Ordering::Relaxed),
            ),
            (
                "cutover_upgrades_total",
                "counter",
                "Upgraded connections (WebSocket, ...) tunnelled to the primary, never mirrored.",
                self.upgrades.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{listener=\"{listener}\"}} {value}"
            );
        }
    }
}

/// Answer a connection over the cap: a short `503` if the socket takes it at once (no
/// waiting, nothing read), then close. Its descriptor is free again immediately.
pub fn refuse(stream: TcpStream) {
    let _ = stream.try_write(REFUSED);
    drop(stream);
}

/// The cap on client connections: as configured, or derived from the descriptor limit
/// (each client connection may hold one upstream connection to the primary; shadow
/// copies hold at most `max_shadows` more; [`RESERVED_FDS`] stay free for the rest).
pub fn max_connections(
    configured: Option<usize>,
    fd_limit: Option<u64>,
    max_shadows: usize,
) -> usize {
    if let Some(n) = configured {
        if let Some(derived) = fd_limit.map(|l| derive(l, max_shadows)) {
            if n > derived {
                tracing::warn!(
                    "[proxy] max_connections = {n} exceeds what the file-descriptor limit ({}) leaves room for (about {derived}): accepts may fail with \"too many open files\"",
                    fd_limit.unwrap_or(0)
                );
            }
        }
        return n;
    }
    fd_limit.map_or(FALLBACK_CONNECTIONS, |l| derive(l, max_shadows))
}

fn derive(fd_limit: u64, max_shadows: usize) -> usize {
    let budget = fd_limit.saturating_sub(RESERVED_FDS);
    let shadows = (max_shadows as u64).min(budget / 2);
    let n = ((budget - shadows) / 2).max(MIN_CONNECTIONS);
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct it is given, which lives on our stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given; failure leaves the limit as is.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    let soft = lim.rlim_cur as u64;
    Some(soft)
}

/// Without descriptor limits there is nothing to raise or derive from.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_cap_leaves_room_for_upstreams_shadows_and_the_reserve() {
        // 20,000 descriptors, 1,024 shadow slots: 2 per client connection.
        let n = max_connections(None, Some(20_000), 1_024);
        assert_eq!(n, (20_000 - 256 - 1_024) / 2);
        assert!(2 * n as u64 + 1_024 + RESERVED_FDS <= 20_000);
        // A tiny limit still admits a few connections.
        assert_eq!(max_connections(None, Some(300), 1_024), 16);
        assert_eq!(max_connections(Some(5), Some(20_000), 1_024), 5);
        assert_eq!(max_connections(None, None, 1_024), FALLBACK_CONNECTIONS);
    }

    #[test]
    fn slots_are_capped_counted_and_released() {
        let stats = Arc::new(ConnStats::default());
        let a = stats.admit(2).expect("first");
        let _b = stats.admit(2).expect("second");
        assert!(stats.admit(2).is_none());
        assert_eq!(stats.refused.load(Ordering::Relaxed), 1);
        drop(a);
        assert!(stats.admit(2).is_some());
        assert_eq!(stats.open.load(Ordering::Relaxed), 1);
    }
}
