//! The upstream client: one way to send a request to a configured target, for every source.
//!
//! Owns the resolved targets ([`Target`]: name, role index, base URL, timeout, TLS and
//! protocol settings), the keep-alive connections to their origins ([`pool`]: HTTP/1.1
//! connections pooled per origin and worker, one shared HTTP/2 connection per origin and
//! worker), TLS (`tls.rs`: rustls with the `ring` provider, system roots or a per-target CA
//! file, an explicit `insecure` switch), building a request to a target from any request
//! ([`forward`]), the capped capture of an answer inside a memory budget ([`budget`]), and
//! [`call`]: one request to one target under its timeout → an
//! [`Outcome`](crate::exchange::Outcome). Metrics are an optional [`Observer`]; callers that
//! keep none pass `&()`.
//!
//! The upstream is always the configured target's URL: nothing in a request chooses where
//! it goes. This module knows nothing of the proxy, the pipeline, reports or the command
//! line (it must never import `proxy`, `report`, `cli` or `demo`).

pub mod budget;
mod call;
pub mod cap;
mod connect;
pub mod forward;
mod h2;
pub mod pool;
mod target;
mod tls;

pub use call::{Limits, Observer, call, error_chain, micros};
pub use pool::{UpstreamBody, UpstreamError, set_worker};
pub use target::{Pools, Target};
