//! `cutover reference`: run the embedded reference system until Ctrl-C.

use clap::Args;

use super::{CliError, Status};
use crate::reference::{Options, ReferenceSystem};

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Monolith port (0 = pick a free one).
    #[arg(long, default_value_t = 8000)]
    pub monolith_port: u16,
    /// Auth service port (0 = pick a free one).
    #[arg(long, default_value_t = 8001)]
    pub auth_port: u16,
    /// AI service port (0 = pick a free one).
    #[arg(long, default_value_t = 8002)]
    pub ai_port: u16,
    /// Migration bugs to switch on in the extracted services, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub diverge: Vec<String>,
    /// Print the divergence catalogue and exit.
    #[arg(long)]
    pub list_divergences: bool,
}

pub async fn run(args: ReferenceArgs) -> Result<Status, CliError> {
    let system = ReferenceSystem::start(Options {
        monolith_port: args.monolith_port,
        auth_port: args.auth_port,
        ai_port: args.ai_port,
        divergences: args.diverge,
    })
    .await
    .map_err(CliError::usage)?;
    println!("monolith  http://{}", system.monolith);
    println!("auth      http://{}", system.auth);
    println!("ai        http://{}", system.ai);
    let _ = tokio::signal::ctrl_c().await;
    Ok(Status::Ok)
}
