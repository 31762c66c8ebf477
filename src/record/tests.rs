use super::*;
use crate::config::{RecordBodies, RecordingConfig};
use crate::exchange::*;
use crate::pipeline::Verdict;
use crate::pipeline::{Analysis, Sink};
use std::path::{Path, PathBuf};

fn exchange(id: u64) -> Exchange {
    Exchange {
        translation: Vec::new(),
        id,
        seq: id,
        identity: None,
        at: chrono::Utc::now(),
        route: "POST /auth/login".into(),
        request: RecordedRequest {
            method: "POST".into(),
            uri: "/auth/login".into(),
            headers: vec![("authorization".into(), "Bearer abc.def".into())],
            body: Body::from("{\"username\":\"a\",\"password\":\"hunter2\"}"),
            truncated: false,
        },
        outcomes: Outcomes {
            primary: Outcome {
                target: "monolith".into(),
                result: OutcomeResult::Response(RecordedResponse {
                    status: 200,
                    headers: vec![],
                    body: Body::from("{}"),
                    truncated: false,
                    ttfb_us: 1,
                    total_us: 2,
                }),
            },
            secondary: None,
            candidate: None,
        },
    }
}

fn analysis() -> Analysis {
    Analysis::new(crate::pipeline::RouteKey::new("GET", "x"))
}

fn with_body(id: u64, bytes: usize) -> Exchange {
    let mut ex = exchange(id);
    if let OutcomeResult::Response(r) = &mut ex.outcomes.primary.result {
        r.body = Body::from(vec![b'x'; bytes]);
    }
    ex
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn writes_redacted_lines_and_rotates_into_numbered_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub").join("rec.jsonl");
    let cfg = RecordingConfig {
        rotate_bytes: 600,
        ..RecordingConfig::default()
    };
    let mut sink = RecordingSink::open(&path, &cfg).expect("open");
    // rotate_bytes is raised to MIN_ROTATE_BYTES: 6 lines of 300 kB make 2 files, not 6.
    for id in 0..6 {
        sink.accept(&with_body(id, 300 * 1024), &analysis());
    }
    sink.finish();
    let files = files(path.parent().expect("dir"));
    assert_eq!(files.len(), 2, "rotated: {files:?}");
    assert!(files.iter().any(|f| f.ends_with("rec.1.jsonl")));
    let mut ids = Vec::new();
    for f in &files {
        assert!(std::fs::metadata(f).expect("meta").len() <= MIN_ROTATE_BYTES);
        let text = std::fs::read_to_string(f).expect("read");
        assert!(!text.contains("hunter2") && !text.contains("abc.def"));
        let mut lines = text.lines();
        let first = lines.next().expect("a header");
        assert!(first.starts_with("{\"cutover_recording\":1,"), "{first}");
        for line in lines {
            let ex: Exchange = serde_json::from_str(line).expect("every line is an Exchange");
            ids.push(ex.id);
        }
    }
    ids.sort();
    assert_eq!(ids, (0..6).collect::<Vec<_>>());
}

#[test]
fn retention_keeps_the_total_under_max_total_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let cfg = RecordingConfig {
        rotate_bytes: MIN_ROTATE_BYTES,
        max_total_bytes: 3 * MIN_ROTATE_BYTES,
        ..RecordingConfig::default()
    };
    let mut sink = RecordingSink::open(&path, &cfg).expect("open");
    for id in 0..100 {
        sink.accept(&with_body(id, 100 * 1024), &analysis());
    }
    sink.finish();
    let files = files(dir.path());
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("meta").len())
        .sum();
    assert!(total <= 3 * MIN_ROTATE_BYTES, "{total} bytes in {files:?}");
    assert!(path.exists(), "the live file is never deleted");
    assert!(sink.deleted_segments() >= 5, "{}", sink.deleted_segments());
    // The newest exchange is kept; numbering keeps growing.
    let live = std::fs::read_to_string(&path).expect("read");
    assert!(live.contains("\"id\":99"));
    let by_count = RecordingConfig {
        max_files: Some(2),
        ..cfg
    };
    let mut sink = RecordingSink::open(&path, &by_count).expect("reopen");
    sink.accept(&with_body(100, 10), &analysis());
    sink.finish();
    assert_eq!(files_len(dir.path()), 2);
}

