//! Reading contract files: YAML or JSON documents (syntax errors at file:line:column), the
//! `contracts.toml` manifest (strict: unknown keys refused), and plain JSON Schema
//! operations it lists.
//!
//! Owns where contracts come from on disk. Without a manifest, every `*.json`, `*.yaml` and
//! `*.yml` file of the directory must be an OpenAPI document. Never compiles anything
//! itself (`openapi.rs` and `validate.rs` do).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::translate::{self, Dialect};
use super::validate::{self, Compiler, Media};
use super::{ContractError, Operation, StatusKey, openapi};

/// The manifest's file name inside a contracts directory.
pub const MANIFEST: &str = "contracts.toml";

/// `contracts.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// OpenAPI documents, in order.
    #[serde(default)]
    openapi: Vec<DocumentEntry>,
    /// Operations described by plain JSON Schema files.
    #[serde(default)]
    operation: Vec<OperationEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentEntry {
    /// Relative to the directory.
    file: PathBuf,
    /// Prepended to every path template (e.g. the `servers` base path `/api/v1`).
    #[serde(default)]
    prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationEntry {
    method: String,
    path: String,
    #[serde(default)]
    operation_id: Option<String>,
    #[serde(default)]
    request: Option<BodyEntry>,
    #[serde(default)]
    response: Vec<ResponseEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyEntry {
    #[serde(default = "json")]
    content_type: String,
    schema: Option<PathBuf>,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseEntry {
    /// `"200"`, `"4XX"` or `"default"`.
    status: String,
    #[serde(default = "json")]
    content_type: String,
    schema: Option<PathBuf>,
}

fn json() -> String {
    "application/json".into()
}

/// A YAML or JSON file as a JSON value (JSON when it starts with `{` or `[`).
pub fn read_document(file: &Path) -> Result<Value, ContractError> {
    let text = std::fs::read_to_string(file).map_err(|source| ContractError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    parse_document(file, &text)
}

pub(crate) fn parse_document(file: &Path, text: &str) -> Result<Value, ContractError> {
    let syntax = |line, column, kind: &str, message: String| ContractError::Syntax {
        file: file.to_path_buf(),
        line,
        column,
        message: format!("{kind} syntax error: {message}"),
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(trimmed)
            .map_err(|e| syntax(e.line(), e.column(), "JSON", e.to_string()));
    }
    serde_norway::from_str::<Value>(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        syntax(line, column, "YAML", e.to_string())
    })
}

/// The operations of every contract in `dir`; `files` gets each file read.
pub(crate) fn load_dir(
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Vec<Operation>, ContractError> {
    let manifest_file = dir.join(MANIFEST);
    if manifest_file.exists() {
        let text = std::fs::read_to_string(&manifest_file).map_err(|source| ContractError::Io {
            file: manifest_file.clone(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
            ContractError::Syntax {
                file: manifest_file.clone(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let mut ops = Vec::new();
        for d in &manifest.openapi {
            let file = dir.join(&d.file);
            ops.extend(load_openapi(&file, &d.prefix)?);
            files.push(file);
        }
        let mut compiler = Compiler::default();
        for (i, o) in manifest.operation.iter().enumerate() {
            ops.push(schema_operation(
                dir,
                &manifest_file,
                i,
                o,
                &mut compiler,
                files,
            )?);
        }
        files.push(manifest_file);
        return Ok(ops);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ContractError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut list: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| matches!(x, "json" | "yaml" | "yml"))
        })
        .collect();
    list.sort();
    let mut ops = Vec::new();
    for file in list {
        ops.extend(load_openapi(&file, "")?);
        files.push(file);
    }
    Ok(ops)
}

/// The operations of one OpenAPI document.
pub(crate) fn load_openapi(file: &Path, prefix: &str) -> Result<Vec<Operation>, ContractError> {
    let doc = read_document(file)?;
    openapi::operations(file, &doc, prefix)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn schema_media(
    dir: &Path,
    schema: Option<&PathBuf>,
    content_type: &str,
    compiler: &mut Compiler,
    files: &mut Vec<PathBuf>,
) -> Result<Media, ContractError> {
    let mut media = Media {
        range: validate::essence(content_type),
        schema: None,
        pointer: String::new(),
    };
    let Some(schema) = schema else {
        return Ok(media);
    };
    let file = dir.join(schema);
    let doc = read_document(&file)?;
    if let Some(p) = translate::first_remote_ref(&doc, "#") {
        let r = match p.kind {
            translate::ProblemKind::Remote(r) => r,
            _ => String::new(),
        };
        return Err(ContractError::invalid(
            &file,
            &p.pointer,
            format!("remote $ref `{r}` is not supported: only local references (`#/...`) are"),
        ));
    }
    let doc = translate::translate(&doc, Dialect::JsonSchema, "#").map_err(|p| {
        ContractError::invalid(&file, &p.pointer, "schema nested too deep or not a schema")
    })?;
    media.schema = Some(
        compiler
            .compile(&doc)
            .map_err(|m| ContractError::invalid(&file, "#", format!("invalid schema: {m}")))?,
    );
    media.pointer = format!(
        "{}#",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    files.push(file);
    Ok(media)
}

fn schema_operation(
    dir: &Path,
    manifest: &Path,
    i: usize,
    o: &OperationEntry,
    compiler: &mut Compiler,
    files: &mut Vec<PathBuf>,
) -> Result<Operation, ContractError> {
    let at = format!("operation[{i}]");
    if !o.path.starts_with('/') {
        return Err(ContractError::invalid(
            manifest,
            &format!("{at}.path"),
            "a path must start with `/`",
        ));
    }
    if o.method.is_empty() || !o.method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ContractError::invalid(
            manifest,
            &format!("{at}.method"),
            "expected an HTTP method such as GET",
        ));
    }
    let (body_required, request) = match &o.request {
        Some(b) => (
            b.required,
            vec![schema_media(
                dir,
                b.schema.as_ref(),
                &b.content_type,
                compiler,
                files,
            )?],
        ),
        None => (false, Vec::new()),
    };
    let mut responses: Vec<(StatusKey, Vec<Media>)> = Vec::new();
    for (j, r) in o.response.iter().enumerate() {
        let key = openapi::status_key(&r.status).ok_or_else(|| {
            ContractError::invalid(
                manifest,
                &format!("{at}.response[{j}].status"),
                format!(
                    "`{}` is not a status, a range like `4XX`, or `default`",
                    r.status
                ),
            )
        })?;
        let media = schema_media(dir, r.schema.as_ref(), &r.content_type, compiler, files)?;
        match responses.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(media),
            None => responses.push((key, vec![media])),
        }
    }
    Ok(Operation {
        method: o.method.to_ascii_uppercase(),
        template: o.path.clone(),
        operation_id: o.operation_id.clone(),
        source: manifest.to_path_buf(),
        params: Vec::new(),
        body_required,
        request,
        responses,
    })
}
