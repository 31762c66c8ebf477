//! The shape of `cutover.toml`. Every table rejects unknown keys.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use super::tls::Protocol;
use crate::compare::spec::RuleSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub proxy: ProxyConfig,
    pub targets: BTreeMap<String, TargetConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub compare: RuleSpec,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub triggers: Triggers,
    #[serde(default)]
    pub grouping: GroupingConfig,
    /// Secret header and field names added to / kept out of the built-in lists.
    #[serde(default)]
    pub redaction: super::redaction::RedactionConfig,
    /// Contracts checked live against every request and answer; off when absent.
    #[serde(default)]
    pub contracts: Option<ContractsConfig>,
    /// Client identities: ordered shadows per identity, identity labels in reports.
    #[serde(default)]
    pub identity: super::identity::IdentityConfig,
    /// `[[identities]]`: configured per-target credentials for identity labels that
    /// learning cannot reach (static from the environment, or a login scenario).
    #[serde(default)]
    pub identities: Vec<super::identities::ConfiguredIdentity>,
    /// Learned per-target credentials and ids (issue 12).
    #[serde(default)]
    pub translate: super::translate::TranslateConfig,
}

/// `[contracts]`: where the contracts are and whether their violations fail the gate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractsConfig {
    /// The contracts directory (`contracts.toml` or OpenAPI documents), relative to the
    /// configuration file.
    pub dir: PathBuf,
    /// Whose violations fail a route's gate: `none`, `candidate` (default) or `any`
    /// (primary and secondary too).
    #[serde(default)]
    pub fail_on: ContractGate,
    /// Whether an undocumented status counts towards the gate (FastAPI documents only
    /// 200 and 422: set `false` to report its 401/404s without failing on them).
    #[serde(default = "yes")]
    pub undocumented_status_fails: bool,
}

