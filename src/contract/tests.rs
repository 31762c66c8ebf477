use std::path::Path;

use super::*;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

fn load(files: &[(&str, &str)]) -> Result<Contracts, ContractError> {
    let dir = dir_with(files);
    Contracts::load(dir.path())
}

fn loaded(files: &[(&str, &str)]) -> Contracts {
    load(files).unwrap_or_else(|e| panic!("{e}"))
}

/// An OpenAPI 3.0 document in YAML using the 3.0 dialect: `nullable`, boolean exclusive
/// bounds, `$ref` to components, a recursive schema, a form body and a required query.
const USERS_30: &str = r##"
openapi: 3.0.3
info: {title: Users, version: "1"}
paths:
  /users/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      operationId: get_user
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/User'}
        "4XX":
          description: error
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}
  /users/search:
    get:
      parameters:
        - {name: q, in: query, required: true, schema: {type: string, minLength: 1}}
        - {name: limit, in: query, schema: {type: integer, minimum: 0, exclusiveMinimum: true}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/User'}}
  /login:
    post:
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [username, password]
              properties:
                username: {type: string}
                password: {type: string, minLength: 8}
      responses:
        "200": {description: ok}
  /tree:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Node'}
components:
  schemas:
    User:
      type: object
      required: [id, username, display_name]
      properties:
        id: {type: integer}
        username: {type: string}
        display_name: {type: string, nullable: true}
        age: {type: integer, minimum: 0, exclusiveMinimum: true}
    Error:
      type: object
      required: [detail]
      properties:
        detail: {type: string}
    Node:
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
"##;

const USER_OK: &str = r#"{"id": 1, "username": "ann", "display_name": null}"#;

#[test]
fn openapi30_yaml_loads_and_conforming_answers_pass() {
    let c = loaded(&[("users.yaml", USERS_30)]);
    assert_eq!(c.len(), 4);
    let ok = c.check_response(
        "GET",
        "/users/1",
        200,
        Some("application/json"),
        USER_OK.as_bytes(),
    );
    assert_eq!(ok, Check::Conforms);
    let err = c.check_response(
        "GET",
        "/users/9",
        404,
        Some("application/json"),
        br#"{"detail":"User not found"}"#,
    );
    assert_eq!(err, Check::Conforms, "4XX covers 404");
    let deep = r#"{"name":"a","children":[{"name":"b","children":[{"name":"c","children":[]}]}]}"#;
    let tree = c.check_response(
        "GET",
        "/tree",
        200,
        Some("application/json"),
        deep.as_bytes(),
    );
    assert_eq!(tree, Check::Conforms, "recursive schema validates");
    let bad_tree = r#"{"children":[{"children":[{"name":7}]}]}"#;
    let v = c.check_response(
        "GET",
        "/tree",
        200,
        Some("application/json"),
        bad_tree.as_bytes(),
    );
    assert_eq!(v.violations().len(), 1);
    assert_eq!(
        v.violations()[0].instance_path,
        "/children/0/children/0/name"
    );
}

#[test]
fn a_broken_response_gives_exactly_the_expected_violation() {
    let c = loaded(&[("users.yaml", USERS_30)]);
    let body = br#"{"id": "1", "username": "ann", "display_name": null}"#;
    let check = c.check_response("GET", "/users/1", 200, Some("application/json"), body);
    let v = check.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, ViolationKind::Schema);
    assert_eq!(v[0].instance_path, "/id");
    assert_eq!(
        v[0].schema_path,
        "users.yaml#/components/schemas/User/properties/id/type"
    );
    assert!(v[0].message.contains("\"1\""), "{}", v[0].message);
    assert!(
        !v[0].masked_message.contains("\"1\""),
        "{}",
        v[0].masked_message
    );

    let missing = br#"{"id": 1, "username": "ann"}"#;
    let check = c.check_response("GET", "/users/1", 200, Some("application/json"), missing);
    let v = check.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].instance_path, "");
    assert!(
        v[0].schema_path.ends_with("/required"),
        "{}",
        v[0].schema_path
    );
    assert!(v[0].message.contains("display_name"), "{}", v[0].message);

    let zero_age = br#"{"id": 1, "username": "a", "display_name": "A", "age": 0}"#;
    let check = c.check_response("GET", "/users/1", 200, Some("application/json"), zero_age);
    assert_eq!(
        check.violations().len(),
        1,
        "exclusiveMinimum: true excludes 0"
    );
    assert!(
        check.violations()[0]
            .schema_path
            .ends_with("/exclusiveMinimum")
    );
}

