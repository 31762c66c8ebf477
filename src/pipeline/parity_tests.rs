use chrono::Utc;

use super::*;
use crate::exchange::{Body, Outcome, OutcomeResult, Outcomes, RecordedRequest, RecordedResponse};
use crate::pipeline::Verdict;

const CONFIG: &str = r#"
[targets]
monolith  = { url = "http://127.0.0.1:8000", role = "primary" }
monolith2 = { url = "http://127.0.0.1:8003", role = "secondary" }
auth      = { url = "http://127.0.0.1:8001" }

[[routes]]
match = "/auth/**"
candidate = "auth"

[routes.compare]
ignore = ["/access_token"]

[compare]
ignore_headers = ["x-trace"]
"#;

/// The parity analyzer behind the shared grouping stage, as the pipeline runs it.
struct Stage {
    parity: std::sync::Arc<ParityAnalyzer>,
    stage: crate::pipeline::Analyzers,
}

/// One analysis, flattened back into the parity engine's parts.
struct Parts {
    route: RouteKey,
    verdict: Verdict,
    differences: Vec<crate::compare::Difference>,
    suppressed: Vec<Suppressed>,
    noise: Vec<crate::compare::Difference>,
}

impl Stage {
    fn new(cfg: &Config) -> Stage {
        let parity =
            std::sync::Arc::new(ParityAnalyzer::new(cfg).unwrap_or_else(|e| panic!("{e}")));
        let grouper = crate::pipeline::analyzers::grouper_for(cfg);
        let stage = crate::pipeline::Analyzers::new(grouper).with(parity.clone());
        Stage { parity, stage }
    }

    fn analyze(&self, ex: &Exchange) -> Parts {
        let a = self.stage.analyze(ex);
        Parts {
            differences: a.differences().cloned().collect(),
            suppressed: a.suppressed().cloned().collect(),
            route: a.route,
            verdict: a.verdict,
            noise: a.noise,
        }
    }

    fn noise(&self) -> BTreeMap<RouteKey, RouteNoise> {
        self.parity.noise()
    }

    fn grouping_stats(&self) -> crate::compare::grouping::GroupingStats {
        self.stage.grouping_stats()
    }
}

fn analyzer() -> Stage {
    let cfg = Config::parse(CONFIG, "cutover.toml").unwrap_or_else(|e| panic!("{e}"));
    Stage::new(&cfg)
}

fn outcome(target: &str, body: &str) -> Outcome {
    Outcome {
        target: target.into(),
        result: OutcomeResult::Response(RecordedResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from(body),
            truncated: false,
            ttfb_us: 1,
            total_us: 2,
        }),
    }
}

fn exchange(uri: &str, p: &str, c: Option<&str>, s: Option<&str>) -> Exchange {
    Exchange {
        translation: Vec::new(),
        id: 1,
        seq: 1,
        identity: None,
        at: Utc::now(),
        route: format!("GET {uri}"),
        request: RecordedRequest {
            method: "GET".into(),
            uri: uri.into(),
            headers: Vec::new(),
            body: Body::default(),
            truncated: false,
        },
        outcomes: Outcomes {
            primary: outcome("monolith", p),
            secondary: s.map(|b| outcome("monolith2", b)),
            candidate: c.map(|b| outcome("auth", b)),
        },
    }
}

fn paths(ds: &[crate::compare::Difference]) -> Vec<String> {
    ds.iter()
        .map(|d| format!("{} {}", d.path, d.kind.as_str()))
        .collect()
}

#[test]
fn typical_exchange_analysis() {
    let a = analyzer();
    let ex = exchange(
        "/auth/users/17?verbose=1",
        r#"{"id":17,"name":"ann","access_token":"a","updated_at":"2026-01-02T03:04:05Z"}"#,
        Some(
            r#"{"id":17,"name":"Ann","access_token":"b","updated_at":"2026-01-02T03:04:05+00:00"}"#,
        ),
        None,
    );
    let an = a.analyze(&ex);
    assert_eq!(an.route.as_str(), "GET /auth/users/{id}");
    assert_eq!(an.verdict, Verdict::Mismatch);
    assert_eq!(paths(&an.differences), ["/name value_changed"]);
    let reasons: Vec<_> = an.suppressed.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "rule: ignore /access_token",
            "normaliser: timestamp (same instant, different format)"
        ]
    );
    let none = a.analyze(&exchange("/auth/x", "{}", None, None));
    assert_eq!(none.verdict, Verdict::NotCompared);
    // Unrouted paths use the global rules (no /access_token ignore).
    let other = a.analyze(&exchange(
        "/other",
        r#"{"access_token":"a"}"#,
        Some(r#"{"access_token":"b"}"#),
        None,
    ));
    assert_eq!(paths(&other.differences), ["/access_token value_changed"]);
}

