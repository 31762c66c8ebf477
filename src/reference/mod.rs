//! The embedded reference system: a chat monolith and its extracted Auth and AI services.
//!
//! (Stub: the real services land with issue #2.)

use std::net::SocketAddr;

/// Options for starting the reference system.
#[derive(Debug, Clone)]
pub struct Options {
    /// 0 = ephemeral port.
    pub monolith_port: u16,
    pub auth_port: u16,
    pub ai_port: u16,
    /// Divergence names applied to the extracted services.
    pub divergences: Vec<String>,
}

/// The running services.
#[derive(Debug)]
pub struct ReferenceSystem {
    pub monolith: SocketAddr,
    pub auth: SocketAddr,
    pub ai: SocketAddr,
}

impl ReferenceSystem {
    pub async fn start(_opts: Options) -> anyhow::Result<ReferenceSystem> {
        anyhow::bail!("not implemented yet")
    }
}
