//! The example CI contract gate: every shipped scenario (`scenarios/`) runs against the
//! embedded reference system and must pass, and the normalised answer of every snapshotted
//! step must match its snapshot in `snapshots/` (review changes with `cargo insta review`).
//! The same scenarios against the extracted services must pass with no difference from the
//! monolith, step by step.

use std::path::{Path, PathBuf};

use cutover::scenario::ScenarioResult;
use cutover::verify::{self, VerifyOptions, VerifyOutcome, output};
use serde_json::{Value, json};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn options(target: &str) -> VerifyOptions {
    let mut opts = VerifyOptions::new(scenarios_dir(), target);
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
    opts.contracts = Some(verify::load_contracts(&contracts).unwrap_or_else(|e| panic!("{e}")));
    opts
}

async fn verify(target: &str, against: Option<&str>) -> VerifyOutcome {
    let mut opts = options(target);
    opts.against = against.map(str::to_string);
    match verify::run(opts).await {
        Ok(o) => o,
        Err(e) => panic!("verify {target} {against:?}: {e}"),
    }
}

/// The snapshotted steps of one scenario, in order.
fn snapshots(r: &ScenarioResult) -> Vec<Value> {
    r.steps
        .iter()
        .filter_map(|s| {
            let snap = s.target.snapshot.clone()?;
            let step = match s.iteration {
                Some(i) => format!("{} [{i}]", s.name),
                None => s.name.clone(),
            };
            Some(json!({"step": step, "response": snap}))
        })
        .collect()
}

fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_scenarios_pass_on_the_monolith_and_match_their_snapshots() {
    let out = verify("monolith", None).await;
    assert!(out.passed(), "{}", output::human(&out, &out.redaction));
    assert_eq!(out.results.len(), 6, "every shipped scenario ran");
    for r in &out.results {
        let snaps = snapshots(r);
        assert!(!snaps.is_empty(), "{}: no snapshotted step", r.file);
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("cutover verify --target monolith: scenarios/{}.yaml", stem(&r.file)),
        }, {
            insta::assert_json_snapshot!(stem(&r.file), snaps);
        });
    }

    // The extracted services answer exactly what the snapshots hold, too.
    let services = verify("services", None).await;
    assert!(
        services.passed(),
        "{}",
        output::human(&services, &services.redaction)
    );
    for (m, s) in out.results.iter().zip(&services.results) {
        assert_eq!(snapshots(m), snapshots(s), "{}: services differ", m.file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_scenarios_show_no_difference_between_monolith_and_each_extraction() {
    for against in ["services", "auth", "ai"] {
        let out = verify("monolith", Some(against)).await;
        assert!(
            out.passed(),
            "against {against}:\n{}",
            output::human(&out, &out.redaction)
        );
        let compared = out
            .results
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|s| {
                s.exchange.is_some() && s.against.as_ref().is_some_and(|a| a.outcome.is_some())
            })
            .count();
        assert!(
            compared > 50,
            "against {against}: only {compared} steps compared"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_breaks_the_contract_fails_its_step_with_the_violation() {
    let mut opts = options("services");
    opts.reference.divergences = vec![cutover::reference::Divergence::IdAsString];
    let out = verify::run(opts).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.passed());
    let register = &out.results[0].steps[0];
    assert_eq!((register.name.as_str(), register.line), ("register", 12));
    assert!(
        register
            .target
            .failures
            .iter()
            .any(|f| f.starts_with("contract: schema at /id:")
                && f.contains("components/schemas/User/properties/id/type")),
        "{:?}",
        register.target.failures
    );
}
