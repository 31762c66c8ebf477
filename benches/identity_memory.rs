//! Memory per 10,000 learned identities (issue 12): a `Translator` filled with 10,000
//! identities' credential pairs (a realistic ~190-byte JWT for the primary and for each
//! target), and with 10,000 id pairs per target; heap bytes counted exactly by a counting
//! global allocator, next to the process's RSS growth.
//!
//! Run: `cargo bench --bench identity_memory` (or `benches/identity.sh`). Prints one line
//! per case: identities, targets, heap bytes, bytes per identity, RSS delta (kB).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cutover::identity::credentials::{Credential, Place};
use cutover::identity::translate::Translator;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `realloc` on `System`.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A JWT-shaped token of realistic length (header.payload.signature ≈ 190 bytes).
fn jwt(side: &str, i: usize) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLXtpfSIsImV4cCI6MTcwMDAwMDAwMCwianRpIjoi{side}{i:08}In0.{}",
        "s".repeat(43)
    )
}

fn case(identities: usize, targets: &[&str], ids: bool) {
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss_kb());
    let mut t = Translator::new(
        identities,
        Duration::from_secs(3600),
        identities,
        Vec::new(),
    );
    let now = Instant::now();
    for i in 0..identities {
        let who = format!("user{i}@example.com");
        t.credentials.learn_primary(&who, &jwt("p", i), now);
        for target in targets {
            t.credentials.learn_target(
                &who,
                target,
                Credential {
                    place: Place::Authorization {
                        scheme: "Bearer".into(),
                    },
                    value: jwt(target, i),
                },
                now,
            );
            if ids {
                t.ids.learn(target, &i.to_string(), &(i + 1000).to_string());
            }
        }
    }
    let heap = LIVE.load(Ordering::Relaxed).saturating_sub(heap0);
    let rss = rss_kb().saturating_sub(rss0);
    println!(
        "{:<44} {:>10} {:>12} {:>10}",
        format!(
            "{identities} identities x {} target(s){}",
            targets.len(),
            if ids { " + id pairs" } else { "" }
        ),
        heap,
        heap / identities.max(1),
        rss
    );
    std::hint::black_box(&t);
    drop(t);
}

fn main() {
    println!(
        "{:<44} {:>10} {:>12} {:>10}",
        "case", "heap B", "B/identity", "RSS kB"
    );
    case(10_000, &["auth"], false);
    case(10_000, &["auth"], true);
    case(10_000, &["auth", "ai"], true);
    case(100_000, &["auth"], true);
}
