//! The recording's header line and the run id.
//!
//! Every recording file starts with one header line (and gets another each time a run
//! starts appending to it):
//!
//! ```json
//! {"cutover_recording":1,"run_id":"20261122-123815-3f9a1c","started_at":"…",
//!  "tool_version":"0.1.0","config":{…},"config_digest":"sha256:…"}
//! ```
//!
//! `cutover_recording` is the format's major version ([`FORMAT_VERSION`]); a reader refuses
//! a newer one. `config` is what re-analysis needs and nothing else ([`analysis_config`]):
//! targets' names, roles and URLs without userinfo, routes with their candidates, sampling,
//! thresholds and compare rules as written, `[compare]`, `[triggers]`, `[grouping]` and the
//! redaction names. `config_digest` is the SHA-256 of that object's canonical JSON (keys
//! sorted, no spaces), so `cutover report --config` can say when it analyses with
//! different settings than the run recorded with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::compare::spec::RuleSpec;
use crate::config::{Config, ConfigError, Role};

/// The recording format's major version written by this build.
pub const FORMAT_VERSION: u64 = 1;

/// The key a header line starts with.
pub const HEADER_KEY: &str = "cutover_recording";

/// The first line of a recording file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format major version ([`FORMAT_VERSION`]).
    pub cutover_recording: u64,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    /// The cutover version that wrote the file.
    pub tool_version: String,
    /// What re-analysis needs of the configuration ([`analysis_config`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// `sha256:<hex>` of `config`'s canonical JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
}