#[test]
fn learned_noise_from_the_secondary() {
    let a = analyzer();
    for i in 0..20 {
        let p = format!(r#"{{"n":{i},"nonce":"p{i}","stable":1}}"#);
        let c = format!(r#"{{"n":{i},"nonce":"c{i}","stable":2}}"#);
        let s = format!(r#"{{"n":{i},"nonce":"s{i}","stable":1}}"#);
        let an = a.analyze(&exchange("/auth/me", &p, Some(&c), Some(&s)));
        assert_eq!(paths(&an.noise), ["/nonce value_changed"]);
        if i + 1 < 10 {
            // Below `min_exchanges` nothing is learned yet.
            assert_eq!(
                paths(&an.differences),
                ["/nonce value_changed", "/stable value_changed"]
            );
            continue;
        }
        assert_eq!(paths(&an.differences), ["/stable value_changed"]);
        let reason = an
            .suppressed
            .first()
            .map(|s| s.reason.clone())
            .unwrap_or_default();
        let k = i + 1;
        assert!(
            reason.starts_with("learned noise")
                && reason.contains(&format!("in r={k} exchanges"))
                && reason.contains(&format!("in n={k},"))
                && reason.contains(&format!("of T={k} compared with both")),
            "{reason}"
        );
    }
    // A change of kind on the noisy path is not hidden by value noise.
    let an = a.analyze(&exchange(
        "/auth/me",
        r#"{"nonce":"p"}"#,
        Some(r#"{"nonce":7}"#),
        Some(r#"{"nonce":"s"}"#),
    ));
    assert_eq!(paths(&an.differences), ["/nonce type_changed"]);
    let noise = a.noise();
    let row = noise
        .get("GET /auth/me")
        .map(|r| r.decisions())
        .unwrap_or_default();
    let decided: Vec<_> = row
        .iter()
        .map(|(p, k, _, d)| (p.as_str(), k.as_str(), matches!(d, Decision::Report)))
        .collect();
    assert_eq!(
        decided,
        [
            ("/nonce", "value_changed", false),
            ("/nonce", "type_changed", true),
            ("/stable", "value_changed", true)
        ]
    );
}

#[test]
fn bad_rules_are_rejected_with_the_configuration() {
    // Rules compile when the configuration loads, so the error carries its line.
    let text = CONFIG.replace("\"/access_token\"", "\"access_token\"");
    let err = match Config::parse(&text, "cutover.toml") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a rule path without a leading `/` must be rejected"),
    };
    assert!(err.contains("\"access_token\""), "{err}");
    assert!(err.starts_with("cutover.toml:"), "{err}");
    let cfg = Config::parse(CONFIG, "cutover.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(ParityAnalyzer::new(&cfg).is_ok());
    assert!(ParityAnalyzer::lenient(&cfg).1.is_empty());
}

#[test]
fn learned_state_is_bounded_by_the_route_cap() {
    let text = format!("{CONFIG}\n[grouping]\nmax_routes = 10\nparam_after = 4\n");
    let cfg = Config::parse(&text, "cutover.toml").unwrap_or_else(|e| panic!("{e}"));
    let a = Stage::new(&cfg);
    let mut routes = std::collections::BTreeSet::new();
    for i in 0..2_000 {
        // Distinct letters-only paths at several depths, all with a secondary.
        let seg = |n: usize| -> String {
            (0..8)
                .map(|k| (b'a' + ((n * 7 + k * 13 + n / 26) % 26) as u8) as char)
                .collect()
        };
        let uri = match i % 3 {
            0 => format!("/auth/{}", seg(i)),
            1 => format!("/{}/{}", seg(i), seg(i + 1)),
            _ => format!("/x{}/y", seg(i)),
        };
        let an = a.analyze(&exchange(
            &uri,
            r#"{"a":1}"#,
            Some(r#"{"a":2}"#),
            Some(r#"{"a":1}"#),
        ));
        routes.insert(an.route);
    }
    assert!(routes.len() <= 11, "{routes:?}");
    assert!(routes.contains(&RouteKey::overflow()));
    assert!(a.noise().len() <= 11);
    let stats = a.grouping_stats();
    assert_eq!(stats.routes, 10);
    assert!(stats.folded > 0);
}

#[test]
fn configured_templates_name_the_route() {
    let text = format!(
        "{CONFIG}\n[grouping]\ntemplates = [\"GET /auth/users/{{user}}/posts/{{post}}\"]\n"
    );
    let cfg = Config::parse(&text, "cutover.toml").unwrap_or_else(|e| panic!("{e}"));
    let a = Stage::new(&cfg);
    let an = a.analyze(&exchange(
        "/auth/users/bob/posts/hello",
        "{}",
        Some("{}"),
        None,
    ));
    assert_eq!(an.route.as_str(), "GET /auth/users/{user}/posts/{post}");
    let an = a.analyze(&exchange("/auth/users/17", "{}", Some("{}"), None));
    assert_eq!(an.route.as_str(), "GET /auth/users/{id}");
}

/// A `normalise` rule that never applies is a `rule_warning` finding: once per route in
/// the report, with the path and the value's shape, never the value; the naive
/// timestamps themselves are still judged noise by the automatic detectors.
#[test]
fn a_rule_that_never_applies_reaches_the_report() {
    let text = format!("{CONFIG}normalise = [{{ path = \"/**/updated_at\", as = \"token\" }}]\n");
    let cfg = Config::parse(&text, "cutover.toml").unwrap_or_else(|e| panic!("{e}"));
    let stage = Stage::new(&cfg);
    let mut agg = crate::pipeline::Aggregate::for_config(&cfg);
    for i in 0..3 {
        let mut ex = exchange(
            "/other",
            &format!(r#"{{"updated_at":"2026-11-22 10:49:5{i}.811406"}}"#),
            Some(&format!(
                r#"{{"updated_at":"2026-11-22 10:49:5{}.102934"}}"#,
                i + 1
            )),
            None,
        );
        ex.id = i;
        let analysis = stage.stage.analyze(&ex);
        assert_eq!(analysis.verdict, Verdict::Match);
        let notes: Vec<_> = analysis.notes().map(|(k, n)| (k, n.code.clone())).collect();
        assert_eq!(
            notes,
            [(
                "rule_warning",
                "normalise /**/updated_at as token".to_string()
            )]
        );
        agg.add(&ex, &analysis);
    }
    let run = crate::report::RunInfo {
        id: "t".into(),
        generated_at: Utc::now(),
        source: "test".into(),
        divergences: Vec::new(),
        recordings: Vec::new(),
        ..Default::default()
    };
    let report =
        crate::report::Report::build(&agg, &crate::report::ReportContext { config: &cfg, run });
    let findings: Vec<_> = report.routes.iter().flat_map(|r| &r.findings).collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        (findings[0].kind.as_str(), findings[0].count),
        ("rule_warning", 3)
    );
    let message = &findings[0].examples[0].message;
    assert!(
        message.contains("/updated_at") && message.contains("\"dddd-dd-dd dd:dd:dd.dddddd\""),
        "{message}"
    );
    assert!(!message.contains("10:49"), "{message}");
    let md = crate::report::markdown::render(&report);
    assert!(md.contains("rule_warning"), "{md}");
}

fn with_status(mut o: Outcome, status: u16) -> Outcome {
    if let OutcomeResult::Response(r) = &mut o.result {
        r.status = status;
    }
    o
}

#[test]
fn an_unhealthy_secondary_is_named_and_never_learned_from() {
    let a = analyzer();
    for _ in 0..30 {
        let mut ex = exchange(
            "/auth/me",
            r#"{"id":1}"#,
            Some(r#"{"detail":"boom"}"#),
            Some(r#"{"detail":"boom"}"#),
        );
        ex.outcomes.candidate = ex.outcomes.candidate.map(|o| with_status(o, 500));
        ex.outcomes.secondary = ex.outcomes.secondary.map(|o| with_status(o, 500));
        let an = a.stage.analyze(&ex);
        assert_eq!(
            an.unhealthy_baseline.as_deref(),
            Some("primary 200 → secondary 500")
        );
        assert!(an.noise.is_empty());
        let counted: Vec<String> = an
            .differences()
            .map(|d| format!("{} {}", d.path, d.kind.as_str()))
            .collect();
        assert!(
            counted.contains(&"status status".to_string()),
            "{counted:?}"
        );
        assert!(counted.contains(&"/id missing".to_string()), "{counted:?}");
        assert_eq!(an.suppressed().filter(|s| s.learned).count(), 0);
    }
    // Nothing was counted into Diffy's table from those exchanges.
    let noise = a.noise();
    assert_eq!(noise.get("GET /auth/me").map_or(0, |r| r.table.total), 0);
}

#[test]
fn a_status_class_change_is_reported_even_when_the_secondary_agrees() {
    let a = analyzer();
    // The secondary answers 404 like the candidate where the primary answers 200: that is
    // an unhealthy baseline, and the candidate's 404 is reported every time.
    for _ in 0..20 {
        let mut ex = exchange("/auth/users/1", "{}", Some("{}"), Some("{}"));
        ex.outcomes.candidate = ex.outcomes.candidate.map(|o| with_status(o, 404));
        ex.outcomes.secondary = ex.outcomes.secondary.map(|o| with_status(o, 404));
        let an = a.analyze(&ex);
        assert_eq!(paths(&an.differences), ["status status"]);
    }
}

/// A POST with a body, as repeated by a client.
fn post(uri: &str, body: &str, token: &str, p: &str, c: &str) -> Exchange {
    let mut ex = exchange(uri, p, Some(c), None);
    ex.request.method = "POST".into();
    ex.request.body = Body::from(body);
    ex.request.headers = vec![("authorization".into(), format!("Bearer {token}"))];
    ex
}

#[test]
fn without_a_secondary_volatility_is_learned_from_repeated_identical_requests() {
    let a = analyzer();
    let answer = |latency: u32, remaining: u32| {
        format!(r#"{{"answer":"Sure.","latency_ms":{latency},"remaining":{remaining}}}"#)
    };
    let mut last = None;
    for i in 0..12u32 {
        // Every other request repeats the previous one: jitter moves on both sides, the
        // counter moves in step.
        let prompt = format!(r#"{{"prompt":"q{}"}}"#, i / 2);
        let remaining = 20 - i;
        let ex = post(
            "/auth/ask",
            &prompt,
            "carol",
            &answer(10 + i, remaining),
            &answer(50 + 2 * i, remaining),
        );
        last = Some(a.analyze(&ex));
    }
    let last = last.unwrap_or_else(|| panic!("analysed"));
    // Six repeats proved latency_ms volatile; T = 12 exchanges.
    assert_eq!(paths(&last.differences), Vec::<String>::new());
    let reason = last
        .suppressed
        .iter()
        .find(|s| s.difference.path == "/latency_ms")
        .map(|s| s.reason.clone())
        .unwrap_or_default();
    assert!(reason.starts_with("volatile on the primary"), "{reason}");
    // A real change inside the volatile field is still reported.
    let ex = post(
        "/auth/ask",
        r#"{"prompt":"new"}"#,
        "carol",
        &answer(10, 3),
        r#"{"answer":"Sure.","latency_ms":"slow","remaining":3}"#,
    );
    assert_eq!(
        paths(&a.analyze(&ex).differences),
        ["/latency_ms type_changed"]
    );
    // A counter the candidate gets wrong is never learned: it is state, not noise.
    let ex = post(
        "/auth/ask",
        r#"{"prompt":"x"}"#,
        "dan",
        &answer(1, 9),
        &answer(1, 8),
    );
    assert_eq!(
        paths(&a.analyze(&ex).differences),
        ["/remaining value_changed"]
    );
}

#[test]
fn a_route_without_candidate_compares_primary_and_secondary() {
    let text = CONFIG.replace(
        "[[routes]]\nmatch = \"/auth/**\"\ncandidate = \"auth\"",
        "[[routes]]\nmatch = \"/auth/**\"",
    );
    let cfg = Config::parse(&text, "cutover.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.routes.lookup("/auth/me").map(|r| r.candidate.clone()),
        Some(None)
    );
    let a = Stage::new(&cfg);
    let an = a.analyze(&exchange(
        "/auth/me",
        r#"{"a":1}"#,
        None,
        Some(r#"{"a":2}"#),
    ));
    assert_eq!(an.verdict, Verdict::Mismatch);
    assert_eq!(paths(&an.differences), ["/a value_changed"]);
    assert!(an.noise.is_empty());
    // Without a secondary such a route is refused, naming the place.
    let lone = text.replace(
        "monolith2 = { url = \"http://127.0.0.1:8003\", role = \"secondary\" }\n",
        "",
    );
    let err = Config::parse(&lone, "cutover.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("routes[0].candidate"), "{err}");
    assert!(err.contains("secondary"), "{err}");
}
