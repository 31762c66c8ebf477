//! `cutover reference`: run the embedded reference system until Ctrl-C, or print the
//! divergence catalogue.

use std::time::Duration;

use clap::Args;

use super::{CliError, Status};
use crate::reference::{self, Options, ReferenceSystem};

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
    /// Also start a second monolith instance on this port (0 = free one), for noise learning.
    #[arg(long)]
    pub secondary_port: Option<u16>,
    /// Migration bugs to switch on in the extracted services, comma-separated
    /// (see --list-divergences).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub diverge: Vec<String>,
    /// Print the divergence catalogue (name, service, description), then the identity
    /// modes (`auth-own-identity`), and exit.
    #[arg(long)]
    pub list_divergences: bool,
    /// Admin usernames, semicolon-separated (default: $ADMIN_ALLOWLIST, else `admina`).
    #[arg(long, value_name = "NAMES")]
    pub admin_allowlist: Option<String>,
    /// bcrypt cost for password hashing (4 is fastest; default 12).
    #[arg(long, default_value_t = bcrypt::DEFAULT_COST, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,
    /// AI requests allowed per user per minute.
    #[arg(long, default_value_t = 20)]
    pub ai_rate_limit: u32,
}

pub async fn run(args: ReferenceArgs) -> Result<Status, CliError> {
    if args.list_divergences {
        // The bugs, then the identity modes (not bugs; combine with any of them).
        for info in reference::catalogue().iter().chain(reference::modes()) {
            println!(
                "{:<32} {:<5} {}",
                info.name,
                info.service.as_str(),
                info.description
            );
        }
        return Ok(Status::Ok);
    }
    let divergences = reference::parse_divergences(&args.diverge).map_err(CliError::usage)?;
    let secret_key = std::env::var("SECRET_KEY")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| reference::DEFAULT_SECRET.to_string());
    let admin_allowlist = args
        .admin_allowlist
        .or_else(|| std::env::var("ADMIN_ALLOWLIST").ok());
    let system = ReferenceSystem::start(Options {
        monolith_port: args.monolith_port,
        auth_port: args.auth_port,
        ai_port: args.ai_port,
        secondary_port: args.secondary_port,
        divergences,
        admin_allowlist,
        secret_key,
        bcrypt_cost: args.bcrypt_cost,
        ai_rate_limit: args.ai_rate_limit,
        ai_rate_window: Duration::from_secs(60),
        ..Options::default()
    })
    .await
    .map_err(CliError::usage)?;
    println!("monolith  http://{}", system.monolith);
    if let Some(secondary) = system.secondary {
        println!("secondary http://{secondary}");
    }
    println!("auth      http://{}", system.auth);
    println!("ai        http://{}", system.ai);
    if !args.diverge.is_empty() {
        println!("diverging: {}", args.diverge.join(", "));
    }
    let _ = tokio::signal::ctrl_c().await;
    system.shutdown().await;
    Ok(Status::Ok)
}