impl Header {
    /// A header without configuration (a sink opened without one).
    pub fn new(run_id: &str) -> Header {
        Header {
            cutover_recording: FORMAT_VERSION,
            run_id: run_id.to_string(),
            started_at: Utc::now(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            config: None,
            config_digest: None,
        }
    }

    /// A header carrying what re-analysis needs of `config`.
    pub fn for_config(run_id: &str, config: &Config) -> Header {
        let value = analysis_config(config);
        Header {
            config_digest: Some(digest(&value)),
            config: Some(value),
            ..Header::new(run_id)
        }
    }

    /// The configuration re-analysis runs with, rebuilt from the header and validated like
    /// a `cutover.toml`; `None` when the header carries none. `origin` names the file in
    /// errors.
    pub fn config(&self, origin: &str) -> Result<Option<Config>, ConfigError> {
        let Some(value) = &self.config else {
            return Ok(None);
        };
        let name = format!("{origin} (recording header)");
        let text = toml::Value::try_from(value)
            .ok()
            .and_then(|t| toml::to_string(&t).ok())
            .ok_or_else(|| {
                ConfigError::Invalid(crate::config::Located {
                    path: name.clone(),
                    line: 1,
                    column: 1,
                    key: Some("config".into()),
                    message: "the header's configuration is not a table of settings".into(),
                    snippet: None,
                })
            })?;
        Config::parse(&text, &name).map(Some)
    }

    /// The header as one JSON line (without the newline).
    pub fn to_line(&self) -> Vec<u8> {
        // A struct of strings, numbers and JSON values always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A run id: UTC time to the second plus 6 random hex digits, `20261122-123815-3f9a1c`;
/// two runs started in the same second get different ids.
pub fn run_id() -> String {
    let mut suffix = [0u8; 3];
    if getrandom::fill(&mut suffix).is_err() {
        suffix = fastrand::u32(..).to_le_bytes()[..3]
            .try_into()
            .unwrap_or_default();
    }
    format!(
        "{}-{:02x}{:02x}{:02x}",
        Utc::now().format("%Y%m%d-%H%M%S"),
        suffix[0],
        suffix[1],
        suffix[2]
    )
}

/// What re-analysis needs of a configuration, as a JSON object shaped like `cutover.toml`
/// (so it parses back with the same validation). Never a credential: target URLs lose
/// their userinfo; redaction settings are names.
pub fn analysis_config(config: &Config) -> Value {
    let f = &config.file;
    let targets: Map<String, Value> = f
        .targets
        .iter()
        .map(|(name, t)| {
            let role = match t.role {
                Role::Primary => "primary",
                Role::Secondary => "secondary",
                Role::Candidate => "candidate",
            };
            (
                name.clone(),
                json!({"url": without_userinfo(t.url.get_ref()), "role": role}),
            )
        })
        .collect();
    let routes: Vec<Value> = f
        .routes
        .iter()
        .map(|r| {
            let mut route = json!({
                "match": r.pattern.get_ref(),
                "sample": *r.sample.get_ref(),
                "mirror_writes": r.mirror_writes,
                "parity_threshold": *r.parity_threshold.get_ref(),
                "compare": rules(&r.compare),
            });
            // A route without a candidate (A/A) has no key: TOML has no null.
            if let (Some(c), Some(obj)) = (&r.candidate, route.as_object_mut()) {
                obj.insert("candidate".into(), json!(c.get_ref()));
            }
            route
        })
        .collect();
    let g = &f.grouping;
    let red = &f.redaction;
    json!({
        "targets": targets,
        "routes": routes,
        "compare": rules(&f.compare),
        "triggers": {
            "p95_ms": f.triggers.p95_ms,
            "p95_increase_pct": f.triggers.p95_increase_pct,
            "error_rate_pct": f.triggers.error_rate_pct,
        },
        "grouping": {
            "templates": g.templates.iter().map(|t| t.get_ref().clone()).collect::<Vec<_>>(),
            "param_after": *g.param_after.get_ref(),
            "max_routes": *g.max_routes.get_ref(),
        },
        "redaction": {
            "headers": red.headers,
            "fields": red.fields,
            "keep_headers": red.keep_headers,
            "keep_fields": red.keep_fields,
            "path_segments": red.path_segments,
        },
        "recording": {
            "redact_headers": f.recording.redact_headers,
            "redact_fields": f.recording.redact_fields,
        },
    })
}

/// `sha256:<hex>` of a value's canonical JSON (object keys sorted, no whitespace).
pub fn digest(value: &Value) -> String {
    let mut text = String::new();
    canonical(value, &mut text);
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The digest `config` would have in a header.
pub fn config_digest(config: &Config) -> String {
    digest(&analysis_config(config))
}

fn rules(spec: &RuleSpec) -> Value {
    serde_json::to_value(spec).unwrap_or_else(|_| json!({}))
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `http://user:pw@host:1/p` → `http://host:1/p`.
fn without_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let after = scheme_end + 3;
    let authority_end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |p| after + p);
    match url[after..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..after], &url[after + at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[proxy]
listen = "127.0.0.1:0"

[targets]
monolith = { url = "http://127.0.0.1:8000", role = "primary" }
twin = { url = "http://127.0.0.1:8003", role = "secondary" }
auth = { url = "http://127.0.0.1:8001" }

[[routes]]
match = "/auth/**"
candidate = "auth"
sample = 0.5
parity_threshold = 0.9
mirror_writes = true
compare = { ignore = ["/x"], tolerance = [{ path = "/n", abs = 2.0 }] }

[compare]
ignore = ["/**/created_at"]
normalise = [{ path = "/session", as = "token" }]
unordered = [{ path = "/items", key = "id" }]

[triggers]
p95_ms = 250

[grouping]
templates = ["GET /users/{id}"]
max_routes = 50

[redaction]
fields = ["ssn"]
path_segments = false
"#;

    #[test]
    fn the_header_config_round_trips_without_credentials() {
        let config = Config::parse(TOML, "cutover.toml").expect("valid");
        let header = Header::for_config("r1", &config);
        let line = String::from_utf8(header.to_line()).expect("utf-8");
        assert!(line.starts_with("{\"cutover_recording\":1,"), "{line}");
        assert!(
            !line.contains("s3cret") && !line.contains("admin"),
            "{line}"
        );
        let back: Header = serde_json::from_str(&line).expect("parses");
        let again = back.config("rec.jsonl").expect("valid").expect("present");
        assert_eq!(again.file.compare, config.file.compare);
        assert_eq!(again.file.routes[0].compare, config.file.routes[0].compare);
        assert_eq!(*again.file.routes[0].sample.get_ref(), 0.5);
        assert_eq!(again.file.triggers, config.file.triggers);
        assert_eq!(again.file.grouping.template_pairs().len(), 1);
        assert_eq!(again.file.redaction, config.file.redaction);
        assert_eq!(again.primary().0, "monolith");
        assert_eq!(again.secondary().map(|s| s.0), Some("twin"));
        assert_eq!(again.primary().1.url.get_ref(), "http://127.0.0.1:8000");
        // The digest is stable across the round trip and changes with the rules.
        assert_eq!(
            config_digest(&again),
            header.config_digest.clone().expect("d")
        );
        let other =
            Config::parse(&TOML.replace("p95_ms = 250", "p95_ms = 251"), "x").expect("valid");
        assert_ne!(config_digest(&other), config_digest(&config));
    }

    #[test]
    fn run_ids_differ_within_one_second() {
        let ids: std::collections::HashSet<String> = (0..50).map(|_| run_id()).collect();
        assert_eq!(ids.len(), 50);
        assert_eq!(without_userinfo("http://u:p@h:1/x@y"), "http://h:1/x@y");
        assert_eq!(without_userinfo("http://h:1"), "http://h:1");
    }
}
