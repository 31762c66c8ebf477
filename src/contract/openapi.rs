//! The operations of one OpenAPI 3.0 or 3.1 document: paths, methods, parameters, request
//! bodies and responses, with local `$ref`s to components followed (a bounded number of
//! hops, so reference cycles end in an error) and every schema compiled.
//!
//! Owns the reading of an OpenAPI document's structure and the parameter checks of a
//! request. Never reads files (`load.rs` does) and never validates bodies (`validate.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::translate::{self, Dialect, Problem, ProblemKind, escape};
use super::validate::{self, Compiler, Media};
use super::{ContractError, Operation, Param, ParamIn, StatusKey, Violation, ViolationKind};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// `$ref` hops followed for one non-schema object before giving up (a cycle).
const MAX_HOPS: usize = 16;

struct Ctx<'a> {
    file: &'a Path,
    doc: &'a Value,
    dialect: Dialect,
    components: BTreeMap<String, Value>,
    compiler: Compiler,
}

fn problem(file: &Path, p: Problem) -> ContractError {
    let message = match p.kind {
        ProblemKind::Remote(r) => format!(
            "remote $ref `{r}` is not supported: only local references (`#/components/schemas/...`) are; bundle the document first"
        ),
        ProblemKind::Unresolved(r) => format!("unresolvable $ref `{r}`"),
        ProblemKind::TooDeep => {
            format!("schema nested deeper than {} levels", translate::MAX_DEPTH)
        }
        ProblemKind::NotASchema => "not a schema (expected an object or a boolean)".into(),
    };
    ContractError::invalid(file, &p.pointer, message)
}

/// The dialect an OpenAPI document's `openapi` version implies.
pub(crate) fn dialect(file: &Path, doc: &Value) -> Result<Dialect, ContractError> {
    if doc.get("swagger").is_some() {
        return Err(ContractError::invalid(
            file,
            "#/swagger",
            "Swagger 2.0 is not supported: convert it to OpenAPI 3 first",
        ));
    }
    match doc.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0") => Ok(Dialect::OpenApi30),
        Some(v) if v.starts_with("3.1") || v.starts_with("3.2") => Ok(Dialect::OpenApi31),
        Some(v) => Err(ContractError::invalid(
            file,
            "#/openapi",
            format!("unsupported OpenAPI version `{v}` (3.0 and 3.1 are)"),
        )),
        None => Err(ContractError::invalid(
            file,
            "#/openapi",
            "not an OpenAPI document: no `openapi` version",
        )),
    }
}

/// Every operation of `doc`, templates prefixed with `prefix`.
pub(crate) fn operations(
    file: &Path,
    doc: &Value,
    prefix: &str,
) -> Result<Vec<Operation>, ContractError> {
    let dialect = dialect(file, doc)?;
    let mut components = BTreeMap::new();
    if let Some(schemas) = doc.pointer("/components/schemas") {
        let Some(map) = schemas.as_object() else {
            return Err(ContractError::invalid(
                file,
                "#/components/schemas",
                "expected an object",
            ));
        };
        for (name, s) in map {
            let at = format!("#/components/schemas/{}", escape(name));
            let t = translate::translate(s, dialect, &at).map_err(|p| problem(file, p))?;
            components.insert(name.clone(), t);
        }
    }
    let mut ctx = Ctx {
        file,
        doc,
        dialect,
        components,
        compiler: Compiler::default(),
    };
    let mut ops = Vec::new();
    let Some(paths) = doc.get("paths") else {
        return Ok(ops);
    };
    let Some(paths) = paths.as_object() else {
        return Err(ContractError::invalid(
            file,
            "#/paths",
            "expected an object",
        ));
    };
    for (path, item) in paths {
        let at = format!("#/paths/{}", escape(path));
        if !path.starts_with('/') {
            return Err(ContractError::invalid(
                file,
                &at,
                "a path must start with `/`",
            ));
        }
        let item = ctx.follow(item, &at)?;
        let shared = item.get("parameters");
        for m in METHODS {
            let Some(op) = item.get(*m) else { continue };
            let op_at = format!("{at}/{m}");
            ops.push(ctx.operation(path, m, op, shared, &op_at, prefix)?);
        }
    }
    Ok(ops)
}

