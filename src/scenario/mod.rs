//! Scenarios: multi-step HTTP flows written in YAML (`docs/scenario-format.md`) and run
//! against one target, or against two with every step compared (`cutover verify`).
//!
//! `model.rs` (the format as serde types, unknown keys rejected), `load.rs` (files,
//! file:line:column errors, step lines, checks before anything runs), `vars.rs`
//! (`${...}` interpolation, scopes, secrets), `deployment.rs` (services, base URLs and
//! routing by path prefix), `exec.rs` (one step on one side through `upstream::call`),
//! `assert.rs` (assertions and captures), `snapshot.rs` (normalised answers for insta),
//! `source.rs` (the pipeline [`crate::run::Source`], the assertion analyzer and the step
//! sink), `login.rs` (login scenarios that establish `[[identities]]` credentials).
//!
//! A source layer: it imports `upstream`, `pipeline`, `compare`, `redact` and `run`; it
//! never starts servers, prints or writes files (that is `verify` and the command line).

pub(crate) mod assert;
pub mod deployment;
pub mod exec;
pub mod load;
pub mod login;
pub mod model;
pub mod snapshot;
pub mod source;
pub mod vars;

pub use deployment::Deployment;
pub use exec::{ContractCheck, ContractVerdict, Env, SideRun};
pub use load::{Scenario, ScenarioError, Step, load_dir, load_file};
pub use source::{ScenarioResult, ScenarioSource, StepResult};
