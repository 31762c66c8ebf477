//! cutover decides whether an extracted microservice is safe to take over from a monolith.
//!
//! One pipeline serves every mode:
//! `source (proxy | replay | scenario | fuzz | load) → Exchange → analyzers (diff, contract)
//! → aggregate → sinks (recording, report, metrics)`. See `ARCHITECTURE.md` for the codemap
//! and the layering rules.

pub mod cli;
pub mod compare;
pub mod config;
pub mod contract;
pub mod demo;
pub mod exchange;
pub mod identity;
pub mod load;
pub mod pipeline;
pub mod proxy;
pub mod ratelog;
pub mod record;
pub mod redact;
pub mod reference;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod upstream;
pub mod verify;