/// `[contracts] fail_on`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractGate {
    None,
    #[default]
    Candidate,
    Any,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where clients connect: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
    #[serde(default = "default_listen", deserialize_with = "super::addr::listen")]
    pub listen: SocketAddr,
    /// `/healthz` and `/metrics`; `"off"` is not supported: omit by setting `admin_enabled = false`.
    #[serde(default = "default_admin", deserialize_with = "super::addr::listen")]
    pub admin: SocketAddr,
    #[serde(default = "yes")]
    pub admin_enabled: bool,
    #[serde(default)]
    pub mode: ProxyMode,
    /// Request and response bodies are captured for comparison up to this many bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Shadow requests in flight at once; beyond it copies are dropped and counted.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_shadows: usize,
    /// HTTP/1.1 connections open at once to each shadow target's origin (candidates and the
    /// secondary; never the primary). A copy that finds them all busy waits for one within
    /// its `shadow_timeout_ms`; a wait that runs out drops the exchange and counts it
    /// (`cutover_exchanges_dropped_total{reason="shadow_connections"}`), never as a
    /// timeout of the target.
    #[serde(default = "default_max_shadow_connections")]
    pub max_shadow_connections_per_target: usize,
    /// Bytes all captured bodies may hold at once: in-flight captures and exchanges waiting
    /// for analysis. A capture that does not fit is abandoned and its exchange dropped and
    /// counted (`cutover_exchanges_dropped_total{reason="shadow_memory"}`).
    #[serde(default = "default_shadow_memory")]
    pub max_shadow_memory_bytes: u64,
    #[serde(default = "default_primary_timeout")]
    pub primary_timeout_ms: u64,
    #[serde(default = "default_shadow_timeout")]
    pub shadow_timeout_ms: u64,
    /// On shutdown, how long shadows still in flight may take.
    #[serde(default = "default_grace")]
    pub shutdown_grace_ms: u64,
    /// A client connection must send a complete request head within this time after it
    /// connects or starts its next request; otherwise it gets `408 Request Timeout` and is
    /// closed.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_ms: u64,
    /// A keep-alive client connection with no request in flight is closed after this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Client connections open at once, across all listener threads; beyond it new
    /// connections are refused (503, closed) and counted. Default: derived from the
    /// process's file-descriptor limit (raised to its hard limit at start-up).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Request header fields accepted per request (HTTP/1); more get `431`.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: default_listen(),
            admin: default_admin(),
            admin_enabled: true,
            mode: ProxyMode::default(),
            max_body_bytes: default_max_body(),
            max_in_flight_shadows: default_max_in_flight(),
            max_shadow_connections_per_target: default_max_shadow_connections(),
            max_shadow_memory_bytes: default_shadow_memory(),
            primary_timeout_ms: default_primary_timeout(),
            shadow_timeout_ms: default_shadow_timeout(),
            shutdown_grace_ms: default_grace(),
            header_read_timeout_ms: default_header_read_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            max_connections: None,
            max_headers: default_max_headers(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyMode {
    /// Clients talk to cutover; it answers with the primary's response.
    #[default]
    Inline,
    /// cutover receives copies (NGINX `mirror`, Istio mirror), answers 204 at once and fans
    /// the request out to every target itself.
    MirrorTarget,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Base URL, `http://host:port` or `https://host:port` (a path prefix is allowed).
    pub url: Spanned<String>,
    #[serde(default)]
    pub role: Role,
    /// Overrides the proxy's timeout for this target.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// How HTTP is spoken to this target; default `auto`.
    #[serde(default = "default_protocol")]
    pub protocol: Spanned<Protocol>,
    /// https only: a PEM file of the CA certificates this target's certificate must chain
    /// to, trusted *instead of* the system roots. A relative path is relative to the
    /// configuration file's directory. Default: the system's root certificates.
    #[serde(default)]
    pub tls_ca_file: Option<Spanned<PathBuf>>,
    /// https only: do not verify the target's certificate (staging only; logged at start).
    #[serde(default = "no_spanned")]
    pub insecure: Spanned<bool>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Answers the client (the monolith).
    Primary,
    /// A second primary instance, to learn what differs between two identical deployments.
    Secondary,
    /// An extracted service under test.
    #[default]
    Candidate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path glob: `*` one segment, `**` any depth (`/auth/**`). First match wins.
    #[serde(rename = "match")]
    pub pattern: Spanned<String>,
    /// Target name (role candidate) that receives copies. Optional: a route without one is
    /// mirrored to the secondary alone (an A/A parity check before any candidate exists),
    /// which then requires a target with role = "secondary".
    #[serde(default)]
    pub candidate: Option<Spanned<String>>,
    /// Fraction of matching requests mirrored, 0.0–1.0.
    #[serde(default = "one_spanned")]
    pub sample: Spanned<f64>,
    /// Mirror every method; by default only GET, HEAD and OPTIONS are.
    #[serde(default)]
    pub mirror_writes: bool,
    /// Parity (0.0–1.0) below which the route fails the gate.
    #[serde(default = "one_spanned")]
    pub parity_threshold: Spanned<f64>,
    /// Compare rules added to the global `[compare]` ones for this route.
    #[serde(default)]
    pub compare: RuleSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// JSON Lines file; default `reports/recording-<timestamp>.jsonl`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Rotate when the file passes this size.
    #[serde(default = "default_rotate")]
    pub rotate_bytes: u64,
    #[serde(default = "default_fsync")]
    pub fsync_interval_ms: u64,
    /// Which lines keep their bodies: `all`, `mismatches` (only exchanges whose verdict is
    /// mismatch) or `none`. A line without bodies is marked and re-analysed as not compared.
    #[serde(default)]
    pub bodies: RecordBodies,
    /// Retention: the live file plus rotated segments stay under this many bytes; the
    /// oldest segments are deleted (never the live file).
    #[serde(default = "default_max_total")]
    pub max_total_bytes: u64,
    /// Retention: at most this many files (live file included); unlimited when absent.
    #[serde(default)]
    pub max_files: Option<u64>,
    /// Header names redacted on top of the built-in list (see `[redaction]`).
    #[serde(default)]
    pub redact_headers: Vec<String>,
    /// Field-name fragments redacted on top of the built-in list (see `[redaction]`).
    #[serde(default)]
    pub redact_fields: Vec<String>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            path: None,
            rotate_bytes: default_rotate(),
            fsync_interval_ms: default_fsync(),
            bodies: RecordBodies::default(),
            max_total_bytes: default_max_total(),
            max_files: None,
            redact_headers: Vec::new(),
            redact_fields: Vec::new(),
        }
    }
}

/// `[recording] bodies`: which recorded lines keep their request and response bodies.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RecordBodies {
    /// Every line (re-analysis sees everything).
    #[default]
    All,
    /// Only lines whose verdict is mismatch.
    Mismatches,
    /// No line.
    None,
}

