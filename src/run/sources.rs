//! Offline sources: a list of exchanges (tests, tools) and recordings (`cutover report`).
//! Both deliver with [`Delivery::Wait`]: a full queue makes them wait, never drop.

use super::{Source, SourceContext};
use crate::exchange::Exchange;
use crate::pipeline::Delivery;

/// Exchanges already in memory, submitted in order.
#[derive(Debug, Clone, Default)]
pub struct ExchangeList(pub Vec<Exchange>);

impl Source for ExchangeList {
    /// How many were queued.
    type Output = u64;

    fn delivery(&self) -> Delivery {
        Delivery::Wait
    }

    async fn run(self, ctx: SourceContext) -> anyhow::Result<u64> {
        let out = ctx.out;
        let queued = tokio::task::spawn_blocking(move || {
            let mut queued = 0;
            for exchange in self.0 {
                queued += u64::from(out.submit(exchange));
            }
            queued
        })
        .await?;
        Ok(queued)
    }
}

/// Recording files (JSON Lines of exchanges), read in order. Broken lines are skipped and
/// named; a recording with no exchange at all is an input error.
#[derive(Debug, Clone)]
pub struct RecordingSource {
    /// The recordings, opened (headers read, format versions checked).
    pub recording: crate::record::Recording,
}

/// What reading the recordings found.
pub type RecordingSummary = crate::report::RecordingStats;

impl Source for RecordingSource {
    type Output = RecordingSummary;

    fn delivery(&self) -> Delivery {
        Delivery::Wait
    }

    async fn run(self, ctx: SourceContext) -> anyhow::Result<RecordingSummary> {
        let out = ctx.out;
        let recording = self.recording.clone();
        let stats = tokio::task::spawn_blocking(move || {
            recording.read(|exchange, bodies_omitted| {
                if bodies_omitted {
                    out.submit_without_bodies(exchange);
                } else {
                    out.submit(exchange);
                }
            })
        })
        .await?
        .map_err(|e| anyhow::anyhow!(e))?;
        if stats.exchanges == 0 {
            let mut message = format!(
                "no exchanges in {} (record some with `cutover proxy --record FILE`)",
                self.recording
                    .paths()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for bad in &stats.bad_lines {
                message.push_str(&format!("\n  skipped unparsable line {bad}"));
            }
            anyhow::bail!(message);
        }
        Ok(stats)
    }
}