impl<'a> Ctx<'a> {
    /// A non-schema object, following local `$ref`s.
    fn follow<'v>(&self, mut v: &'v Value, at: &str) -> Result<&'v Value, ContractError>
    where
        'a: 'v,
    {
        for _ in 0..MAX_HOPS {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Ok(v);
            };
            let Some(pointer) = r.strip_prefix('#') else {
                return Err(problem(
                    self.file,
                    Problem {
                        pointer: at.into(),
                        kind: ProblemKind::Remote(r.into()),
                    },
                ));
            };
            v = self.doc_pointer(pointer).ok_or_else(|| {
                problem(
                    self.file,
                    Problem {
                        pointer: at.into(),
                        kind: ProblemKind::Unresolved(r.into()),
                    },
                )
            })?;
        }
        Err(ContractError::invalid(
            self.file,
            at,
            format!("more than {MAX_HOPS} $ref hops (a reference cycle?)"),
        ))
    }

    fn doc_pointer(&self, pointer: &str) -> Option<&'a Value> {
        let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
        self.doc.pointer(&decoded)
    }

    fn compile(&mut self, schema: &Value, at: &str) -> Result<Media, ContractError> {
        let t =
            translate::translate(schema, self.dialect, at).map_err(|p| problem(self.file, p))?;
        let doc =
            translate::document(&t, &self.components, at).map_err(|p| problem(self.file, p))?;
        let compiled = self
            .compiler
            .compile(&doc)
            .map_err(|m| ContractError::invalid(self.file, at, format!("invalid schema: {m}")))?;
        Ok(Media {
            range: String::new(),
            schema: Some(compiled),
            pointer: format!("{}{at}", self.file_name()),
        })
    }

    fn file_name(&self) -> String {
        self.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn content(&mut self, content: Option<&Value>, at: &str) -> Result<Vec<Media>, ContractError> {
        let mut out = Vec::new();
        let Some(content) = content else {
            return Ok(out);
        };
        let Some(map) = content.as_object() else {
            return Err(ContractError::invalid(self.file, at, "expected an object"));
        };
        for (range, media) in map {
            let m_at = format!("{at}/{}", escape(range));
            let mut m = match media.get("schema") {
                Some(s) => self.compile(s, &format!("{m_at}/schema"))?,
                None => Media {
                    range: String::new(),
                    schema: None,
                    pointer: format!("{}{m_at}", self.file_name()),
                },
            };
            m.range = validate::essence(range);
            out.push(m);
        }
        Ok(out)
    }

    fn operation(
        &mut self,
        path: &str,
        method: &str,
        op: &Value,
        shared: Option<&Value>,
        at: &str,
        prefix: &str,
    ) -> Result<Operation, ContractError> {
        let mut params: Vec<Param> = Vec::new();
        let lists = [
            (shared, at.rsplit_once('/').map_or(at, |p| p.0).to_string()),
            (op.get("parameters"), at.to_string()),
        ];
        for (list, base) in lists {
            let Some(list) = list else { continue };
            let Some(list) = list.as_array() else {
                return Err(ContractError::invalid(
                    self.file,
                    &format!("{base}/parameters"),
                    "expected an array",
                ));
            };
            for (i, p) in list.iter().enumerate() {
                let p_at = format!("{base}/parameters/{i}");
                let p = self.follow(p, &p_at)?;
                let (Some(name), Some(location)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("in").and_then(Value::as_str),
                ) else {
                    return Err(ContractError::invalid(
                        self.file,
                        &p_at,
                        "a parameter needs `name` and `in`",
                    ));
                };
                let location = match location {
                    "query" => ParamIn::Query,
                    "path" => ParamIn::Path,
                    _ => continue,
                };
                let schema = match p.get("schema") {
                    Some(s) => self.compile(s, &format!("{p_at}/schema"))?.schema,
                    None => None,
                };
                params.retain(|q| !(q.name == name && q.location == location));
                params.push(Param {
                    name: name.to_string(),
                    location,
                    required: p
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(location == ParamIn::Path),
                    schema,
                    pointer: format!("{}{p_at}", self.file_name()),
                });
            }
        }
        let (body_required, request) = match op.get("requestBody") {
            Some(b) => {
                let b_at = format!("{at}/requestBody");
                let b = self.follow(b, &b_at)?;
                let required = b.get("required").and_then(Value::as_bool).unwrap_or(false);
                (
                    required,
                    self.content(b.get("content"), &format!("{b_at}/content"))?,
                )
            }
            None => (false, Vec::new()),
        };
        let mut responses = Vec::new();
        if let Some(rs) = op.get("responses") {
            let Some(rs) = rs.as_object() else {
                return Err(ContractError::invalid(
                    self.file,
                    &format!("{at}/responses"),
                    "expected an object",
                ));
            };
            for (code, r) in rs {
                let r_at = format!("{at}/responses/{}", escape(code));
                let key = status_key(code).ok_or_else(|| {
                    ContractError::invalid(
                        self.file,
                        &r_at,
                        format!("`{code}` is not a status, a range like `4XX`, or `default`"),
                    )
                })?;
                let r = self.follow(r, &r_at)?;
                responses.push((
                    key,
                    self.content(r.get("content"), &format!("{r_at}/content"))?,
                ));
            }
        }
        Ok(Operation {
            method: method.to_ascii_uppercase(),
            template: format!("{}{path}", prefix.trim_end_matches('/')),
            operation_id: op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string),
            source: self.file.to_path_buf(),
            params,
            body_required,
            request,
            responses,
        })
    }
}

