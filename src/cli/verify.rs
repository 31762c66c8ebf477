//! `cutover verify`: run the scenarios against a target (and compare with a second one).

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Status};
use crate::reference;
use crate::verify::{self, ReferenceSetup, VerifyOptions, output};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Folder of scenario files (*.yaml); see docs/scenario-format.md.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Where to run them: a URL, a target of --config, or a part of the embedded reference
    /// system (monolith, auth, ai, services; or reference:NAME), started for the run.
    #[arg(long, value_name = "NAME|URL")]
    pub target: String,
    /// Also run every scenario here, with its own variables, and compare every step.
    #[arg(long, value_name = "NAME|URL")]
    pub against: Option<String>,
    /// Write JUnit XML (a testsuite per scenario file, a testcase per step).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the results as JSON (cutover.verify/v1).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// cutover.toml with targets, [compare] rules and [redaction] (default: built-in rules).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Contracts for `expect.contract` (default: `contracts/` when it exists).
    #[arg(long, value_name = "DIR")]
    pub contracts: Option<PathBuf>,
    /// Per-request timeout in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub timeout_ms: u64,
    /// Embedded reference system only: migration bugs to switch on, comma-separated
    /// (`cutover reference --list-divergences`).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub diverge: Vec<String>,
    /// Embedded reference system only: ADMIN_ALLOWLIST (`-` for unset).
    #[arg(long, value_name = "NAMES", default_value = crate::demo::DEMO_ALLOWLIST)]
    pub admin_allowlist: String,
    /// Embedded reference system only: AI requests per user per minute.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub ai_rate_limit: u32,
}

pub async fn run(args: VerifyArgs) -> Result<Status, CliError> {
    let divergences = reference::parse_divergences(&args.diverge).map_err(CliError::usage)?;
    let mut opts = VerifyOptions::new(args.scenarios, &args.target);
    opts.against = args.against;
    opts.config = args.config;
    opts.timeout_ms = args.timeout_ms;
    let contracts = args.contracts.or_else(|| {
        let default = PathBuf::from("contracts");
        default.is_dir().then_some(default)
    });
    if let Some(dir) = &contracts {
        opts.contracts = Some(verify::load_contracts(dir).map_err(CliError::usage)?);
    }
    opts.reference = ReferenceSetup {
        divergences,
        admin_allowlist: (args.admin_allowlist != "-").then_some(args.admin_allowlist),
        ai_rate_limit: args.ai_rate_limit,
        ..ReferenceSetup::default()
    };
    let outcome = verify::run(opts).await.map_err(|e| CliError::usage(e.0))?;
    print!("{}", output::human(&outcome, &outcome.redaction));
    if let Some(path) = &args.junit {
        let xml = output::junit(&outcome, &outcome.redaction)
            .map_err(|e| CliError::usage(anyhow::anyhow!("rendering JUnit: {e}")))?;
        std::fs::write(path, xml).map_err(|e| {
            CliError::usage(anyhow::anyhow!("{}: cannot write: {e}", path.display()))
        })?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, output::json(&outcome, &outcome.redaction)).map_err(|e| {
            CliError::usage(anyhow::anyhow!("{}: cannot write: {e}", path.display()))
        })?;
    }
    Ok(if outcome.passed() {
        Status::Ok
    } else {
        Status::GateFailed
    })
}