#[test]
fn status_content_type_and_body_kinds_are_separate() {
    let c = loaded(&[("users.yaml", USERS_30)]);
    let check = c.check_response("GET", "/users/1", 500, Some("application/json"), b"{}");
    let v = check.violations();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].kind, ViolationKind::UndocumentedStatus);
    assert!(v[0].message.contains("200, 4XX"), "{}", v[0].message);

    let check = c.check_response("GET", "/users/1", 200, Some("text/html"), b"<p>");
    assert_eq!(check.violations()[0].kind, ViolationKind::ContentType);
    let check = c.check_response("GET", "/users/1", 200, Some("application/json"), b"{nope");
    assert_eq!(check.violations()[0].kind, ViolationKind::InvalidBody);
    let check = c.check_response("GET", "/nowhere", 200, Some("application/json"), b"{}");
    assert_eq!(check, Check::Uncovered);
    let check = c.check_response("DELETE", "/users/1", 200, None, b"");
    assert_eq!(check, Check::Uncovered);
}

#[test]
fn requests_are_checked_for_body_and_parameters() {
    let c = loaded(&[("users.yaml", USERS_30)]);
    let form = Some("application/x-www-form-urlencoded");
    let ok = c.check_request("POST", "/login", form, b"username=a&password=long-enough");
    assert_eq!(ok, Check::Conforms);
    let short = c.check_request("POST", "/login", form, b"username=a&password=short");
    assert_eq!(short.violations().len(), 1);
    assert_eq!(short.violations()[0].instance_path, "/password");
    let empty = c.check_request("POST", "/login", form, b"");
    assert_eq!(empty.violations()[0].kind, ViolationKind::MissingBody);

    assert_eq!(
        c.check_request("GET", "/users/search?q=an&limit=3", None, b""),
        Check::Conforms
    );
    let missing = c.check_request("GET", "/users/search", None, b"");
    assert_eq!(
        missing.violations()[0].kind,
        ViolationKind::MissingParameter
    );
    let zero = c.check_request("GET", "/users/search?q=a&limit=0", None, b"");
    assert_eq!(zero.violations()[0].kind, ViolationKind::Parameter);
    let id = c.check_request("GET", "/users/abc", None, b"");
    assert_eq!(id.violations()[0].kind, ViolationKind::Parameter);
    assert_eq!(id.violations()[0].instance_path, "path/id");
}

#[test]
fn concrete_paths_win_and_templates_are_listed() {
    let c = loaded(&[("users.yaml", USERS_30)]);
    let op = c.operation("GET", "/users/search?q=x");
    assert_eq!(op.map(|o| o.template), Some("/users/search"));
    let op = c.operation("get", "/users/17");
    assert_eq!(op.map(|o| o.template), Some("/users/{id}"));
    assert_eq!(op.and_then(|o| o.operation_id), Some("get_user"));
    assert!(
        c.templates()
            .contains(&("POST".to_string(), "/login".to_string()))
    );
}

