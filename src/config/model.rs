//! The shape of `cutover.toml`. Every table rejects unknown keys.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::routes::{Route, RouteTable};
pub use super::tls::Protocol;
use crate::compare::rules::{RuleError, Rules};
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
    /// Target name (role candidate) that receives copies.
    pub candidate: Spanned<String>,
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
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            p95_ms: default_p95(),
            p95_increase_pct: default_p95_increase(),
            error_rate_pct: 1.0,
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

pub(super) type Problem = (Range<usize>, String, String);

impl ConfigFile {
    /// Checks that need more than one key. Returns the compiled route table.
    pub(super) fn validate(&self, text: &str) -> Result<RouteTable, Problem> {
        // Compare rules are compiled here so a bad rule is reported with its place in the
        // file (found by its quoted path) instead of when the analyzer starts.
        let rule_problem = |key: String, e: RuleError| {
            let needle = match &e {
                RuleError::BadPath { path, .. }
                | RuleError::BadTolerance { path, .. }
                | RuleError::BadKey { path, .. } => Some(format!("{path:?}")),
                RuleError::BadNoise(_) => None,
            };
            let at = needle.and_then(|n| text.find(&n)).unwrap_or(0);
            (at..at, key, e.to_string())
        };
        Rules::compile(&self.compare).map_err(|e| rule_problem("compare".into(), e))?;
        let mut primaries = Vec::new();
        let mut secondaries = Vec::new();
        for (name, target) in &self.targets {
            let key = format!("targets.{name}.url");
            check_url(target.url.get_ref()).map_err(|m| (target.url.span(), key, m))?;
            super::tls::check_target(name, target)?;
            match target.role {
                Role::Primary => primaries.push(target),
                Role::Secondary => secondaries.push(target),
                Role::Candidate => {}
            }
        }
        if primaries.is_empty() {
            let span = self
                .targets
                .values()
                .next()
                .map(|t| t.url.span())
                .unwrap_or(0..0);
            return Err((
                span,
                "targets".into(),
                "no target has role = \"primary\"; mark the monolith with role = \"primary\""
                    .into(),
            ));
        }
        if primaries.len() > 1 {
            return Err((
                primaries[1].url.span(),
                "targets".into(),
                "more than one target has role = \"primary\"".into(),
            ));
        }
        if secondaries.len() > 1 {
            return Err((
                secondaries[1].url.span(),
                "targets".into(),
                "more than one target has role = \"secondary\"".into(),
            ));
        }
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = |k: &str| format!("routes[{i}].{k}");
            let cand = r.candidate.get_ref();
            match self.targets.get(cand) {
                None => {
                    let known: Vec<&str> = self.targets.keys().map(|s| s.as_str()).collect();
                    return Err((
                        r.candidate.span(),
                        key("candidate"),
                        format!("no target named `{cand}` (targets: {})", known.join(", ")),
                    ));
                }
                Some(t) if t.role != Role::Candidate => {
                    return Err((
                        r.candidate.span(),
                        key("candidate"),
                        format!(
                            "target `{cand}` is not a candidate (its role is {:?})",
                            t.role
                        ),
                    ));
                }
                Some(_) => {}
            }
            for (field, v) in [
                ("sample", &r.sample),
                ("parity_threshold", &r.parity_threshold),
            ] {
                let x = *v.get_ref();
                if !(0.0..=1.0).contains(&x) {
                    return Err((
                        v.span(),
                        key(field),
                        format!("must be between 0.0 and 1.0, got {x}"),
                    ));
                }
            }
            let rules = self.compare.merged(&r.compare);
            Rules::compile(&rules).map_err(|e| rule_problem(key("compare"), e))?;
            let route = Route::new(r, rules).map_err(|m| (r.pattern.span(), key("match"), m))?;
            routes.push(route);
        }
        for (key, value) in [
            (
                "max_shadow_memory_bytes",
                self.proxy.max_shadow_memory_bytes,
            ),
            ("max_total_bytes", self.recording.max_total_bytes),
            ("max_files", self.recording.max_files.unwrap_or(1)),
        ] {
            if value == 0 {
                let section = if key == "max_shadow_memory_bytes" {
                    "proxy"
                } else {
                    "recording"
                };
                return Err((
                    key_span(text, section, key),
                    format!("{section}.{key}"),
                    "must be greater than 0".into(),
                ));
            }
        }
        if self.proxy.max_body_bytes == 0 || self.proxy.max_in_flight_shadows == 0 {
            return Err((
                0..0,
                "proxy".into(),
                "max_body_bytes and max_in_flight_shadows must be greater than 0".into(),
            ));
        }
        super::grouping::check(&self.grouping)?;
        super::connections::validate(&self.proxy, text)?;
        Ok(RouteTable::new(routes))
    }
}

/// Where `key = ...` is written inside `[section]` (start of the file when not found).
fn key_span(text: &str, section: &str, key: &str) -> Range<usize> {
    let header = format!("[{section}]");
    let from = text.find(&header).unwrap_or(0);
    let mut offset = from;
    for line in text[from..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            let at = offset + (line.len() - trimmed.len());
            return at..at + key.len();
        }
        offset += line.len();
    }
    0..0
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|e| format!("not a valid URL ({e}): {url:?}"))?;
    match parsed.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "scheme `{other}` is not supported; write http:// (HTTP/1.1, or h2c with \
                 protocol = \"h2c\") or https:// (HTTP/2 or HTTP/1.1, chosen by ALPN)"
            ));
        }
        None => {
            return Err(format!(
                "missing scheme; write http://{url} or https://{url}"
            ));
        }
    }
    if parsed.host().is_none_or(|h| h.is_empty()) {
        return Err(format!("missing host in {url:?}"));
    }
    if parsed.query().is_some() {
        return Err(format!("a target URL cannot have a query: {url:?}"));
    }
    Ok(())
}

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
