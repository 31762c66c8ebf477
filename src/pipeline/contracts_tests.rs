use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::compare::grouping::RouteGrouper;
use crate::exchange::{Body, Outcome, Outcomes, RecordedRequest, RecordedResponse};
use crate::pipeline::Analyzers;
use crate::pipeline::conformance::ConformanceStats;

/// Login (form, `password` ≥ 8), a user by id, nothing else.
fn contracts() -> Arc<Contracts> {
    let doc = json!({
        "openapi": "3.1.0",
        "paths": {
            "/login": {"post": {
                "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "required": ["username", "password"],
                               "properties": {"username": {"type": "string"},
                                              "password": {"type": "string", "minLength": 8}}}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"access_token": {"type": "integer"}}}}}}}}},
            "/users/{id}": {"get": {"responses": {"200": {"description": "ok", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/User"}}}}}}}
        },
        "components": {"schemas": {"User": {"type": "object", "required": ["id"],
            "properties": {"id": {"type": "integer"}}}}}
    });
    let c = Contracts::from_document(Path::new("t.json"), &doc).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(c)
}

fn outcome(status: u16, body: &str) -> Outcome {
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Response(RecordedResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from(body),
            truncated: false,
            ttfb_us: 1,
            total_us: 2,
        }),
    }
}

fn exchange(method: &str, uri: &str, body: &str, primary: Outcome, candidate: Outcome) -> Exchange {
    Exchange {
        translation: Vec::new(),
        id: 7,
        seq: 7,
        at: Utc::now(),
        route: format!("{method} {uri}"),
        identity: None,
        request: RecordedRequest {
            method: method.into(),
            uri: uri.into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Body::from(body),
            truncated: false,
        },
        outcomes: Outcomes {
            primary,
            secondary: None,
            candidate: Some(candidate),
        },
    }
}

fn stage() -> Analyzers {
    let c = contracts();
    Analyzers::new(RouteGrouper::new(Vec::<(&str, &str)>::new()))
        .with_templates(c.templates())
        .with(Arc::new(ContractAnalyzer::new(c, Redaction::default())))
}

#[test]
fn each_side_is_checked_and_routes_follow_the_templates() {
    let a = stage();
    let ex = exchange(
        "GET",
        "/users/abc-not-an-id",
        "",
        outcome(200, r#"{"id": 1}"#),
        outcome(200, r#"{"id": "1"}"#),
    );
    let an = a.analyze(&ex);
    assert_eq!(an.route.as_str(), "GET /users/{id}");
    let sides: Vec<(Side, Conformance)> = an
        .contracts
        .iter()
        .map(|c| (c.side, c.conformance))
        .collect();
    assert_eq!(
        sides,
        [
            (Side::Request, Conformance::Conforms),
            (Side::Primary, Conformance::Conforms),
            (Side::Candidate, Conformance::Violates),
        ]
    );
    let notes: Vec<&str> = an.notes().map(|(_, n)| n.code.as_str()).collect();
    assert_eq!(notes, ["candidate schema at /id"]);
    assert_eq!(
        an.contracts[2].violations[0].schema_path,
        "t.json#/components/schemas/User/properties/id/type"
    );
    let mut stats = ConformanceStats::default();
    stats.add(&an.contracts, ex.id);
    assert_eq!(stats.sides[&Side::Candidate].violating, 1);
}

#[test]
fn routes_without_a_contract_are_uncovered() {
    let a = stage();
    let ex = exchange("GET", "/health", "", outcome(200, "{}"), outcome(200, "{}"));
    let an = a.analyze(&ex);
    assert_eq!(an.contracts.len(), 1);
    assert_eq!(an.contracts[0].conformance, Conformance::Uncovered);
    let mut stats = ConformanceStats::default();
    stats.add(&an.contracts, ex.id);
    assert_eq!((stats.uncovered, stats.sides.len()), (1, 0));
}

#[test]
fn secret_values_never_reach_a_violation() {
    let a = stage();
    let ex = exchange(
        "POST",
        "/login",
        "username=ann&password=hunter2",
        outcome(
            200,
            r#"{"access_token": "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.sig"}"#,
        ),
        outcome(200, r#"{"access_token": 1}"#),
    );
    let an = a.analyze(&ex);
    let text = serde_json::to_string(&an).unwrap_or_default();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("c2VjcmV0LXRva2VuLXZhbHVl"), "{text}");
    let request = &an.contracts[0];
    assert_eq!(request.conformance, Conformance::Violates);
    assert_eq!(request.violations[0].instance_path, "/password");
    let primary = &an.contracts[1];
    assert_eq!(primary.violations[0].instance_path, "/access_token");
}

#[test]
fn truncated_bodies_are_judged_by_status_only() {
    let a = stage();
    let mut cut = outcome(200, r#"{"id": "#);
    if let OutcomeResult::Response(r) = &mut cut.result {
        r.truncated = true;
    }
    let ex = exchange("GET", "/users/1", "", cut, outcome(500, "{}"));
    let an = a.analyze(&ex);
    assert_eq!(an.contracts[1].conformance, Conformance::Conforms);
    assert_eq!(
        an.contracts[2].violations[0].kind,
        crate::contract::ViolationKind::UndocumentedStatus
    );
}