fn files_len(dir: &Path) -> usize {
    files(dir).len()
}

#[test]
fn mismatches_mode_keeps_bodies_only_on_mismatching_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let cfg = RecordingConfig {
        bodies: RecordBodies::Mismatches,
        ..RecordingConfig::default()
    };
    let mut sink = RecordingSink::open(&path, &cfg).expect("open");
    let mut mismatch = analysis();
    mismatch.verdict = Verdict::Mismatch;
    let mut matched = analysis();
    matched.verdict = Verdict::Match;
    sink.accept(&with_body(1, 100), &mismatch);
    sink.accept(&with_body(2, 100), &matched);
    sink.accept(&with_body(3, 100), &analysis());
    sink.finish();
    assert_eq!(sink.omitted(), 2);
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 3);
    assert!(!bodies_omitted(lines[0].as_bytes()));
    assert!(lines[0].contains(&"x".repeat(100)));
    for line in &lines[1..] {
        assert!(bodies_omitted(line.as_bytes()), "{line}");
        assert!(
            !line.contains("xxxx") && !line.contains("hunter2"),
            "{line}"
        );
        let ex: Exchange = serde_json::from_str(line).expect("still an Exchange");
        assert!(ex.request.body.is_empty());
    }
}

fn write_exchanges(path: &Path, exchanges: &[Exchange]) {
    let mut sink = RecordingSink::open(path, &RecordingConfig::default()).expect("open");
    for ex in exchanges {
        sink.accept(ex, &analysis());
    }
    sink.finish();
}

fn read_all(path: &Path) -> (Vec<Exchange>, RecordingStats) {
    let recording = Recording::open(&[path.to_path_buf()]).expect("opens");
    let mut out = Vec::new();
    let stats = recording.read(|ex, _| out.push(ex)).expect("reads");
    (out, stats)
}

#[test]
fn nothing_is_created_until_the_first_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub").join("rec.jsonl");
    let mut sink = RecordingSink::open(&path, &RecordingConfig::default()).expect("open");
    sink.tick();
    sink.finish();
    drop(sink);
    assert!(!path.exists() && !path.parent().expect("dir").exists());
    write_exchanges(&path, &[exchange(1)]);
    let (read, stats) = read_all(&path);
    assert_eq!((read.len(), stats.headers), (1, 1));
}

#[test]
fn headers_versions_and_broken_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    write_exchanges(&path, &[exchange(1), exchange(2), exchange(3)]);
    let recording = Recording::open(std::slice::from_ref(&path)).expect("opens");
    let header = recording.header.clone().expect("a header");
    assert_eq!(header.cutover_recording, FORMAT_VERSION);
    assert!(
        header.config.is_none(),
        "the sink was given no configuration"
    );

    // Cut the last line mid-write, as kill -9 would, and break one in the middle.
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    let cut = &lines[3][..lines[3].len() / 2];
    lines[3] = cut;
    lines.insert(2, "{not json");
    std::fs::write(&path, lines.join("\n")).expect("write");
    let (read, stats) = read_all(&path);
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(stats.bad_line_count, 2);
    let at = format!("{}:5", path.display());
    assert_eq!(stats.truncated, std::slice::from_ref(&at));
    assert!(
        stats
            .bad_lines
            .iter()
            .any(|l| l.starts_with(&format!("{}:3: ", path.display())))
    );
    assert!(
        stats
            .bad_lines
            .iter()
            .any(|l| l.starts_with(&at) && l.contains("truncated"))
    );

    // An old recording without a header still reads.
    let old = dir.path().join("old.jsonl");
    let line = serde_json::to_string(&exchange(9)).expect("json");
    std::fs::write(&old, format!("{line}\n")).expect("write");
    let recording = Recording::open(std::slice::from_ref(&old)).expect("opens");
    assert!(recording.header.is_none());
    assert_eq!(read_all(&old).0.len(), 1);

    // A newer major version is refused, naming the file.
    let newer = dir.path().join("newer.jsonl");
    std::fs::write(
        &newer,
        format!("{{\"cutover_recording\":2,\"run_id\":\"x\"}}\n{line}\n"),
    )
    .expect("write");
    let err = Recording::open(&[old.clone(), newer.clone()]).expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}:1", newer.display())) && msg.contains("version 2"),
        "{msg}"
    );
}

