//! Cost of a contract check per exchange with compiled schemas, next to the cost of parsing
//! the same body with serde_json.
//!
//! Run: `cargo bench --bench contracts` (benches/contracts.sh runs it with the proxy and
//! Prism rows). Bodies follow the shipped reference contract
//! (`contracts/reference.openapi.json`): one user (~170 B), a search answer of 20 users
//! (~3.4 KB) and of 500 users (~85 KB). Columns, median ns/op over several runs:
//! - parse: `serde_json::from_slice` of the body;
//! - lookup: operation lookup by method and path (template matching);
//! - check: `Contracts::check_response` (lookup, status, content type, parse, validate);
//! - check bad: the same on a body with one violation (errors collected and worded);
//! - request: `check_request` of a login form (parameters and form body).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use cutover::contract::{Check, Contracts};
use serde_json::{Value, json};

fn user(i: usize, bad: bool) -> Value {
    json!({
        "id": if bad && i == 0 { json!(i.to_string()) } else { json!(i) },
        "username": format!("user{i}"),
        "display_name": if i % 3 == 0 { Value::Null } else { json!(format!("User {i}")) },
        "status": "offline",
        "profile_picture_url": Value::Null,
        "created_at": "2026-11-22T10:49:54.811406",
    })
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[runs.len() / 2]
}

/// Median ns per call of `f` over 7 runs of about 150 ms each.
fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_millis(30) {
        f();
        calls += 1;
    }
    let per_run = (calls * 5).max(1);
    let runs = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_run {
                f();
            }
            t.elapsed().as_nanos() as f64 / per_run as f64
        })
        .collect();
    median(runs)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
    let started = Instant::now();
    let contracts = match Contracts::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    println!(
        "loaded and compiled {} operations in {:.1} ms",
        contracts.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let one = serde_json::to_vec(&user(1, false)).unwrap_or_default();
    let list = |n: usize, bad: bool| {
        serde_json::to_vec(&Value::Array((0..n).map(|i| user(i, bad)).collect()))
            .unwrap_or_default()
    };
    let cases: Vec<(&str, &str, Vec<u8>, Vec<u8>)> = vec![
        (
            "user (GET /auth/users/1)",
            "/auth/users/1",
            one.clone(),
            serde_json::to_vec(&user(0, true)).unwrap_or_default(),
        ),
        (
            "20 users (search)",
            "/auth/users/search?q=u",
            list(20, false),
            list(20, true),
        ),
        (
            "500 users (search)",
            "/auth/users/search?q=u",
            list(500, false),
            list(500, true),
        ),
    ];
    println!(
        "{:<26} {:>8} {:>10} {:>9} {:>10} {:>11} {:>12}",
        "body", "bytes", "parse ns", "lookup ns", "check ns", "check bad", "check/parse"
    );
    for (name, path, good, bad) in &cases {
        let ct = Some("application/json");
        assert_eq!(
            contracts.check_response("GET", path, 200, ct, good),
            Check::Conforms,
            "{name}"
        );
        assert_eq!(
            contracts
                .check_response("GET", path, 200, ct, bad)
                .violations()
                .len(),
            1
        );
        let parse = time(|| {
            black_box(serde_json::from_slice::<Value>(black_box(good)).ok());
        });
        let lookup = time(|| {
            black_box(contracts.operation(black_box("GET"), black_box(path)));
        });
        let check = time(|| {
            black_box(contracts.check_response("GET", path, 200, ct, black_box(good)));
        });
        let check_bad = time(|| {
            black_box(contracts.check_response("GET", path, 200, ct, black_box(bad)));
        });
        println!(
            "{:<26} {:>8} {:>10.0} {:>9.0} {:>10.0} {:>11.0} {:>11.2}x",
            name,
            good.len(),
            parse,
            lookup,
            check,
            check_bad,
            check / parse
        );
    }
    let form = b"username=admina&password=correct-horse";
    let request = time(|| {
        black_box(contracts.check_request(
            "POST",
            "/auth/login",
            Some("application/x-www-form-urlencoded"),
            black_box(form),
        ));
    });
    println!("request: login form check {request:.0} ns");
}
