//! The command line: argument parsing, logging set-up, and exit codes.
//!
//! Every command is a library function that tests can call; this module only translates
//! arguments into calls, sets up logging (stderr; stdout is for results), and turns errors
//! into exit codes. Exit codes: 0 success, 1 a gate failed (parity or load verdict), 2
//! usage or input error (bad flags, bad files, port in use); every `--help` lists them.

mod contract;
mod demo;
mod load;
mod proxy;
mod reference;
mod report;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// The exit codes, shown at the end of `cutover --help` and of each command's `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  pass: the run finished and no gate failed
  1  a gate failed (a route under its parity threshold, a latency or error-rate trigger)
  2  usage or input error: a bad flag, an unreadable or invalid file, a port in use";

/// `cutover demo` is a demonstration: its verdict does not fail it unless asked.
const DEMO_EXIT_CODES: &str = "\
Exit codes:
  0  the demo ran to the end and wrote its report, whatever the verdict
     (with --gate: and the parity gate passed)
  1  only with --gate: the parity gate failed
  2  usage or set-up error: a bad flag, an unknown divergence, a port in use";

/// `cutover contract` imports or checks contracts.
const CONTRACT_EXIT_CODES: &str = "\
Exit codes:
  0  imported (or the directory loaded)
  2  usage or input error: unreadable or unreachable source, invalid document or schema,
     unresolvable or remote $ref, YAML/JSON syntax error (each named by file and location)";
/// `cutover load` decides PROCEED / ROLLBACK / INCONCLUSIVE.
const LOAD_EXIT_CODES: &str = "\
Exit codes:
  0  PROCEED: every trigger passed on every route (or a worker's part was written)
  1  ROLLBACK: a trigger fired with statistical confidence
  2  usage or input error: a bad flag or threshold, an unreachable target, partial
     results from different configurations
  3  INCONCLUSIVE: too little evidence to decide (run longer or with more users)";

/// `cutover reference` serves until stopped; it has no gate.
const REFERENCE_EXIT_CODES: &str = "\
Exit codes:
  0  stopped by Ctrl-C / SIGTERM, or the catalogue was printed
  2  usage or set-up error: a bad flag, an unknown divergence, a port in use";

/// `cutover proxy` serves until stopped; the gate is applied by `cutover report`.
const PROXY_EXIT_CODES: &str = "\
Exit codes:
  0  stopped by Ctrl-C / SIGTERM after printing its summary (gates are applied by
     `cutover report --from` over the recording)
  2  usage or input error: a bad flag, an invalid config (file:line:column, key), a port
     in use, a recording that cannot be opened";

/// Decide whether an extracted microservice is safe to take over from a monolith.
///
/// cutover mirrors staging traffic from the monolith to extracted services, compares the
/// answers structurally, validates them against contracts, runs load gates, and writes
/// reports for people (HTML), pull requests (Markdown), machines (JSON) and CI (JUnit).
const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  every step of every scenario passed (and, with --against, no step differs)
  1  a step failed: an assertion, a capture, no answer, or a difference between the targets
  2  usage, configuration or scenario error (file:line:column), a target that cannot be used";

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// More log output on stderr: -v adds what is in force (listeners, targets, routes,
    /// recording); -vv adds one line per request and per mirrored exchange. RUST_LOG
    /// overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr (results and the final verdict still go to stdout).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log line format on stderr: `text` for people, `json` (one object per line) for
    /// log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole job on this machine: reference system, proxy, workload, report.
    #[command(after_help = DEMO_EXIT_CODES)]
    Demo(demo::DemoArgs),
    /// Run the embedded reference system: a monolith and its extracted Auth and AI services.
    #[command(after_help = REFERENCE_EXIT_CODES)]
    Reference(reference::ReferenceArgs),
    /// Mirror traffic: answer clients from the primary, copy matching requests to the
    /// candidate (and secondary), record and compare the answers.
    #[command(after_help = PROXY_EXIT_CODES)]
    Proxy(proxy::ProxyArgs),
    /// Load the primary and its candidates side by side (Goose) and decide the rollback
    /// triggers with statistics: PROCEED, ROLLBACK or INCONCLUSIVE.
    #[command(after_help = LOAD_EXIT_CODES)]
    Load(load::LoadArgs),
    /// Analyse recordings and write report.json, summary.md, index.html and junit.xml.
    #[command(after_help = EXIT_CODES)]
    Report(report::ReportArgs),
    /// Run the scenarios against a target (and, with --against, compare every step with a
    /// second one): the CI contract gate.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(verify::VerifyArgs),
    /// Contracts: import an OpenAPI document (FastAPI's /openapi.json included) into
    /// contracts/, or check that a contracts directory loads.
    #[command(subcommand, after_help = CONTRACT_EXIT_CODES)]
    Contract(contract::ContractCommand),
}

/// Exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    GateFailed = 1,
    Usage = 2,
    /// The load stage could not decide.
    Inconclusive = 3,
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
    // Usage errors (bad flag, missing value) print clap's message and exit 2.
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet, cli.log_format);
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
            eprintln!("error: {}", one_line(&e.error));
            e.status.into()
        }
    }
}

/// An error and its causes on one line, a cause left out when the text before already
/// says it (an OS error quoted in the message and kept as the source, for instance).
fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(part.trim()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Run one parsed command line.
pub async fn run(cli: Cli) -> Result<Status, CliError> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Reference(args) => reference::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Contract(cmd) => contract::run(cmd).await,
        Command::Load(args) => load::run(args).await,
    }
}

/// The default filter for `-q` / (none) / `-v` / `-vv` / `-vvv`: other crates stay at info
/// below `-vvv` so that `-vv` shows cutover's own detail, not the HTTP stack's.
fn default_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "info,cutover=debug",
        (false, _) => "debug,cutover=trace",
    }
}

/// Logs go to stderr (stdout is for results); `RUST_LOG` overrides the level.
fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbose, quiet)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line_and_says_each_cause_once() {
        let os = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file (os error 2)");
        let e = anyhow::Error::new(std::io::Error::new(os.kind(), os.to_string()))
            .context(format!("x.toml: cannot read configuration: {os}"));
        assert_eq!(
            one_line(&e),
            "x.toml: cannot read configuration: No such file (os error 2)"
        );
        let e = anyhow::anyhow!("first line\nsecond line").context("outer");
        assert_eq!(one_line(&e), "outer: first line; second line");
    }

    #[test]
    fn quiet_keeps_errors_only_and_each_v_adds_detail() {
        assert_eq!(default_filter(0, true), "error");
        assert_eq!(default_filter(0, false), "warn");
        assert_eq!(default_filter(1, false), "info");
        assert_eq!(default_filter(2, false), "info,cutover=debug");
    }
}
