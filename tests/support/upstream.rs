//! Tiny upstream servers for the proxy tests: a scriptable hyper server that records what
//! it received, and raw TCP servers that misbehave (reset, garbage).

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub type Body = BoxBody<Bytes, Infallible>;

/// One request as an upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

type Handler =
    Arc<dyn Fn(Seen) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync>;

/// A running upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .expect("response")
}

pub fn json(body: serde_json::Value) -> Response<Body> {
    full(200, "application/json", body.to_string())
}

/// A streaming body fed by the returned sender.
pub fn streaming(content_type: &str) -> (tokio::sync::mpsc::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let resp = Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("response");
    (tx, resp)
}

/// Start an upstream whose answers come from `handler`.
pub async fn upstream<F, Fut>(handler: F) -> Upstream
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = Arc::clone(&handler);
            let seen = Arc::clone(&seen2);
            let svc = service_fn(move |req: Request<Incoming>| {
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let s = Seen {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers: parts.headers,
                        body,
                    };
                    if let Ok(mut v) = seen.lock() {
                        v.push(s.clone());
                    }
                    Ok::<_, Infallible>(handler(s).await)
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream { addr, seen }
}

/// An upstream answering `{"ok":true,"path":...}` at once.
pub async fn ok_upstream() -> Upstream {
    upstream(|s: Seen| async move { json(serde_json::json!({"ok": true, "path": s.uri})) }).await
}

/// An upstream answering like `ok_upstream`, after `delay`.
pub async fn slow_upstream(delay: Duration) -> Upstream {
    upstream(move |s: Seen| async move {
        tokio::time::sleep(delay).await;
        json(serde_json::json!({"ok": true, "path": s.uri}))
    })
    .await
}

/// A port where nothing listens.
/// An address where nothing listens, and which no other socket can take while `hold`
/// lives (a bound, non-listening socket: connects are refused). A port freed by dropping
/// a listener could be handed to the next `bind(0)`, even the proxy's own.
pub fn down_addr() -> (SocketAddr, socket2::Socket) {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let addr = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("addr");
    (addr, s)
}

/// Accepts, reads the request, then resets the connection.
pub async fn resetting_server() -> SocketAddr {
    raw_server(|mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await
}

/// Accepts, reads the request, answers with bytes that are not HTTP.
pub async fn garbage_server() -> SocketAddr {
    raw_server(|mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"SSH-2.0-OpenSSH garbage \x00\x01\x02\r\n\r\n")
            .await;
        let _ = s.shutdown().await;
    })
    .await
}

async fn raw_server<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(f(s));
        }
    });
    addr
}

/// Send raw bytes, return the raw answer (until the server closes or 2 s pass).
pub async fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A WebSocket echo server over raw TCP: answers the handshake with `101` (the accept key
/// is not computed: no SHA-1 here, and nothing on the path checks it), then echoes each
/// masked client frame (payload < 126 bytes) back unmasked. Counts handshakes.
pub async fn ws_echo_server() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&handshakes);
    let addr = raw_server(move |mut s| {
        let counted = Arc::clone(&counted);
        async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            if !text.contains("upgrade: websocket") {
                let _ = s
                    .write_all(b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n")
                    .await;
                return;
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: not-computed\r\n\r\n",
                )
                .await;
            loop {
                let mut hdr = [0u8; 2];
                if s.read_exact(&mut hdr).await.is_err() {
                    return;
                }
                let len = usize::from(hdr[1] & 0x7f);
                let mut mask = [0u8; 4];
                if hdr[1] & 0x80 != 0 && s.read_exact(&mut mask).await.is_err() {
                    return;
                }
                let mut payload = vec![0u8; len];
                if s.read_exact(&mut payload).await.is_err() {
                    return;
                }
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
                let mut frame = vec![hdr[0], len as u8];
                frame.extend_from_slice(&payload);
                if s.write_all(&frame).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (addr, handshakes)
}

/// A raw HTTP/1.1 server that records each request head (any number of header fields)
/// and answers `200` with `connection: close`.
pub async fn head_recorder() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&heads);
    let addr = raw_server(move |mut s| {
        let recorded = Arc::clone(&recorded);
        async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            if let Ok(mut v) = recorded.lock() {
                v.push(String::from_utf8_lossy(&head).into_owned());
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
            let _ = s.shutdown().await;
        }
    })
    .await;
    (addr, heads)
}

/// A real proxy for `config` on its configured (usually `127.0.0.1:0`) address, feeding a
/// pipeline with the parity analyzer and `sinks`, and a client with a 30 s timeout: the
/// set-up every proxy test file shares.
pub async fn start_proxy(
    config: std::sync::Arc<cutover::config::Config>,
    sinks: Vec<Box<dyn cutover::pipeline::Sink>>,
) -> (
    cutover::proxy::RunningProxy,
    cutover::pipeline::Pipeline,
    reqwest::Client,
) {
    use cutover::pipeline::{Aggregate, Pipeline, PipelineOptions, analyzer_for};
    let (pipeline, handle) = Pipeline::start(
        analyzer_for(&config),
        Aggregate::default(),
        sinks,
        PipelineOptions::default(),
    )
    .expect("pipeline");
    let proxy = cutover::proxy::start(config, handle, pipeline.aggregate(), pipeline.stats())
        .await
        .expect("proxy starts");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    (proxy, pipeline, client)
}