/// Rollback triggers, evaluated per route by `pipeline::gates` on every report.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Candidate P95 above this many milliseconds fails the route (default 300).
    #[serde(default = "default_p95")]
    pub p95_ms: f64,
    /// Candidate P95 more than this % (and 50 ms) over the primary's — or the secondary's,
    /// when that rose too — fails the route (default 20).
    #[serde(default = "default_p95_increase")]
    pub p95_increase_pct: f64,
    /// Candidate 5xx plus transport failures over its requests above this % (and above the
    /// primary's rate) fails the route (default 1).
    #[serde(default = "one")]
    pub error_rate_pct: f64,
    /// Load stage: candidate P50 more than this many ms over the primary's fails the route
    /// (optional; the migration plan's login rule is 50).
    #[serde(default)]
    pub p50_overhead_ms: Option<f64>,
    /// Load stage: candidate P99 more than this many ms over the primary's fails the route
    /// (optional; the migration plan's login rule is 100).
    #[serde(default)]
    pub p99_overhead_ms: Option<f64>,
    /// Load stage: fewer latency samples than this per target and route and a latency
    /// trigger is INCONCLUSIVE (default 100; at least 20).
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// Load stage: the confidence of every statistical decision (default 0.95).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Load stage: count 4xx answers as errors (by default they are counted separately).
    #[serde(default)]
    pub errors_include_4xx: bool,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            p95_ms: default_p95(),
            p95_increase_pct: default_p95_increase(),
            error_rate_pct: 1.0,
            p50_overhead_ms: None,
            p99_overhead_ms: None,
            min_samples: default_min_samples(),
            confidence: default_confidence(),
            errors_include_4xx: false,
        }
    }
}

/// How exchanges are grouped into report rows (`[grouping]`), and the cap on their number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingConfig {
    /// Route templates matched before anything is learned: `"/users/{user_id}"` (any
    /// method) or `"GET /users/{user_id}"`; `{name}` matches one path segment.
    #[serde(default)]
    pub templates: Vec<Spanned<String>>,
    /// Distinct literal segments one position keeps before further values become `{param}`.
    #[serde(default = "default_param_after")]
    pub param_after: Spanned<usize>,
    /// Routes kept in the live aggregate, `/metrics` and reports; the rest are folded into
    /// one `* {overflow}` route and counted.
    #[serde(default = "default_max_routes")]
    pub max_routes: Spanned<usize>,
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            templates: Vec::new(),
            param_after: default_param_after(),
            max_routes: default_max_routes(),
        }
    }
}

impl GroupingConfig {
    /// The grouping limits this configuration asks for.
    pub fn limits(&self) -> crate::compare::grouping::GroupingLimits {
        crate::compare::grouping::GroupingLimits {
            param_after: *self.param_after.get_ref(),
            max_routes: *self.max_routes.get_ref(),
        }
    }

    /// The templates as `(method or "*", path)`; entries that do not parse are skipped
    /// (validation rejected them already).
    pub fn template_pairs(&self) -> Vec<(String, String)> {
        self.templates
            .iter()
            .filter_map(|t| crate::compare::grouping::parse_template(t.get_ref()).ok())
            .collect()
    }
}

pub(super) use super::validate::Problem;

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}
fn default_max_body() -> usize {
    1024 * 1024
}
fn default_max_in_flight() -> usize {
    1024
}
fn default_max_shadow_connections() -> usize {
    256
}
fn default_primary_timeout() -> u64 {
    30_000
}
fn default_shadow_timeout() -> u64 {
    5_000
}
fn default_grace() -> u64 {
    5_000
}
fn default_header_read_timeout() -> u64 {
    10_000
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_max_headers() -> usize {
    256
}
fn default_rotate() -> u64 {
    256 * 1024 * 1024
}
fn default_shadow_memory() -> u64 {
    256 * 1024 * 1024
}
fn default_max_total() -> u64 {
    1024 * 1024 * 1024
}
fn default_fsync() -> u64 {
    200
}
fn default_p95() -> f64 {
    300.0
}
fn default_p95_increase() -> f64 {
    20.0
}
fn default_min_samples() -> u64 {
    100
}
fn default_confidence() -> f64 {
    0.95
}
fn default_param_after() -> Spanned<usize> {
    Spanned::new(0..0, crate::compare::grouping::DEFAULT_PARAM_AFTER)
}
fn default_max_routes() -> Spanned<usize> {
    Spanned::new(0..0, crate::compare::grouping::DEFAULT_MAX_ROUTES)
}
fn default_protocol() -> Spanned<Protocol> {
    Spanned::new(0..0, Protocol::Auto)
}
fn no_spanned() -> Spanned<bool> {
    Spanned::new(0..0, false)
}
fn one() -> f64 {
    1.0
}
fn one_spanned() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}
fn yes() -> bool {
    true
}
