//! Driving the attack, directly or with `--through-proxy`.
//!
//! Through the proxy, an in-process cutover proxy (the configuration's primary answered,
//! each route's candidate mirrored, every write mirrored too) runs as the source of an
//! ordinary [`RunBuilder`] run, so its exchanges go through the parity pipeline and a
//! parity report is written to `<dir>/parity/`. The direct side-by-side comparison is left
//! as it is: every baseline request is sent once more, through the proxy, right after its
//! direct copy, with the same user's variables; that copy is never part of the latency
//! figures (the proxy's hop would make the baseline look slower than the candidate). Both
//! direct sides see the extra traffic alike (the primary answers the proxied copy, the
//! candidate its mirror), so the comparison stays fair. The load verdict is the direct
//! comparison's; the parity verdict is the report's own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::attack::{self, TargetRef};
use super::collect::Collector;
use super::plan::Attack;
use super::scenario_attack;
use crate::config::Config;
use crate::pipeline::Delivery;
use crate::run::{RunBuilder, Source, SourceContext, run_info};

/// One attack with its settings.
pub(super) struct Drive {
    pub attack: Attack,
    pub users: usize,
    pub rate: Option<usize>,
    pub duration: Duration,
    pub request_timeout: Duration,
    pub goose_report: Option<PathBuf>,
    pub run_id: String,
    pub collector: Arc<Collector>,
    /// The targets on cutover's own client (pre-resolved with their TLS settings).
    pub upstreams: super::direct::Upstreams,
}

impl Drive {
    /// Run the attack; with `proxy`, each baseline request is also sent through it.
    pub async fn run(self, proxy: Option<TargetRef>) -> Result<(), goose::GooseError> {
        match self.attack {
            Attack::Builtin(mut plan) => {
                plan.users = self.users;
                plan.rate = self.rate;
                plan.goose_report = self.goose_report;
                plan.proxy = proxy;
                attack::run(*plan, self.upstreams, self.collector).await
            }
            Attack::Scenarios(plan) => {
                let r = scenario_attack::ScenarioRun {
                    users: self.users,
                    rate: self.rate,
                    duration: self.duration,
                    request_timeout: self.request_timeout,
                    goose_report: self.goose_report,
                    run_id: self.run_id,
                    proxy,
                    upstreams: self.upstreams,
                };
                scenario_attack::run(&plan, &r, self.collector).await
            }
        }
    }
}

/// The attack as the source of a parity run.
struct Proxied {
    drive: Drive,
}

impl Source for Proxied {
    type Output = ();

    fn delivery(&self) -> Delivery {
        Delivery::DropWhenFull
    }

    async fn run(self, ctx: SourceContext) -> anyhow::Result<()> {
        let proxy = crate::proxy::start(ctx.config, ctx.out, ctx.aggregate, ctx.stats)
            .await
            .context("starting the in-process proxy")?;
        let target = TargetRef {
            name: "proxy".into(),
            url: format!("http://{}", proxy.listen),
        };
        let attacked = self.drive.run(Some(target)).await;
        proxy.shutdown().await;
        attacked.map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Run the attack through an in-process proxy with `config`'s targets and routes; the
/// parity report's files (in `<dir>/parity/`).
pub(super) async fn run(
    drive: Drive,
    config: &Config,
    dir: &Path,
    run_id: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut config = config.clone();
    config.file.proxy.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.file.proxy.admin_enabled = false;
    let info = run_info(run_id.to_string(), "load --through-proxy");
    let outcome = RunBuilder::new(Arc::new(config))
        .report(dir.join("parity"), info)
        .run(Proxied { drive })
        .await
        .map_err(|e| e.0)?;
    Ok(outcome
        .report
        .map(|(_, w)| vec![w.json, w.markdown, w.html, w.junit])
        .unwrap_or_default())
}
