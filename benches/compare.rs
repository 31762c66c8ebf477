//! Cost of the parity engine per exchange on ~1 KB, ~100 KB and ~1 MB JSON bodies, next
//! to the cost of parsing both bodies with serde_json and to `json_patch::diff`.
//!
//! Run: `cargo bench --bench compare`. Prints one table: median ns/op over several runs
//! and ratios against "parse both". Columns:
//! - parse: `serde_json::from_slice` of both bodies;
//! - walk: `compare::diff_values` + rules on already-parsed values;
//! - compare: `compare::compare` on the two outcomes (parse + walk + headers);
//! - analyze: grouping then `ParityAnalyzer` with a secondary (two compares, noise);
//! - +aggregate: analyze, then `Aggregate::add` (per-route counts, examples, latency);
//! - json-patch: `json_patch::diff` on already-parsed values.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cutover::compare::{Comparison, RuleSpec, Rules, compare, diff_values};
use cutover::config::Config;
use cutover::exchange::{
    Body, Exchange, Outcome, OutcomeResult, Outcomes, RecordedRequest, RecordedResponse,
};
use cutover::pipeline::parity::ParityAnalyzer;
use cutover::pipeline::{Aggregate, Analyzers};
use serde_json::{Value, json};

/// A realistic user list; `variant` 0 = primary, 1 = candidate, 2 = secondary.
fn users(count: usize, variant: u64) -> Vec<u8> {
    let users: Vec<Value> = (0..count)
        .map(|i| {
            let mut name = format!("User {i}");
            if variant == 1 && i % 97 == 13 {
                name.push_str(" Jr.");
            }
            let mut u = json!({
                "id": i,
                "name": name,
                "email": format!("user{i}@example.com"),
                "created_at": "2025-11-02T10:04:05Z",
                "updated_at": format!("2026-01-02T03:{:02}:{:02}.{}Z", i % 60, (i as u64 + variant) % 60, variant),
                "session": format!("{:08x}-8c1f-4a53-9f0e-{:012x}", i, variant),
                "roles": ["reader", if i % 3 == 0 { "admin" } else { "writer" }],
                "profile": {"bio": "Enjoys long walks on the beach and short commits.",
                            "score": i as f64 * 1.5, "tags": ["a", "b", "c"], "active": i % 2 == 0},
            });
            if variant == 1
                && i % 211 == 7
                && let Some(m) = u.as_object_mut()
            {
                m.remove("email");
            }
            u
        })
        .collect();
    let doc = json!({
        "page": 1,
        "total": count,
        "request_id": format!("7d0f3e2a-1b4c-4d5e-8f6a-{:012x}", variant),
        "generated_at": format!("2026-01-02T03:04:0{variant}Z"),
        "users": users,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn outcome(body: &[u8]) -> Outcome {
    Outcome {
        target: "t".into(),
        result: OutcomeResult::Response(RecordedResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("date".into(), "Mon, 02 Jan 2026 03:04:05 GMT".into()),
            ],
            body: Body::from(body.to_vec()),
            truncated: false,
            ttfb_us: 1,
            total_us: 2,
        }),
    }
}

/// Median ns/op over `runs` timed runs of about `budget` each, after a warm-up.
fn measure(mut f: impl FnMut()) -> f64 {
    let budget = Duration::from_millis(150);
    let start = Instant::now();
    let mut warm = 0u64;
    while start.elapsed() < budget / 2 || warm < 2 {
        f();
        warm += 1;
    }
    let per_op = start.elapsed().as_nanos() as f64 / warm as f64;
    let iters = ((budget.as_nanos() as f64 / per_op) as u64).max(3);
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let spec = RuleSpec {
        ignore: vec!["/request_id".into()],
        ..RuleSpec::default()
    };
    let rules = Rules::compile(&spec).unwrap_or_default();
    let config = Config::parse(
        r#"
[targets]
monolith  = { url = "http://127.0.0.1:1", role = "primary" }
monolith2 = { url = "http://127.0.0.1:2", role = "secondary" }
users     = { url = "http://127.0.0.1:3" }
[[routes]]
match = "/users/**"
candidate = "users"
[compare]
ignore = ["/request_id"]
"#,
        "bench.toml",
    );
    let Ok(config) = config else {
        eprintln!("bench config invalid");
        return;
    };
    let analyzer = ParityAnalyzer::new(&config).ok().map(|p| {
        let grouper = cutover::pipeline::analyzers::grouper_for(&config);
        Analyzers::new(grouper).with(std::sync::Arc::new(p))
    });

    println!(
        "{:>8} {:>7} | {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} | {:>6} {:>8} {:>8} {:>6} {:>9} | diffs/suppressed",
        "body",
        "users",
        "parse ns",
        "walk ns",
        "compare ns",
        "analyze ns",
        "+aggregate",
        "json-patch",
        "walk×",
        "compare×",
        "analyze×",
        "+agg×",
        "patch×"
    );
    for count in [3usize, 300, 3000] {
        let (a, b, s) = (users(count, 0), users(count, 1), users(count, 2));
        let va: Value = serde_json::from_slice(&a).unwrap_or_default();
        let vb: Value = serde_json::from_slice(&b).unwrap_or_default();
        let (pa, pb, ps) = (outcome(&a), outcome(&b), outcome(&s));
        let exchange = Exchange {
            translation: Vec::new(),
            id: 1,
            seq: 1,
            identity: None,
            at: chrono::Utc::now(),
            route: "GET /users/page/1".into(),
            request: RecordedRequest {
                method: "GET".into(),
                uri: "/users/page/1?limit=10".into(),
                headers: Vec::new(),
                body: Body::default(),
                truncated: false,
            },
            outcomes: Outcomes {
                primary: pa.clone(),
                secondary: Some(ps),
                candidate: Some(pb.clone()),
            },
        };

        let parse = measure(|| {
            let x: Value = serde_json::from_slice(black_box(&a)).unwrap_or_default();
            let y: Value = serde_json::from_slice(black_box(&b)).unwrap_or_default();
            black_box((x, y));
        });
        let walk = measure(|| {
            let mut out = Comparison::default();
            diff_values(black_box(&va), black_box(&vb), &rules, &mut out);
            black_box(out);
        });
        let full = measure(|| {
            black_box(compare(black_box(&pa), black_box(&pb), &rules));
        });
        let analyze = match &analyzer {
            Some(an) => measure(|| {
                black_box(an.analyze(black_box(&exchange)));
            }),
            None => f64::NAN,
        };
        let mut aggregate = Aggregate::default();
        let pipeline = match &analyzer {
            Some(an) => measure(|| {
                let analysis = an.analyze(black_box(&exchange));
                aggregate.add(&exchange, &analysis);
            }),
            None => f64::NAN,
        };
        black_box(&aggregate);
        let patch = measure(|| {
            black_box(json_patch::diff(black_box(&va), black_box(&vb)));
        });
        let c = compare(&pa, &pb, &rules);
        println!(
            "{:>6}KB {:>7} | {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>12.0} | {:>6.2} {:>8.2} {:>8.2} {:>6.2} {:>9.2} | {}/{}",
            a.len() / 1024,
            count,
            parse,
            walk,
            full,
            analyze,
            pipeline,
            patch,
            walk / parse,
            full / parse,
            analyze / parse,
            pipeline / parse,
            patch / parse,
            c.differences.len(),
            c.suppressed.len(),
        );
    }
}
