//! Shared by `tests/redaction.rs`: the upstreams, the bypass requests, and the checks
//! that no secret reached an output.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover::exchange::Exchange;

use super::support::*;

/// A body with no secret, oddly formatted: it must be recorded exactly.
pub const PLAIN: &[u8] = b"{ \"b\": 1,  \"a\": [2],\n \"token_type\": \"Bearer\" }";

/// Secrets the upstreams put in their answers (headers and bodies).
pub const RESP_KEY: &str = "respKeyQ7wz";
pub const RESP_TOKEN: &str = "respTokQ7wz";
pub const RESP_BODY_PRIMARY: &str = "respBodyP7wz";
pub const RESP_BODY_CANDIDATE: &str = "respBodyC7wz";
/// In a gzip'd answer.
pub const RESP_GZIP: &str = "respGzipQ7wz";

/// Field names that were never redacted before (each gets its own secret).
pub const NEW_NAMES: &[&str] = &[
    "api_key",
    "apiKey",
    "api-key",
    "private_key",
    "client_secret",
    "credentials",
    "passwd",
    "pin",
    "code",
    "otp",
];

/// A random high-entropy token (base62 with digits and both cases guaranteed).
pub fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s: String = (0..22)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    s.replace_range(0..3, "Q7x");
    s.replace_range(10..12, "4k");
    s
}

pub async fn upstreams() -> (Upstream, Upstream) {
    let answer = |body_secret: &'static str, v: u32| {
        move |seen: Seen| async move {
            if seen.uri == "/api/gz" {
                let body =
                    gzip(format!("{{\"access_token\": \"{RESP_GZIP}\", \"v\": {v}}}").as_bytes());
                let mut r = full(200, "application/json", body);
                r.headers_mut()
                    .insert("content-encoding", http::HeaderValue::from_static("gzip"));
                return r;
            }
            let mut r = json(serde_json::json!({
                "ok": true,
                "api_key": body_secret,
                "v": v,
            }));
            r.headers_mut()
                .insert("x-api-key", http::HeaderValue::from_static(RESP_KEY));
            r.headers_mut()
                .insert("x-auth-token", http::HeaderValue::from_static(RESP_TOKEN));
            r
        }
    };
    (
        upstream(answer(RESP_BODY_PRIMARY, 1)).await,
        upstream(answer(RESP_BODY_CANDIDATE, 2)).await,
    )
}

pub fn config_text(primary: &str, candidate: &str) -> String {
    format!(
        r#"
[proxy]
listen = "localhost:0"
admin = "127.0.0.1:0"
shadow_timeout_ms = 5000

[targets]
mono = {{ url = "{primary}", role = "primary" }}
cand = {{ url = "{candidate}" }}

[[routes]]
match = "/api/**"
candidate = "cand"
mirror_writes = true

[recording]
fsync_interval_ms = 50
"#
    )
}

/// Send every bypass through the proxy at `base`; returns the secrets sent and how many
/// requests were made.
pub async fn send_bypasses(base: &str) -> (Vec<String>, usize) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut secrets = Vec::new();
    let mut secret = |tag: &str| {
        let s = format!("{tag}Zz{}", token());
        secrets.push(s.clone());
        s
    };
    let mut requests: Vec<reqwest::RequestBuilder> = Vec::new();
    let post = |path: &str, ct: &str, body: Vec<u8>| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", ct)
            .body(body)
    };
    // 1. JSON with one non-UTF-8 byte.
    let mut raw = b"{\"user\":\"bob\xff\",\"password\":\"".to_vec();
    raw.extend_from_slice(secret("nonutf8").as_bytes());
    raw.extend_from_slice(b"\"}");
    requests.push(post("/api/login", "application/json", raw));
    // 2. Each new field name, in JSON and in a form.
    let fields: Vec<String> = NEW_NAMES
        .iter()
        .map(|n| format!("\"{n}\": \"{}\"", secret("json")))
        .collect();
    requests.push(post(
        "/api/json",
        "application/json",
        format!("{{{}}}", fields.join(", ")).into_bytes(),
    ));
    let pairs: Vec<String> = NEW_NAMES
        .iter()
        .map(|n| format!("{n}={}", secret("form")))
        .collect();
    requests.push(post(
        "/api/form",
        "application/x-www-form-urlencoded",
        pairs.join("&").into_bytes(),
    ));
    // 3. A form labelled JSON, JSON labelled form.
    requests.push(post(
        "/api/mislabelled",
        "application/json",
        format!("user=bob&password={}", secret("formasjson")).into_bytes(),
    ));
    requests.push(post(
        "/api/mislabelled",
        "application/x-www-form-urlencoded",
        format!(
            "{{\"user\":\"bob\",\"password\":\"{}\"}}",
            secret("jsonasform")
        )
        .into_bytes(),
    ));
    // 4. A multipart password part.
    let multipart = format!(
        "--bNd7\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n\
         --bNd7\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{}\r\n--bNd7--\r\n",
        secret("multipart")
    );
    requests.push(post(
        "/api/upload",
        "multipart/form-data; boundary=bNd7",
        multipart.into_bytes(),
    ));
    // 5. `;` as a query separator.
    requests.push(client.get(format!("{base}/api/q?x=1;token={}", secret("semicolon"))));
    // 6. Secret request headers.
    requests.push(
        client
            .get(format!("{base}/api/h"))
            .header("X-Api-Key", secret("xapikey"))
            .header("X-Auth-Token", secret("xauthtoken")),
    );
    // 7. A gzip'd body (and a gzip'd answer, see `upstreams`).
    let gz = gzip(format!("{{\"password\": \"{}\"}}", secret("gzip")).as_bytes());
    requests.push(post("/api/gz", "application/json", gz).header("content-encoding", "gzip"));
    // 8. A secret path segment (the token itself must look random: no tag prefix).
    let path_token = token();
    secrets.push(path_token.clone());
    requests.push(client.post(format!("{base}/api/auth/reset/{path_token}")));
    // 9. No secret at all.
    requests.push(post("/api/plain", "application/json", PLAIN.to_vec()));
    let n = requests.len();
    for r in requests {
        let resp = r.send().await.expect("send");
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await;
    }
    for s in [
        RESP_KEY,
        RESP_TOKEN,
        RESP_BODY_PRIMARY,
        RESP_BODY_CANDIDATE,
        RESP_GZIP,
    ] {
        secrets.push(s.to_string());
    }
    (secrets, n)
}

