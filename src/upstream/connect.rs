//! Opening one connection to an origin: TCP, then TLS when the target is `https://`, then
//! the HTTP handshake the target's protocol (or ALPN) asks for.
//!
//! Owns the socket options (no delay, TCP keep-alive), the read-buffer bound of HTTP/1.1
//! connections, the flow-control windows of HTTP/2 connections (the same bound per stream)
//! and spawning each connection's task on the current runtime (so on the worker thread that
//! opened it). Never pools anything: [`super::pool::Pool`] decides when to dial.

use std::sync::Arc;
use std::time::Duration;

use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsConnector;

use super::forward::ForwardBody;
use super::pool::UpstreamError;
use super::tls::ALPN_H2;

/// The most a connection's read buffer grows to (hyper's default is ~400 kB). A target
/// streaming a large or endless body fills its connection's buffer at once: with up to
/// `max_in_flight_shadows` such connections this bound, not the target, sets the memory
/// (and it caps a response head at this size, far above what origins send). For HTTP/2 it
/// is each stream's flow-control window and the largest header list accepted.
pub const READ_BUF_MAX: usize = 64 * 1024;
/// HTTP/2: the connection's flow-control window (bytes received and not yet read, all
/// streams together).
const H2_CONN_WINDOW: u32 = 1024 * 1024;
/// TCP keep-alive probes start after this much silence.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// An open connection, ready for requests.
pub enum Conn {
    H1(http1::SendRequest<ForwardBody>),
    H2(http2::SendRequest<ForwardBody>),
}

/// TLS settings of one origin.
pub struct TlsDial {
    pub name: ServerName<'static>,
    /// ALPN as configured (`h2`+`http/1.1`, or `http/1.1`).
    pub config: Arc<ClientConfig>,
    /// `http/1.1` only, for protocol upgrades (WebSocket) tunnelled to this origin.
    pub upgrade_config: Arc<ClientConfig>,
}

/// How to reach one origin.
pub struct Dialer {
    /// `host:port`.
    pub addr: String,
    pub tls: Option<TlsDial>,
    /// HTTP/2 with prior knowledge (h2c).
    pub h2c: bool,
}

impl Dialer {
    async fn tcp(&self) -> Result<TcpStream, UpstreamError> {
        let stream = TcpStream::connect(self.addr.as_str())
            .await
            .map_err(UpstreamError::Connect)?;
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        Ok(stream)
    }

    /// A new connection speaking HTTP/1.1 or HTTP/2, as configured or negotiated. A cap
    /// `permit` is held by the connection's task until the connection is closed.
    pub async fn dial(&self, permit: Option<OwnedSemaphorePermit>) -> Result<Conn, UpstreamError> {
        let stream = self.tcp().await?;
        match &self.tls {
            None if self.h2c => h2(TokioIo::new(stream), permit).await.map(Conn::H2),
            None => h1(TokioIo::new(stream), permit).await.map(Conn::H1),
            Some(tls) => {
                let stream = TlsConnector::from(Arc::clone(&tls.config))
                    .connect(tls.name.clone(), stream)
                    .await
                    .map_err(UpstreamError::Tls)?;
                if stream.get_ref().1.alpn_protocol() == Some(ALPN_H2) {
                    h2(TokioIo::new(stream), permit).await.map(Conn::H2)
                } else {
                    h1(TokioIo::new(stream), permit).await.map(Conn::H1)
                }
            }
        }
    }

    /// A new HTTP/1.1 connection whose task allows a protocol upgrade (the WebSocket
    /// tunnel); never pooled.
    pub async fn dial_upgradable(&self) -> Result<http1::SendRequest<ForwardBody>, UpstreamError> {
        let stream = self.tcp().await?;
        match &self.tls {
            None => h1_upgradable(TokioIo::new(stream)).await,
            Some(tls) => {
                let stream = TlsConnector::from(Arc::clone(&tls.upgrade_config))
                    .connect(tls.name.clone(), stream)
                    .await
                    .map_err(UpstreamError::Tls)?;
                h1_upgradable(TokioIo::new(stream)).await
            }
        }
    }
}

async fn h1<I>(
    io: I,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<http1::SendRequest<ForwardBody>, UpstreamError>
where
    I: Read + Write + Unpin + Send + 'static,
{
    let (tx, conn) = http1::Builder::new()
        .max_buf_size(READ_BUF_MAX)
        .handshake(io)
        .await
        .map_err(UpstreamError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("upstream connection: {e}");
        }
        // The socket is closed: the cap may open another connection.
        drop(permit);
    });
    Ok(tx)
}

async fn h1_upgradable<I>(io: I) -> Result<http1::SendRequest<ForwardBody>, UpstreamError>
where
    I: Read + Write + Unpin + Send + 'static,
{
    let (tx, conn) = http1::handshake(io).await.map_err(UpstreamError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("upgrade connection to the primary: {e}");
        }
    });
    Ok(tx)
}

async fn h2<I>(
    io: I,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<http2::SendRequest<ForwardBody>, UpstreamError>
where
    I: Read + Write + Unpin + Send + 'static,
{
    let (tx, conn) = http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(READ_BUF_MAX as u32)
        .initial_connection_window_size(H2_CONN_WINDOW)
        .max_header_list_size(READ_BUF_MAX as u32)
        .handshake(io)
        .await
        .map_err(UpstreamError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("upstream HTTP/2 connection: {e}");
        }
        drop(permit);
    });
    Ok(tx)
}
