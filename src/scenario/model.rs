//! The scenario file format as written (`docs/scenario-format.md`): plain serde types, every
//! table `deny_unknown_fields`, so a misspelt key is an error naming file:line:column.
//!
//! Data only: loading and checking live in `load.rs`, running in `exec.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDoc {
    /// Shown in outputs; default: the file name without extension.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Load stage: how often a simulated user picks this scenario relative to the others
    /// (ignored by `cutover verify`).
    #[serde(default = "one")]
    pub weight: u32,
    /// Load stage: the pause between steps (ignored by `cutover verify`).
    #[serde(default)]
    pub think_time: Option<ThinkTime>,
    /// Variables, resolved in the order written (`${env.NAME}` and earlier variables may
    /// be used in a value).
    #[serde(default)]
    pub vars: serde_norway::Mapping,
    /// Default for each step's `snapshot` (true).
    #[serde(default = "yes")]
    pub snapshot: bool,
    /// Steps run once per simulated user before `steps` (the load stage runs them once per
    /// user; `cutover verify` runs them first).
    #[serde(default)]
    pub setup: Vec<StepDoc>,
    pub steps: Vec<StepDoc>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// A pause: a fixed number of milliseconds or a uniform range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ThinkTime {
    Fixed(u64),
    Range { min_ms: u64, max_ms: u64 },
}

/// One step: a request, what to capture from its answer, what to expect of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    pub name: String,
    pub request: RequestDoc,
    /// Variables set from the answer, by name.
    #[serde(default)]
    pub capture: BTreeMap<String, CaptureDoc>,
    #[serde(default)]
    pub expect: ExpectDoc,
    /// Keep this step's normalised answer as a snapshot (default: the file's `snapshot`).
    #[serde(default)]
    pub snapshot: Option<bool>,
    /// With `--against`: compare this step's answers (default true).
    #[serde(default = "yes")]
    pub compare: bool,
    /// Load stage: the pause after this step (ignored by `cutover verify`).
    #[serde(default)]
    pub think_time: Option<ThinkTime>,
    /// Run the step once per row; a row's fields are `${row.NAME}`, its index `${index}`.
    #[serde(default)]
    pub for_each: Option<Vec<BTreeMap<String, Value>>>,
    /// Run the step this many times (a number or a `${variable}`); `${index}` counts.
    #[serde(default)]
    pub repeat: Option<Value>,
    /// Skip the step where its service and the named one are the same deployment (one
    /// base URL): for steps that only make sense when services are split.
    #[serde(default)]
    pub skip_if_same: Option<String>,
}

/// The request of a step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDoc {
    #[serde(default = "get")]
    pub method: String,
    /// Path (and optionally query) below the target's base URL.
    pub path: String,
    /// The service of the deployment to send it to (`monolith`, `auth`, `ai`); default: by
    /// path prefix (`/auth/` → auth, `/ai/` → ai, the rest → monolith). A target given as
    /// one URL serves every service.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    #[serde(default)]
    pub cookies: BTreeMap<String, Value>,
    /// Sugar for `Authorization: Bearer <value>`.
    #[serde(default)]
    pub bearer: Option<String>,
    /// A JSON body (`content-type: application/json`).
    #[serde(default)]
    pub json: Option<Value>,
    /// A form body (`application/x-www-form-urlencoded`).
    #[serde(default)]
    pub form: Option<BTreeMap<String, Value>>,
    /// A raw body, sent as written (set `content_type`).
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
}

fn get() -> String {
    "GET".into()
}

/// Where a captured value comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureFrom {
    /// The JSON body, at `pointer` (a JSON Pointer; `""` is the whole body).
    #[default]
    Body,
    /// A response header, by `name`.
    Header,
    /// A cookie the response sets (`Set-Cookie`), by `name`.
    Cookie,
    /// The status code.
    Status,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureDoc {
    #[serde(default)]
    pub from: CaptureFrom,
    #[serde(default)]
    pub pointer: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Never show the value (names that look secret — `token`, `password` — are anyway).
    #[serde(default)]
    pub secret: bool,
}

/// Assertions on a step's answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDoc {
    /// One status or a list of accepted ones.
    #[serde(default)]
    pub status: Option<StatusDoc>,
    /// Header name → check of its value.
    #[serde(default)]
    pub headers: BTreeMap<String, Check>,
    /// JSON Pointer → check of the value there.
    #[serde(default)]
    pub json: BTreeMap<String, Check>,
    /// Check of the whole body as text (an event stream, HTML, ...).
    #[serde(default)]
    pub text: Option<Check>,
    /// The answer conforms to the shipped contracts (`contracts/`).
    #[serde(default)]
    pub contract: bool,
    /// The whole answer arrives within this many milliseconds.
    #[serde(default)]
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusDoc {
    One(u16),
    Any(Vec<u16>),
}

impl StatusDoc {
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            StatusDoc::One(s) => *s == status,
            StatusDoc::Any(list) => list.contains(&status),
        }
    }
}

impl std::fmt::Display for StatusDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusDoc::One(s) => write!(f, "{s}"),
            StatusDoc::Any(list) => {
                let l: Vec<String> = list.iter().map(u16::to_string).collect();
                write!(f, "one of {}", l.join(", "))
            }
        }
    }
}

/// A check of one value; every given condition must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    #[serde(default)]
    pub equals: Option<Value>,
    /// A regular expression the value (as text) must match.
    #[serde(default)]
    pub matches: Option<String>,
    /// Present (true) or absent (false).
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default, rename = "type")]
    pub kind: Option<JsonType>,
    /// A string contains this text; an array contains this element.
    #[serde(default)]
    pub contains: Option<Value>,
    /// Array, string or object length.
    #[serde(default)]
    pub length: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

impl JsonType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
            JsonType::Null => "null",
        }
    }

    pub fn holds(self, v: &Value) -> bool {
        match self {
            JsonType::String => v.is_string(),
            JsonType::Number => v.is_number(),
            JsonType::Integer => v.is_i64() || v.is_u64(),
            JsonType::Boolean => v.is_boolean(),
            JsonType::Array => v.is_array(),
            JsonType::Object => v.is_object(),
            JsonType::Null => v.is_null(),
        }
    }
}