pub fn assert_clean(what: &str, text: &[u8], secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.windows(s.len()).any(|w| w == s.as_bytes()),
            "secret {s:?} leaked into {what}:\n{}",
            String::from_utf8_lossy(text)
        );
    }
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Every recording file is clean; the plain body is recorded byte for byte.
pub fn check_recording(dir: &Path, secrets: &[String], n: usize) {
    let mut lines = 0;
    let mut plain_seen = false;
    let mut gzip_seen = 0;
    for f in files_in(dir) {
        let text = std::fs::read(&f).expect("recording");
        assert_clean(&f.display().to_string(), &text, secrets);
        for line in String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| !l.starts_with("{\"cutover_recording\""))
        {
            let ex: Exchange = serde_json::from_str(line).expect("an exchange per line");
            lines += 1;
            // Compressed bodies hide nothing: look inside them.
            let mut bodies = vec![(&ex.request.headers, ex.request.body.as_bytes())];
            for o in [Some(&ex.outcomes.primary), ex.outcomes.candidate.as_ref()]
                .into_iter()
                .flatten()
            {
                if let cutover::exchange::OutcomeResult::Response(r) = &o.result {
                    bodies.push((&r.headers, r.body.as_bytes()));
                }
            }
            for (headers, body) in bodies {
                if cutover::exchange::header(headers, "content-encoding") == Some("gzip") {
                    let inner = gunzip(body);
                    assert!(!inner.is_empty(), "a readable gzip body");
                    assert_clean("a gzip'd body in the recording", &inner, secrets);
                    gzip_seen += 1;
                }
            }
            if ex.request.uri == "/api/plain" {
                assert_eq!(ex.request.body.as_bytes(), PLAIN, "plain body changed");
                plain_seen = true;
            }
            if ex.request.uri.starts_with("/api/auth/reset/") {
                assert_eq!(
                    cutover::redact::marker::unmark(&ex.request.uri),
                    "/api/auth/reset/[REDACTED]"
                );
            }
        }
    }
    assert_eq!(lines, n, "one line per exchange");
    assert_eq!(gzip_seen, 3, "the gzip'd request and both gzip'd answers");
    assert!(plain_seen);
}

pub fn check_report_dir(dir: &Path, secrets: &[String]) {
    let files = files_in(dir);
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for expected in ["report.json", "summary.md", "index.html", "junit.xml"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for f in files {
        let text = std::fs::read(&f).expect("report file");
        assert_clean(&f.display().to_string(), &text, secrets);
    }
    // The report shows the routes and examples (it is not clean by being empty).
    let json = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    assert!(json.contains("POST /api/auth/reset/{id}"), "{json}");
    assert!(json.contains("POST /api/login"), "{json}");
}

pub async fn metrics(admin: &str) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

pub fn analysed(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("cutover_pipeline_analysed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Exchanges counted in `cutover_comparisons_total` (read from the aggregate itself; the
/// `analysed` counter can run ahead of the aggregate within one scrape).
pub fn compared(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("cutover_comparisons_total{"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

pub async fn wait_analysed(admin: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = metrics(admin).await;
        let done = analysed(&m) >= n as u64 && compared(&m) >= n as u64;
        if done || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Collects a child's output on a thread.
pub fn collect(mut r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(k) = r.read(&mut chunk) {
            if k == 0 {
                break;
            }
            if let Ok(mut v) = b.lock() {
                v.extend_from_slice(&chunk[..k]);
            }
        }
    });
    buf
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out);
    out
}
