//! The previous answers to each distinct request, so a repeated identical request can be
//! compared with its twin (`compare::volatile`: volatility learned from the primary itself).
//!
//! A request's fingerprint is its method, URI, body and headers — credentials included, so
//! two users asking the same thing are different requests — minus the headers that change on
//! every request without changing what is asked (trace and request ids, forwarding hops).
//! Only the 64-bit hash is kept, never the headers. Memory is bounded by constants, not by
//! traffic: at most [`MAX_ENTRIES`] fingerprints and [`MAX_BYTES`] of kept bodies (oldest
//! dropped first); answers larger than [`MAX_ENTRY_BYTES`] are not kept. Bodies are copied,
//! so the proxy's shadow memory budget is released as soon as an exchange is analysed.
//! Owns no I/O.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use crate::exchange::{Body, Outcome, OutcomeResult, RecordedRequest};

/// Distinct requests remembered.
pub const MAX_ENTRIES: usize = 4096;
/// Body bytes (primary + compared side) kept over all entries.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Answers (both bodies) larger than this are not kept.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// Request headers that differ between identical requests (tracing, forwarding).
const NOT_IDENTITY: &[&str] = &[
    "x-request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "x-amzn-trace-id",
    "x-cloud-trace-context",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "b3",
    "x-forwarded-for",
    "x-forwarded-port",
    "x-real-ip",
    "forwarded",
    "date",
];

/// The fingerprint of a request: equal for identical requests from the same caller.
pub fn fingerprint(request: &RecordedRequest) -> u64 {
    let mut h = DefaultHasher::new();
    request.method.hash(&mut h);
    request.uri.hash(&mut h);
    request.body.as_bytes().hash(&mut h);
    // Names are lower-case already when captured live; only others are copied.
    let mut headers: Vec<(Cow<'_, str>, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| {
            let name = if n.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(n.to_ascii_lowercase())
            } else {
                Cow::Borrowed(n.as_str())
            };
            (name, v.as_str())
        })
        .filter(|(n, _)| !NOT_IDENTITY.contains(&n.as_ref()))
        .collect();
    headers.sort_unstable();
    headers.hash(&mut h);
    h.finish()
}

struct Entry {
    primary: Outcome,
    other: Outcome,
    bytes: usize,
}

/// The last answers per fingerprint, bounded.
#[derive(Default)]
pub struct RepeatCache {
    entries: HashMap<u64, Entry>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl std::fmt::Debug for RepeatCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepeatCache")
            .field("entries", &self.entries.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

fn body_len(o: &Outcome) -> usize {
    o.response().map_or(0, |r| r.body.len())
}

/// A copy that owns its body: a captured body is accounted to the proxy's shadow memory
/// budget until its buffer is dropped, and this cache has its own bound.
fn owned(o: &Outcome) -> Outcome {
    let mut copy = o.clone();
    if let OutcomeResult::Response(r) = &mut copy.result {
        r.body = Body::from(r.body.as_bytes().to_vec());
    }
    copy
}

impl RepeatCache {
    /// Remember `(primary, other)` as the latest answers to `key`; returns the previous ones.
    pub fn swap(
        &mut self,
        key: u64,
        primary: &Outcome,
        other: &Outcome,
    ) -> Option<(Outcome, Outcome)> {
        let previous = self.entries.remove(&key).map(|e| {
            self.bytes -= e.bytes;
            (e.primary, e.other)
        });
        let bytes = body_len(primary) + body_len(other);
        if bytes <= MAX_ENTRY_BYTES {
            if previous.is_none() {
                self.order.push_back(key);
            }
            self.bytes += bytes;
            self.entries.insert(
                key,
                Entry {
                    primary: owned(primary),
                    other: owned(other),
                    bytes,
                },
            );
            self.evict();
        }
        previous
    }

    fn evict(&mut self) {
        while self.entries.len() > MAX_ENTRIES || self.bytes > MAX_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.entries.remove(&old) {
                self.bytes -= e.bytes;
            }
        }
        // Keys whose entry was replaced by a too-large answer linger in `order`; drop them
        // when the queue grows past twice the bound.
        if self.order.len() > 2 * MAX_ENTRIES {
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Body bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::RecordedResponse;

    fn request(uri: &str, auth: &str, trace: &str) -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            uri: uri.into(),
            headers: vec![
                ("Authorization".into(), auth.into()),
                ("x-request-id".into(), trace.into()),
            ],
            body: Body::from("{\"prompt\":\"hi\"}"),
            truncated: false,
        }
    }

    fn outcome(body: Vec<u8>) -> Outcome {
        Outcome {
            target: "t".into(),
            result: OutcomeResult::Response(RecordedResponse {
                status: 200,
                headers: Vec::new(),
                body: Body::from(body),
                truncated: false,
                ttfb_us: 1,
                total_us: 1,
            }),
        }
    }

    #[test]
    fn identity_is_part_of_the_fingerprint_and_trace_ids_are_not() {
        let a = fingerprint(&request("/ai/query", "Bearer a", "1"));
        assert_eq!(a, fingerprint(&request("/ai/query", "Bearer a", "2")));
        assert_ne!(a, fingerprint(&request("/ai/query", "Bearer b", "1")));
        assert_ne!(a, fingerprint(&request("/ai/query?x=1", "Bearer a", "1")));
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let mut c = RepeatCache::default();
        let small = outcome(vec![b'x'; 10]);
        for k in 0..(MAX_ENTRIES as u64 + 100) {
            assert!(c.swap(k, &small, &small).is_none());
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        assert!(c.swap(MAX_ENTRIES as u64 + 99, &small, &small).is_some());
        let big = outcome(vec![b'x'; MAX_ENTRY_BYTES / 2 - 1]);
        for k in 0..200 {
            c.swap(1_000_000 + k, &big, &big);
            assert!(c.bytes() <= MAX_BYTES);
        }
        let huge = outcome(vec![b'x'; MAX_ENTRY_BYTES]);
        c.swap(7, &huge, &huge);
        assert!(c.swap(7, &small, &small).is_none(), "too large to keep");
    }
}