fn error_text(files: &[(&str, &str)]) -> String {
    match load(files) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_names_file_and_location() {
    let e = error_text(&[("bad.yaml", "openapi: 3.1.0\npaths:\n  /a: [\n")]);
    assert!(
        e.contains("bad.yaml:") && e.contains("YAML syntax error"),
        "{e}"
    );
    let e = error_text(&[("bad.json", "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": }")]);
    assert!(e.contains("bad.json:3:"), "{e}");

    let remote = USERS_30.replace(
        "'#/components/schemas/Error'",
        "'https://example.com/error.json'",
    );
    let e = error_text(&[("r.yaml", &remote)]);
    assert!(
        e.contains("r.yaml: #/paths/~1users~1{id}/get/responses/4XX/content/application~1json/schema: remote $ref `https://example.com/error.json`"),
        "{e}"
    );
    let gone = USERS_30.replace(
        "'#/components/schemas/Error'",
        "'#/components/schemas/Gone'",
    );
    let e = error_text(&[("g.yaml", &gone)]);
    assert!(
        e.contains("g.yaml: #/paths/")
            && e.contains("unresolvable $ref `#/components/schemas/Gone`"),
        "{e}"
    );

    let invalid = USERS_30.replace("detail: {type: string}", "detail: {type: 12}");
    let e = error_text(&[("i.yaml", &invalid)]);
    assert!(
        e.contains("i.yaml: #/paths/") && e.contains("invalid schema"),
        "{e}"
    );

    let e = error_text(&[("s.json", r#"{"swagger": "2.0"}"#)]);
    assert!(e.contains("s.json: #/swagger: Swagger 2.0"), "{e}");
    let e = error_text(&[("x.json", r#"{"type": "object"}"#)]);
    assert!(e.contains("x.json: #/openapi"), "{e}");

    let cyclic = r##"{"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {
        "200": {"$ref": "#/components/responses/A"}}}}},
        "components": {"responses": {"A": {"$ref": "#/components/responses/B"},
                                     "B": {"$ref": "#/components/responses/A"}}}}"##;
    let e = error_text(&[("c.json", cyclic)]);
    assert!(
        e.contains("c.json: #/paths/~1a/get/responses/200: more than"),
        "{e}"
    );
}

#[test]
fn a_manifest_lists_plain_json_schemas_strictly() {
    let manifest = r#"
[[openapi]]
file = "users.yaml"
prefix = "/api"

[[operation]]
method = "GET"
path = "/health"
[[operation.response]]
status = "200"
schema = "health.json"
"#;
    let health = r##"{"$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object", "required": ["status"],
        "properties": {"status": {"$ref": "#/definitions/Status"}},
        "definitions": {"Status": {"enum": ["ok"]}}}"##;
    let c = loaded(&[
        ("contracts.toml", manifest),
        ("users.yaml", USERS_30),
        ("health.json", health),
    ]);
    assert_eq!(
        c.operation("GET", "/api/users/3").map(|o| o.template),
        Some("/api/users/{id}")
    );
    let ok = c.check_response(
        "GET",
        "/health",
        200,
        Some("application/json"),
        br#"{"status":"ok"}"#,
    );
    assert_eq!(ok, Check::Conforms);
    let bad = c.check_response(
        "GET",
        "/health",
        200,
        Some("application/json"),
        br#"{"status":"down"}"#,
    );
    assert_eq!(bad.violations().len(), 1);
    assert!(bad.violations()[0].schema_path.starts_with("health.json#"));

    let unknown = manifest.replace("prefix = \"/api\"", "prefix = \"/api\"\nbase = 1");
    let e = error_text(&[("contracts.toml", &unknown), ("users.yaml", USERS_30)]);
    assert!(
        e.contains("contracts.toml:5:") && e.contains("unknown field `base`"),
        "{e}"
    );

    let remote = health.replace("#/definitions/Status", "other.json#/Status");
    let e = error_text(&[
        ("contracts.toml", manifest),
        ("users.yaml", USERS_30),
        ("health.json", &remote),
    ]);
    assert!(
        e.contains("health.json: #/properties/status: remote $ref"),
        "{e}"
    );
}

#[test]
fn duplicate_operations_are_refused() {
    let e = error_text(&[("a.yaml", USERS_30), ("b.yaml", USERS_30)]);
    assert!(
        e.contains("b.yaml") && e.contains("already defined in") && e.contains("a.yaml"),
        "{e}"
    );
}

#[test]
fn a_missing_directory_is_an_error() {
    let e = Contracts::load(Path::new("/nonexistent/contracts")).err();
    assert!(e.is_some_and(|e| e.to_string().contains("/nonexistent/contracts")));
}