pub(crate) fn status_key(code: &str) -> Option<StatusKey> {
    if code == "default" {
        return Some(StatusKey::Default);
    }
    let b = code.as_bytes();
    if b.len() == 3 && b[0].is_ascii_digit() && code[1..].eq_ignore_ascii_case("xx") {
        return Some(StatusKey::Range(u16::from(b[0] - b'0')));
    }
    code.parse::<u16>()
        .ok()
        .filter(|s| (100..600).contains(s))
        .map(StatusKey::Exact)
}

/// Required query parameters present, query and path values fitting their schemas.
pub(crate) fn check_params(op: &Operation, uri: &str, out: &mut Vec<Violation>) {
    let query = uri
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .unwrap_or("");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let path_values: Vec<&str> = super::matcher::segments(uri).collect();
    let template: Vec<&str> = super::matcher::segments(&op.template).collect();
    for p in &op.params {
        let values: Vec<&str> = match p.location {
            ParamIn::Query => pairs
                .iter()
                .filter(|(k, _)| *k == p.name)
                .map(|(_, v)| v.as_str())
                .collect(),
            ParamIn::Path => {
                let needle = format!("{{{}}}", p.name);
                let mut found = Vec::new();
                for (t, v) in template.iter().zip(path_values.iter()) {
                    if *t == needle {
                        found.push(*v);
                    }
                }
                found
            }
        };
        if values.is_empty() {
            if p.required && p.location == ParamIn::Query {
                out.push(Violation::plain(
                    ViolationKind::MissingParameter,
                    &p.pointer,
                    format!("required query parameter `{}` is missing", p.name),
                ));
            }
            continue;
        }
        let Some(schema) = &p.schema else { continue };
        for v in values {
            if !validate::parameter_conforms(schema, v) {
                let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                out.push(Violation {
                    kind: ViolationKind::Parameter,
                    instance_path: format!(
                        "{}/{}",
                        if p.location == ParamIn::Query {
                            "query"
                        } else {
                            "path"
                        },
                        p.name
                    ),
                    schema_path: p.pointer.clone(),
                    message: format!(
                        "parameter `{}` = {:?} does not fit its schema",
                        p.name, decoded
                    ),
                    masked_message: format!("parameter `{}` does not fit its schema", p.name),
                });
            }
        }
    }
}
