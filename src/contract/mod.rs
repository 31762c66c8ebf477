//! Contracts: OpenAPI 3.0/3.1 documents and plain JSON Schemas per operation, loaded from a
//! directory once, compiled once, and checked against requests and responses.
//!
//! Owns the `contracts/` format (`contracts.toml` manifest, `docs/contracts.md`), loading with
//! errors that name the file and the location (line:column for syntax, a JSON pointer for
//! structure), operation lookup by method and path template (a concrete path wins over a
//! template), and [`Check`]: `Uncovered` (no contract: never a pass), `Conforms`, or
//! typed [`Violation`]s (schema, undocumented status, content type, ...). Pure after
//! loading: no I/O, no clock; it never redacts (violations carry a masked message for the
//! caller to choose) and never decides a gate.
//!
//! Layout: `load.rs` (files, YAML/JSON, manifest), `openapi.rs` (operations of an OpenAPI
//! document), `translate.rs` (3.0 → 2020-12, `$ref`s, recursion-safe `$defs`),
//! `validate.rs` (compiled schemas, media types, bodies), `matcher.rs` (path templates),
//! `import.rs` (`cutover contract import`).

pub mod import;
mod load;
mod matcher;
mod openapi;
pub mod translate;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use load::{MANIFEST, read_document};
use matcher::Matcher;
use validate::Media;

/// Why contracts could not be loaded. Every variant names the file and the location.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {pointer}: {message}")]
    Invalid {
        file: PathBuf,
        /// A JSON pointer (`#/paths/~1users/get`), or a manifest key.
        pointer: String,
        message: String,
    },
}

impl ContractError {
    pub(crate) fn invalid(file: &Path, pointer: &str, message: impl Into<String>) -> Self {
        ContractError::Invalid {
            file: file.to_path_buf(),
            pointer: pointer.to_string(),
            message: message.into(),
        }
    }
}

/// What a violation is about. Kept apart so a team can weigh them differently (FastAPI
/// documents only 200 and 422: an undocumented 404 is not a schema violation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// The body does not validate against the documented schema.
    Schema,
    /// The status is not documented for the operation (and there is no `default`).
    UndocumentedStatus,
    /// The content type is not one the operation documents.
    ContentType,
    /// The body cannot be decoded as its content type says (invalid JSON).
    InvalidBody,
    /// A required request body is missing.
    MissingBody,
    /// A required query or path parameter is missing.
    MissingParameter,
    /// A parameter's value does not fit its schema.
    Parameter,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Schema => "schema",
            ViolationKind::UndocumentedStatus => "undocumented_status",
            ViolationKind::ContentType => "content_type",
            ViolationKind::InvalidBody => "invalid_body",
            ViolationKind::MissingBody => "missing_body",
            ViolationKind::MissingParameter => "missing_parameter",
            ViolationKind::Parameter => "parameter",
        }
    }
}

/// One way a message breaks its contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// JSON pointer into the body (`/id`); empty for the whole message.
    pub instance_path: String,
    /// Where the rule is: the schema's location in its source plus the keyword path
    /// (`reference.openapi.json#/paths/~1auth~1me/get/responses/200/.../properties/id/type`).
    pub schema_path: String,
    /// As the validator words it (may quote the offending value).
    pub message: String,
    /// The same with values replaced by `value` (for secret-looking locations).
    pub masked_message: String,
}

impl Violation {
    pub(crate) fn plain(kind: ViolationKind, schema_path: &str, message: String) -> Violation {
        Violation {
            kind,
            instance_path: String::new(),
            schema_path: schema_path.to_string(),
            masked_message: message.clone(),
            message,
        }
    }
}

/// The result of checking one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No contract covers this method and path: never a pass.
    Uncovered,
    Conforms,
    Violations(Vec<Violation>),
}

impl Check {
    /// `Conforms` for an empty list.
    pub fn from_list(list: Vec<Violation>) -> Check {
        if list.is_empty() {
            Check::Conforms
        } else {
            Check::Violations(list)
        }
    }

    pub fn violations(&self) -> &[Violation] {
        match self {
            Check::Violations(v) => v,
            _ => &[],
        }
    }
}

/// An operation as the lookup found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationRef<'a> {
    /// Upper case.
    pub method: &'a str,
    /// The path template as documented (`/auth/users/{id}`), with any manifest prefix.
    pub template: &'a str,
    pub operation_id: Option<&'a str>,
    /// The file it comes from.
    pub source: &'a Path,
}

/// Which statuses a documented response covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKey {
    Exact(u16),
    /// `2XX`.
    Range(u16),
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamIn {
    Query,
    Path,
}

#[derive(Debug)]
pub(crate) struct Param {
    pub name: String,
    pub location: ParamIn,
    pub required: bool,
    pub schema: Option<std::sync::Arc<validate::Compiled>>,
    pub pointer: String,
}