#[test]
fn bodies_without_secrets_are_recorded_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    let clean = "{ \"z\": 1,\n  \"a\" : [2, 3.50],\"m\":\"\\u00e9\" }";
    let secret = "{ \"z\": 1,  \"password\" :\"hunter2\" ,\"a\":2}";
    let mut ex = exchange(1);
    ex.request.body = Body::from(clean);
    if let OutcomeResult::Response(r) = &mut ex.outcomes.primary.result {
        r.body = Body::from(secret);
    }
    write_exchanges(&path, &[ex]);
    let (read, _) = read_all(&path);
    assert_eq!(read[0].request.body.as_bytes(), clean.as_bytes());
    let OutcomeResult::Response(r) = &read[0].outcomes.primary.result else {
        panic!("a response");
    };
    // Only the secret's bytes changed: spacing and key order around it are kept.
    let got = String::from_utf8_lossy(r.body.as_bytes()).into_owned();
    assert!(
        got.starts_with("{ \"z\": 1,  \"password\" :\"[REDACTED string "),
        "{got}"
    );
    assert!(got.ends_with("]\" ,\"a\":2}"), "{got}");
    assert!(!got.contains("hunter2"));
}

#[test]
fn equal_secrets_get_equal_markers_in_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.jsonl");
    // The fixture's request holds `password: hunter2` and `Bearer abc.def` on every line.
    write_exchanges(&path, &[exchange(1), exchange(2)]);
    let (read, _) = read_all(&path);
    assert_eq!(read[0].request.body, read[1].request.body);
    assert_eq!(read[0].request.headers, read[1].request.headers);
    let auth = &read[0].request.headers[0].1;
    assert!(auth.starts_with("Bearer [REDACTED "), "{auth}");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains("hunter2") && !text.contains("abc.def"));
}

#[test]
fn a_path_under_a_file_fails_at_open_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").expect("write");
    let err = RecordingSink::open(
        file.join("sub").join("rec.jsonl"),
        &RecordingConfig::default(),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(RecordingSink::open(dir.path(), &RecordingConfig::default()).is_err());
    assert_eq!(files(dir.path()), [file]);
}

#[test]
fn a_route_without_candidate_round_trips_through_the_header() {
    let text = r#"
[targets]
monolith = { url = "http://127.0.0.1:8000", role = "primary" }
monolith2 = { url = "http://127.0.0.1:8003", role = "secondary" }

[[routes]]
match = "/settings/**"
"#;
    let config = crate::config::Config::parse(text, "aa.toml").expect("an A/A route is valid");
    let header = super::Header::for_config("aa", &config);
    let again = header
        .config("rec.jsonl")
        .expect("parses")
        .expect("carries a configuration");
    let route = again.routes.lookup("/settings/zone").expect("the route");
    assert_eq!(route.candidate, None);
    assert_eq!(super::config_digest(&again), super::config_digest(&config));
}

#[test]
fn an_owned_exchange_is_recorded_exactly_as_a_borrowed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (borrowed, owned) = (dir.path().join("b.jsonl"), dir.path().join("o.jsonl"));
    let config = RecordingConfig {
        bodies: RecordBodies::Mismatches,
        ..RecordingConfig::default()
    };
    let mut mismatch = analysis();
    mismatch.verdict = Verdict::Mismatch;
    let lines = [(exchange(1), analysis()), (exchange(2), mismatch)];
    let mut a = RecordingSink::open(&borrowed, &config).expect("open");
    let mut b = RecordingSink::open(&owned, &config).expect("open");
    for (ex, an) in &lines {
        a.accept(ex, an);
        b.accept_owned(Box::new(ex.clone()), an);
    }
    a.finish();
    b.finish();
    let (ra, sa) = read_all(&borrowed);
    let (rb, sb) = read_all(&owned);
    assert_eq!(ra.len(), 2);
    assert_eq!(sa.bodies_omitted, 1, "{sa:?}");
    assert_eq!(sb.bodies_omitted, 1, "{sb:?}");
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(x.request, y.request);
        assert_eq!(x.outcomes, y.outcomes);
        assert_eq!(x.route, y.route);
    }
    let text = std::fs::read_to_string(&owned).expect("read");
    assert!(
        !text.contains("hunter2") && !text.contains("abc.def"),
        "{text}"
    );
}
