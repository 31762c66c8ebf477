//! The mirroring proxy as a live [`Source`]: serves until the run's [`super::Shutdown`]
//! triggers, then shuts down gracefully and returns its summary (drops by reason).

use std::sync::Arc;

use super::{Source, SourceContext};
use crate::pipeline::Delivery;
use crate::proxy::{self, ProxySummary};

/// Called once the proxy listens, with its client and admin addresses.
pub type OnListening = Box<dyn FnOnce(&proxy::RunningProxy) + Send>;

/// The proxy over the run's configuration.
pub struct ProxySource {
    /// Prefixed to start-up errors (the configuration file's name).
    pub origin: String,
    pub on_listening: Option<OnListening>,
}

impl Source for ProxySource {
    type Output = ProxySummary;

    fn delivery(&self) -> Delivery {
        Delivery::DropWhenFull
    }

    async fn run(self, ctx: SourceContext) -> anyhow::Result<ProxySummary> {
        let running = proxy::start(Arc::clone(&ctx.config), ctx.out, ctx.aggregate, ctx.stats)
            .await
            // Name the file the key is in; the error itself names the key.
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.origin))?;
        if let Some(f) = self.on_listening {
            f(&running);
        }
        ctx.shutdown.wait().await;
        Ok(running.shutdown().await)
    }
}