#[derive(Debug)]
pub(crate) struct Operation {
    pub method: String,
    pub template: String,
    pub operation_id: Option<String>,
    pub source: PathBuf,
    pub params: Vec<Param>,
    pub body_required: bool,
    pub request: Vec<Media>,
    pub responses: Vec<(StatusKey, Vec<Media>)>,
}

/// Every loaded contract, compiled, with its operation lookup.
#[derive(Debug, Default)]
pub struct Contracts {
    ops: Vec<Operation>,
    matcher: Matcher,
    files: Vec<PathBuf>,
}

impl Contracts {
    /// Load `dir`: the documents `contracts.toml` lists, or without a manifest every
    /// `*.json`/`*.yaml`/`*.yml` OpenAPI document in it. Schemas are compiled here, once.
    pub fn load(dir: &Path) -> Result<Contracts, ContractError> {
        let mut c = Contracts::default();
        let ops = load::load_dir(dir, &mut c.files)?;
        for op in ops {
            c.add(op)?;
        }
        Ok(c)
    }

    /// One OpenAPI document (a file), without a manifest.
    pub fn load_document(file: &Path) -> Result<Contracts, ContractError> {
        let mut c = Contracts::default();
        let ops = load::load_openapi(file, "")?;
        c.files.push(file.to_path_buf());
        for op in ops {
            c.add(op)?;
        }
        Ok(c)
    }

    /// One OpenAPI document already in memory (`name` stands for its file in messages and
    /// schema paths), e.g. the reference system's own.
    pub fn from_document(name: &Path, doc: &serde_json::Value) -> Result<Contracts, ContractError> {
        let mut c = Contracts::default();
        for op in openapi::operations(name, doc, "")? {
            c.add(op)?;
        }
        c.files.push(name.to_path_buf());
        Ok(c)
    }

    fn add(&mut self, op: Operation) -> Result<(), ContractError> {
        if let Some(prev) = self
            .ops
            .iter()
            .find(|o| o.method == op.method && o.template == op.template)
        {
            return Err(ContractError::invalid(
                &op.source,
                &format!("{} {}", op.method, op.template),
                format!("operation already defined in {}", prev.source.display()),
            ));
        }
        self.matcher.add(&op.method, &op.template, self.ops.len());
        self.ops.push(op);
        Ok(())
    }

    /// How many operations are loaded.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The files loaded, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every operation's `(method, template)`: route templates for the grouper.
    pub fn templates(&self) -> Vec<(String, String)> {
        self.ops
            .iter()
            .map(|o| (o.method.clone(), o.template.clone()))
            .collect()
    }

    /// The operation `method path` belongs to (query ignored; concrete path over template).
    pub fn operation(&self, method: &str, path: &str) -> Option<OperationRef<'_>> {
        let op = &self.ops[self.matcher.find(method, path)?];
        Some(OperationRef {
            method: &op.method,
            template: &op.template,
            operation_id: op.operation_id.as_deref(),
            source: &op.source,
        })
    }

    fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        self.matcher.find(method, path).map(|i| &self.ops[i])
    }

    /// Check a request (`uri` may carry a query) and its body.
    pub fn check_request(
        &self,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Check {
        let Some(op) = self.find(method, uri) else {
            return Check::Uncovered;
        };
        let mut out = Vec::new();
        openapi::check_params(op, uri, &mut out);
        if body.is_empty() {
            if op.body_required {
                out.push(Violation::plain(
                    ViolationKind::MissingBody,
                    "",
                    "the request body is required but empty".into(),
                ));
            }
        } else {
            validate::check_body(&op.request, content_type, body, "the request", &mut out);
        }
        Check::from_list(out)
    }

    /// Check a response of `status` to `method path`.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Check {
        let Some(op) = self.find(method, path) else {
            return Check::Uncovered;
        };
        let found = op
            .responses
            .iter()
            .find(|(k, _)| *k == StatusKey::Exact(status))
            .or_else(|| {
                op.responses
                    .iter()
                    .find(|(k, _)| *k == StatusKey::Range(status / 100))
            })
            .or_else(|| op.responses.iter().find(|(k, _)| *k == StatusKey::Default));
        let Some((_, media)) = found else {
            let documented: Vec<String> = op
                .responses
                .iter()
                .map(|(k, _)| match k {
                    StatusKey::Exact(s) => s.to_string(),
                    StatusKey::Range(r) => format!("{r}XX"),
                    StatusKey::Default => "default".into(),
                })
                .collect();
            let message = format!(
                "status {status} is not documented for {} {} (documented: {})",
                op.method,
                op.template,
                documented.join(", ")
            );
            return Check::Violations(vec![Violation::plain(
                ViolationKind::UndocumentedStatus,
                "",
                message,
            )]);
        };
        let mut out = Vec::new();
        let what = format!("the {status} response");
        validate::check_body(media, content_type, body, &what, &mut out);
        Check::from_list(out)
    }
}

#[cfg(test)]
mod tests;
