//! The command line: argument parsing, logging set-up, and exit codes.
//!
//! Every command is a library function that tests can call; this module only translates
//! arguments into calls and errors into exit codes. Exit codes: 0 success, 1 a gate failed
//! (parity or load verdict), 2 usage or input error (bad flags, bad files, port in use).

mod demo;
mod proxy;
mod reference;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Decide whether an extracted microservice is safe to take over from a monolith.
///
/// cutover mirrors staging traffic from the monolith to extracted services, compares the
/// answers structurally, validates them against contracts, runs load gates, and writes
/// reports for people (HTML), pull requests (Markdown), machines (JSON) and CI (JUnit).
#[derive(Debug, Parser)]
#[command(name = "cutover", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole job on this machine: reference system, proxy, workload, report.
    Demo(demo::DemoArgs),
    /// Run the embedded reference system: a monolith and its extracted Auth and AI services.
    Reference(reference::ReferenceArgs),
    /// Mirror traffic: answer clients from the primary, copy matching requests to the
    /// candidate (and secondary), record and compare the answers.
    Proxy(proxy::ProxyArgs),
    /// Analyse recordings and write report.json, summary.md, index.html and junit.xml.
    Report(report::ReportArgs),
}

/// Exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    GateFailed = 1,
    Usage = 2,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// An error at the command boundary: what went wrong, and which exit status it earns.
#[derive(Debug)]
pub struct CliError {
    pub status: Status,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn usage(error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            status: Status::Usage,
            error: error.into(),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Status::Usage.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("error: {:#}", e.error);
            e.status.into()
        }
    }
}

/// Run one parsed command line.
pub async fn run(cli: Cli) -> Result<Status, CliError> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Reference(args) => reference::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Report(args) => report::run(args).await,
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
