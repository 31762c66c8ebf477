//! Upstream servers for `tests/upstream.rs`: a test CA and leaf certificate made with
//! rcgen, and hyper servers over TLS (ALPN h2/http1.1), h2c (prior knowledge only) or plain
//! HTTP that record each request's HTTP version and TLS server name (SNI).

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// Certificates: a CA and a leaf for `localhost` and 127.0.0.1, made per test with rcgen.

pub struct Pki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    key_der: Vec<u8>,
}

pub fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "cutover test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    Pki {
        ca_pem: ca_cert.pem(),
        leaf: leaf.der().clone(),
        key_der: leaf_key.serialize_der(),
    }
}

impl Pki {
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA");
        path
    }
}

// ---------------------------------------------------------------------------------------
// Upstream servers that record the HTTP version and the TLS server name of each request.

#[derive(Debug, Clone)]
pub struct Hit {
    pub version: Version,
    pub sni: Option<String>,
    pub path: String,
}

pub struct Server {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    pub connections: Arc<AtomicUsize>,
}

impl Server {
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }
    pub fn https(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }
}

/// The same deterministic JSON answer from every server, so primary and candidate match.
async fn answer(
    req: Request<Incoming>,
    sni: Option<String>,
    hits: Arc<Mutex<Vec<Hit>>>,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if let Ok(mut h) = hits.lock() {
        h.push(Hit {
            version: req.version(),
            sni,
            path: path.clone(),
        });
    }
    let _ = req.into_body().collect().await;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = serde_json::json!({ "path": path, "ok": true }).to_string();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response"))
}

pub enum Kind {
    /// TLS with this ALPN list; HTTP/1.1 or HTTP/2 as negotiated.
    Tls(Arc<rustls::ServerConfig>),
    /// Plain HTTP/2 with prior knowledge only.
    H2c,
    /// Plain HTTP/1.1 (or h2c, whatever the client speaks).
    Plain,
    /// h2c that ends each connection with a graceful GOAWAY after this many requests
    /// (hyper's two-step GOAWAY: the client stops opening streams first).
    H2cGoAwayAfter(usize),
    /// h2c that resets every n-th stream of a connection with `REFUSED_STREAM` unprocessed
    /// (not recorded in `hits`), as a server at its stream limit does.
    H2cRefuseEvery(usize),
}

pub async fn serve(kind: Kind, delay: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let kind = Arc::new(kind);
    let (h, c) = (Arc::clone(&hits), Arc::clone(&connections));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            c.fetch_add(1, Ordering::Relaxed);
            let hits = Arc::clone(&h);
            let kind = Arc::clone(&kind);
            tokio::spawn(async move {
                match &*kind {
                    Kind::Tls(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let sni = tls.get_ref().1.server_name().map(str::to_string);
                        let svc = service_fn(move |req| {
                            answer(req, sni.clone(), Arc::clone(&hits), delay)
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), svc)
                            .await;
                    }
                    Kind::H2c => {
                        let svc =
                            service_fn(move |req| answer(req, None, Arc::clone(&hits), delay));
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    }
                    Kind::H2cGoAwayAfter(per_conn) => {
                        let served = Arc::new(AtomicUsize::new(0));
                        let reached = Arc::new(tokio::sync::Notify::new());
                        let (s, r, per) = (Arc::clone(&served), Arc::clone(&reached), *per_conn);
                        let svc = service_fn(move |req| {
                            if s.fetch_add(1, Ordering::Relaxed) + 1 == per {
                                r.notify_one();
                            }
                            answer(req, None, Arc::clone(&hits), delay)
                        });
                        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => return,
                            _ = reached.notified() => conn.as_mut().graceful_shutdown(),
                        }
                        let _ = conn.await;
                    }
                    Kind::H2cRefuseEvery(n) => {
                        let Ok(mut conn) = h2::server::handshake(stream).await else {
                            return;
                        };
                        let mut seen = 0usize;
                        while let Some(Ok((req, mut respond))) = conn.accept().await {
                            seen += 1;
                            if seen % n == 0 {
                                respond.send_reset(h2::Reason::REFUSED_STREAM);
                                continue;
                            }
                            let hits = Arc::clone(&hits);
                            tokio::spawn(async move {
                                let path = req.uri().path().to_string();
                                if let Ok(mut h) = hits.lock() {
                                    h.push(Hit {
                                        version: Version::HTTP_2,
                                        sni: None,
                                        path: path.clone(),
                                    });
                                }
                                let mut body = req.into_body();
                                while let Some(Ok(chunk)) = body.data().await {
                                    let _ = body.flow_control().release_capacity(chunk.len());
                                }
                                let json = serde_json::json!({ "path": path, "ok": true });
                                let head = Response::builder()
                                    .header("content-type", "application/json")
                                    .body(())
                                    .expect("response");
                                if let Ok(mut send) = respond.send_response(head, false) {
                                    let _ = send.send_data(Bytes::from(json.to_string()), true);
                                }
                            });
                        }
                    }
                    Kind::Plain => {
                        let svc =
                            service_fn(move |req| answer(req, None, Arc::clone(&hits), delay));
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    }
                }
            });
        }
    });
    Server {
        addr,
        hits,
        connections,
    }
}

pub fn tls_config(pki: &Pki, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![pki.leaf.clone()], key)
    .expect("server cert");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

pub async fn tls_server(pki: &Pki, alpn: &[&[u8]]) -> Server {
    serve(Kind::Tls(tls_config(pki, alpn)), Duration::ZERO).await
}

/// A TLS server (ALPN h2 and http/1.1 offered) that answers an `Upgrade` request with
/// `101` and then echoes raw bytes; counts the upgrades.
pub async fn tls_upgrade_echo(pki: &Pki) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = tls_config(pki, &[b"h2", b"http/1.1"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let upgrades = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&upgrades);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&config));
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = service_fn(move |mut req: Request<Incoming>| {
                    let counted = Arc::clone(&counted);
                    async move {
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            let Ok(up) = on.await else { return };
                            counted.fetch_add(1, Ordering::SeqCst);
                            let mut io = TokioIo::new(up);
                            let mut buf = [0u8; 64];
                            while let Ok(n) = io.read(&mut buf).await {
                                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        });
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(101)
                                .header("connection", "upgrade")
                                .header("upgrade", "echo")
                                .body(Full::new(Bytes::new()))
                                .expect("101"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, upgrades)
}
