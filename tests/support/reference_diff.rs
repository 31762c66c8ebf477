//! Test support: a small structural diff that strips the reference system's legitimate
//! noise, and a runner that sends the same requests to the monolith and to an extracted
//! service and collects the differences as `(route, path, kind)`.
//!
//! Noise stripped: `access_token` values (also inside `set-cookie`), timestamps (any RFC 3339
//! string becomes `<timestamp>`, so `…Z` vs `+00:00` is equal), `latency_ms` numbers, the
//! `x-request-id`/`date`/`server`/`content-length` headers, key order and whitespace (by
//! parsing JSON). Latency is reported when the candidate is more than 150 ms slower.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use serde_json::Value;

/// `(route, path, kind)`.
pub type EffectKey = (String, String, String);

#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Text(String),
}

/// One response as seen by the test.
#[derive(Debug, Clone)]
pub struct Seen {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Body,
    pub raw: String,
    pub elapsed: Duration,
}

impl Seen {
    pub fn json(&self) -> &Value {
        match &self.body {
            Body::Json(v) => v,
            Body::Text(t) => panic!("expected JSON, got {t:?}"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn detail(&self) -> &Value {
        &self.json()["detail"]
    }
}

pub async fn fetch(rb: RequestBuilder) -> Seen {
    let started = Instant::now();
    let resp = rb.send().await.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp.text().await.expect("body");
    let elapsed = started.elapsed();
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if is_json {
        Body::Json(serde_json::from_str(&raw).expect("JSON body"))
    } else {
        Body::Text(raw.clone())
    };
    Seen {
        status,
        headers,
        body,
        raw,
        elapsed,
    }
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn is_timestamp(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Replace noise in a JSON body by placeholders (so presence and type still count).
pub fn strip_noise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match (k.as_str(), &*val) {
                    ("access_token", Value::String(_)) => *val = Value::from("<token>"),
                    ("latency_ms", Value::Number(_)) => *val = Value::from("<latency>"),
                    (_, Value::String(s)) if is_timestamp(s) => *val = Value::from("<timestamp>"),
                    _ => strip_noise(val),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_noise),
        _ => {}
    }
}

/// Headers that are compared (all others are noise or transport detail).
const COMPARED_HEADERS: &[&str] = &[
    "content-type",
    "set-cookie",
    "www-authenticate",
    "cache-control",
];

fn header_value(s: &Seen, name: &str) -> Option<String> {
    let v = s.header(name)?.to_string();
    if name == "set-cookie" {
        return Some(
            v.split(';')
                .map(|part| {
                    let part = part.trim();
                    match part.split_once('=') {
                        Some(("access_token", _)) => "access_token=<token>".to_string(),
                        _ => part.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    Some(v)
}

fn is_sse(s: &Seen) -> bool {
    s.header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"))
}

/// The `data:` payloads of an event stream, concatenated, without `[DONE]`.
fn sse_data(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .filter(|d| *d != "[DONE]")
        .collect()
}

fn pointer_push(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn same_multiset(a: &[Value], b: &[Value]) -> bool {
    let mut used = vec![false; b.len()];
    a.iter()
        .all(|x| match (0..b.len()).find(|&i| !used[i] && b[i] == *x) {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        })
}

pub fn json_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<(String, &'static str)>) {
    if a == b {
        return;
    }
    if type_name(a) != type_name(b) {
        out.push((path.to_string(), "type_changed"));
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    None => out.push((pointer_push(path, k), "missing")),
                    Some(vb) => json_diff(&pointer_push(path, k), va, vb, out),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push((pointer_push(path, k), "extra"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push((path.to_string(), "array_length"));
            } else if same_multiset(x, y) {
                out.push((path.to_string(), "order_only"));
            } else {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    json_diff(&pointer_push(path, &i.to_string()), va, vb, out);
                }
            }
        }
        _ => out.push((path.to_string(), "value_changed")),
    }
}

/// Differences between a primary and a candidate response, noise stripped.
pub fn diff(a: &Seen, b: &Seen) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push(("status".to_string(), "status"));
    }
    for name in COMPARED_HEADERS {
        if header_value(a, name) == header_value(b, name) {
            continue;
        }
        if *name == "set-cookie" {
            // Compared per cookie, like the parity engine: `header:set-cookie:<cookie>`.
            let cookies = |s: &Seen| -> BTreeSet<(String, String)> {
                header_value(s, name)
                    .map(|v| {
                        let cookie = v.split('=').next().unwrap_or("").trim().to_string();
                        BTreeSet::from([(cookie, v)])
                    })
                    .unwrap_or_default()
            };
            let (ca, cb) = (cookies(a), cookies(b));
            let names: BTreeSet<&String> = ca.iter().chain(cb.iter()).map(|(n, _)| n).collect();
            for n in names {
                let va = ca.iter().find(|(c, _)| c == n);
                let vb = cb.iter().find(|(c, _)| c == n);
                if va != vb {
                    out.push((format!("header:set-cookie:{n}"), "header"));
                }
            }
            continue;
        }
        out.push((format!("header:{name}"), "header"));
    }
    if b.elapsed > a.elapsed + Duration::from_millis(150) {
        out.push(("latency".to_string(), "latency"));
    }
    match (&a.body, &b.body) {
        (Body::Json(x), Body::Json(y)) => {
            let (mut x, mut y) = (x.clone(), y.clone());
            strip_noise(&mut x);
            strip_noise(&mut y);
            json_diff("", &x, &y, &mut out);
        }
        (Body::Text(x), Body::Text(y)) if x == y => {}
        // SSE, like the parity engine: the reassembled data at `body:data`, the framing
        // (how the data is split into events) at `body:events`.
        (Body::Text(x), Body::Text(y)) if is_sse(a) && is_sse(b) => {
            if sse_data(x) != sse_data(y) {
                out.push(("body:data".to_string(), "text"));
            } else {
                out.push(("body:events".to_string(), "value_changed"));
            }
        }
        _ => out.push(("body".to_string(), "text")),
    }
    out
}

/// One side of a comparison: a base address and the token it was given.
#[derive(Debug, Clone)]
pub struct Side {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Side {
    pub fn url(&self, path: &str) -> String {
        url(self.addr, path)
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.as_deref().unwrap_or(""))
    }
}

/// Sends the same requests to a primary (monolith) and a candidate and records differences.
pub struct Pair {
    pub client: Client,
    pub primary: Side,
    pub candidate: Side,
    pub effects: BTreeSet<EffectKey>,
}

impl Pair {
    pub fn new(primary: SocketAddr, candidate: SocketAddr) -> Pair {
        Pair {
            client: Client::new(),
            primary: Side {
                addr: primary,
                token: None,
            },
            candidate: Side {
                addr: candidate,
                token: None,
            },
            effects: BTreeSet::new(),
        }
    }

    /// Send the request built by `f` to both sides; record the differences under `route`.
    pub async fn step<F>(&mut self, route: &str, f: F) -> (Seen, Seen)
    where
        F: Fn(&Client, &Side) -> RequestBuilder,
    {
        let a = fetch(f(&self.client, &self.primary)).await;
        let b = fetch(f(&self.client, &self.candidate)).await;
        for (path, kind) in diff(&a, &b) {
            self.effects
                .insert((route.to_string(), path, kind.to_string()));
        }
        (a, b)
    }

    /// Use the `access_token` each side answered with.
    pub fn take_tokens(&mut self, answers: &(Seen, Seen)) {
        self.primary.token = answers.0.json()["access_token"].as_str().map(String::from);
        self.candidate.token = answers.1.json()["access_token"].as_str().map(String::from);
    }

    pub fn use_token(&mut self, token: &str) {
        self.primary.token = Some(token.to_string());
        self.candidate.token = Some(token.to_string());
    }
}

#[test]
fn diff_helper_sees_what_it_should() {
    let mut out = Vec::new();
    let a = serde_json::json!({"id": 1, "l": [1, 2], "o": {"x": 1}, "gone": 1, "t": "2026-11-21T10:00:00.1Z"});
    let b = serde_json::json!({"id": "1", "l": [2, 1], "o": {"x": 2}, "new": 1, "t": "2026-11-21T10:00:00.1+00:00"});
    let (mut a, mut b) = (a, b);
    strip_noise(&mut a);
    strip_noise(&mut b);
    json_diff("", &a, &b, &mut out);
    out.sort();
    assert_eq!(
        out,
        vec![
            ("/gone".to_string(), "missing"),
            ("/id".to_string(), "type_changed"),
            ("/l".to_string(), "order_only"),
            ("/new".to_string(), "extra"),
            ("/o/x".to_string(), "value_changed"),
        ]
    );
}
