//! `cutover verify` against the catalogue and against bad input: with a divergence switched
//! on in the extracted services, `--against` names the steps that reach it — on the routes
//! and paths the catalogue says, and nowhere else; the JUnit output parses and carries
//! file:line; broken scenario files, unset variables, failed captures and targets that do
//! not answer give clear errors with the right exit status, never a panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use cutover::reference::{self, Divergence};
use cutover::verify::{self, ReferenceSetup, VerifyOptions, output};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Does `method path` fall under a catalogue route template (`GET /auth/users/{id}`)?
fn route_matches(template: &str, method: &str, path: &str) -> bool {
    let Some((m, t)) = template.split_once(' ') else {
        return false;
    };
    let (ts, ps): (Vec<&str>, Vec<&str>) = (t.split('/').collect(), path.split('/').collect());
    m == method
        && ts.len() == ps.len()
        && ts
            .iter()
            .zip(&ps)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_names_the_steps_each_catalogue_divergence_reaches() {
    let mut missed = Vec::new();
    for info in reference::catalogue() {
        // A slower login or AI answer is a latency statistic: the load stage's job, not
        // one step's.
        if matches!(
            info.divergence,
            Divergence::Latency200ms | Divergence::AiLatency200ms
        ) {
            continue;
        }
        let mut opts = VerifyOptions::new(scenarios_dir(), "monolith");
        opts.against = Some("services".into());
        let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
        opts.contracts = Some(verify::load_contracts(&contracts).unwrap_or_else(|e| panic!("{e}")));
        opts.reference = ReferenceSetup {
            divergences: vec![info.divergence],
            admin_allowlist: (info.divergence != Divergence::AllowlistDefaultGuests)
                .then(|| "admina;carol".to_string()),
            ..ReferenceSetup::default()
        };
        let out = match verify::run(opts).await {
            Ok(o) => o,
            Err(e) => panic!("{}: {e}", info.name),
        };
        assert!(!out.passed(), "{}: verify passed", info.name);
        let routes: BTreeSet<&str> = info
            .expect
            .iter()
            .map(|e| e.route)
            .chain(info.reach.iter().copied())
            .collect();
        let mut effects_seen = BTreeSet::new();
        for r in &out.results {
            for s in r.steps.iter().filter(|s| !s.differences.is_empty()) {
                let req = s
                    .target
                    .request
                    .as_ref()
                    .or_else(|| s.against.as_ref().and_then(|a| a.request.as_ref()));
                let Some(req) = req else { continue };
                let path = req.uri.split('?').next().unwrap_or("");
                let at = format!("{}:{} `{}`", r.file, s.line, s.name);
                assert!(
                    routes.iter().any(|t| route_matches(t, &req.method, path)),
                    "{}: {at} ({} {path}) differs, outside the catalogue's routes {routes:?}: {:?}",
                    info.name,
                    req.method,
                    s.differences
                );
                for e in info.expect {
                    if route_matches(e.route, &req.method, path)
                        && s.differences.iter().any(|d| d.path == e.path)
                    {
                        effects_seen.insert((e.route, e.path));
                    }
                }
                // A bug that reaches every route of a service (every 10th request answers
                // 500) shows as a status change wherever it lands.
                for reach in info.reach {
                    if route_matches(reach, &req.method, path)
                        && s.differences.iter().any(|d| d.path == "status")
                    {
                        effects_seen.insert((reach, "status"));
                    }
                }
            }
        }
        if effects_seen.is_empty() {
            missed.push(format!(
                "{}:\n{}",
                info.name,
                output::human(&out, &out.redaction)
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "no expected effect named:\n{}",
        missed.join("\n")
    );
}

fn cutover(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cutover: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
}

const LOGIN: &str = "\
steps:
  - name: register
    request:
      method: POST
      path: /auth/register
      json: {username: zed, password: long-enough-1}
    expect: {status: 201}
  - name: login
    request:
      method: POST
      path: /auth/login
      form: {username: zed, password: long-enough-1}
    capture:
      token: {pointer: /no_such_field}
  - name: me
    request: {path: /auth/me, bearer: \"${token}\"}
    expect: {status: 200}
";

#[test]
fn bad_scenario_files_are_usage_errors_naming_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        (
            "syntax",
            "steps:\n  - name: a\n    request: {path: /x\n",
            "bad.yaml:4:",
        ),
        (
            "unknown",
            "steps:\n  - name: a\n    request: {path: /x}\n    expekt: {status: 200}\n",
            "bad.yaml:4:5: steps[0]: unknown field `expekt`",
        ),
        (
            "unset",
            "steps:\n  - name: first\n    request: {path: /x}\n\n  - name: uses it\n    request: {path: \"/users/${user_id}\"}\n",
            "bad.yaml:5:3: step `uses it`: `${user_id}` is never set",
        ),
        (
            "env",
            "steps:\n  - name: a\n    request: {path: \"/${env.CUTOVER_TEST_SURELY_UNSET}\"}\n",
            "bad.yaml:2:3: step `a`: `${env.CUTOVER_TEST_SURELY_UNSET}`",
        ),
    ];
    for (case, text, want) in cases {
        let dir = tmp.path().join(case);
        write(&dir, "bad.yaml", text);
        let (code, stdout, stderr) = cutover(
            &[
                "verify",
                "--scenarios",
                case,
                "--target",
                "http://127.0.0.1:9",
            ],
            tmp.path(),
        );
        assert_eq!(code, Some(2), "{case}: {stdout}{stderr}");
        assert!(stderr.contains(want), "{case}: wanted `{want}` in {stderr}");
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    }
    let (code, _, stderr) = cutover(
        &["verify", "--scenarios", "unknown", "--target", "nowhere"],
        tmp.path(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, stderr) = cutover(
        &["verify", "--scenarios", "empty-dir", "--target", "monolith"],
        tmp.path(),
    );
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn a_failed_capture_names_its_step_and_a_silent_target_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(&tmp.path().join("s"), "login.yaml", LOGIN);
    let (code, stdout, stderr) = cutover(
        &["verify", "--scenarios", "s", "--target", "monolith"],
        tmp.path(),
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL  login  s/login.yaml:8")
            && stdout.contains("capture token: no value at /no_such_field"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  me  s/login.yaml:15")
            && stdout.contains(
                "not run: `${token}` was never set: its capture in step `login` (s/login.yaml:8) failed"
            ),
        "{stdout}"
    );
    // Nothing listens on port 9 (discard): every step fails with no answer, exit 1.
    let (code, stdout, stderr) = cutover(
        &[
            "verify",
            "--scenarios",
            "s",
            "--target",
            "http://127.0.0.1:9",
            "--timeout-ms",
            "2000",
        ],
        tmp.path(),
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL  register  s/login.yaml:2") && stdout.contains("no answer from"),
        "{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn junit_and_json_carry_file_and_line_and_hide_secrets() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenarios = scenarios_dir();
    let junit = tmp.path().join("junit.xml");
    let json = tmp.path().join("verify.json");
    let (code, stdout, stderr) = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["verify", "--target", "monolith", "--against", "services"])
        .arg("--scenarios")
        .arg(&scenarios)
        .args(["--diverge", "token-type-capitalised"])
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .env("CUTOVER_PASSWORD", "s3cret-from-env-42")
        .output()
        .map(|o| {
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| panic!("{e}"));
    let json_text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}"));
    for text in [&stdout, &xml, &json_text] {
        assert!(
            !text.contains("s3cret-from-env-42"),
            "a secret leaked: {text:.400}"
        );
    }

    // Parse the XML for real: every testcase has file and line; the failing login names
    // the scenario file and the step's line.
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut login_at) = (0, 0, None);
    let mut current: Option<(String, String, String)> = None;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))
                if e.name().as_ref() == b"testcase" =>
            {
                cases += 1;
                let attr = |n: &str| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == n.as_bytes())
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default()
                };
                assert!(!attr("file").is_empty() && attr("line").parse::<usize>().is_ok());
                current = Some((attr("name"), attr("file"), attr("line")));
            }
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))
                if e.name().as_ref() == b"failure" =>
            {
                failures += 1;
                if let Some((name, file, line)) = &current
                    && name == "login"
                    && file.ends_with("01_auth_endpoints.yaml")
                {
                    login_at = Some(line.clone());
                }
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Err(e) => panic!("junit.xml does not parse: {e}"),
            _ => {}
        }
    }
    assert!(cases > 60, "{cases} testcases");
    assert!(failures >= 1, "no failure in {xml:.400}");
    let text = std::fs::read_to_string(scenarios.join("01_auth_endpoints.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let line = text
        .lines()
        .position(|l| l == "  - name: login")
        .map(|i| (i + 1).to_string());
    assert_eq!(login_at, line, "the login step's line");

    let v: serde_json::Value = serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["format"], "cutover.verify/v1");
    assert_eq!(v["passed"], false);
    let login = &v["scenarios"][0]["steps"][1];
    assert_eq!(login["name"], "login");
    assert_eq!(login["status"], "failed");
    assert_eq!(login["differences"][0]["path"], "/token_type");
}
