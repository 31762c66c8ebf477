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
        let configured = configured_identities(&ctx.config)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.origin))?;
        let running = proxy::start_with(
            Arc::clone(&ctx.config),
            ctx.out,
            ctx.aggregate,
            ctx.stats,
            configured,
        )
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

/// `[[identities]]` established against their targets (login scenarios run once, at
/// start-up), or `None` when none are configured. An identity that cannot be established is
/// a start-up error: a run that silently lacked it would report untranslated copies only.
async fn configured_identities(
    config: &crate::config::Config,
) -> anyhow::Result<Option<Arc<crate::identity::configured::ConfiguredIdentities>>> {
    if config.file.identities.is_empty() {
        return Ok(None);
    }
    if !config.file.translate.enabled() {
        anyhow::bail!(
            "[[identities]] are configured but [translate] enabled = false: they are only used by the translation"
        );
    }
    let names: Vec<&str> = config.file.targets.keys().map(String::as_str).collect();
    let established = crate::scenario::login::establish(config, &names)
        .await
        .map_err(|e| anyhow::anyhow!("[[identities]]: {e}"))?;
    Ok(Some(Arc::new(established)))
}
