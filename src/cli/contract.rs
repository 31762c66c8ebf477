//! `cutover contract import --from URL|FILE [--out DIR]` and `cutover contract check DIR`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::{CliError, Status};
use crate::contract::{Contracts, import};

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Fetch or read an OpenAPI 3.0/3.1 document (YAML or JSON), check that it loads as a
    /// contract, and write it into the contracts directory (listed in contracts.toml when
    /// the directory has one).
    Import(ImportArgs),
    /// Load and compile a contracts directory; print its operations.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An `http://` or `https://` URL (e.g. `http://127.0.0.1:8000/openapi.json`) or a file.
    #[arg(long, value_name = "URL|FILE")]
    pub from: String,
    /// The contracts directory to write into.
    #[arg(long, value_name = "DIR", default_value = "contracts")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The contracts directory.
    #[arg(value_name = "DIR", default_value = "contracts")]
    pub dir: PathBuf,
}

pub async fn run(cmd: ContractCommand) -> Result<Status, CliError> {
    match cmd {
        ContractCommand::Import(args) => {
            let text = read_source(&args.from).await.map_err(CliError::usage)?;
            let done = import::import(&text, &args.from, &args.out).map_err(CliError::usage)?;
            println!(
                "imported {} operations from {} into {}{}",
                done.operations,
                args.from,
                done.file.display(),
                if done.manifest_updated {
                    " (listed in contracts.toml)"
                } else {
                    ""
                }
            );
            Ok(Status::Ok)
        }
        ContractCommand::Check(args) => {
            let c = Contracts::load(&args.dir).map_err(CliError::usage)?;
            for (method, template) in c.templates() {
                println!("{method} {template}");
            }
            println!(
                "{} operations from {} files compile",
                c.len(),
                c.files().len()
            );
            Ok(Status::Ok)
        }
    }
}

/// The document's text: a GET for a URL (10 s, 32 MiB at most), else the file.
async fn read_source(from: &str) -> anyhow::Result<String> {
    if !(from.starts_with("http://") || from.starts_with("https://")) {
        return std::fs::read_to_string(from).with_context(|| format!("{from}: cannot read"));
    }
    if from.starts_with("https://") {
        // reqwest is built without TLS here; its own error would read "cannot fetch".
        anyhow::bail!(
            "{from}: fetching over https is not supported; download the document \
             (curl -o openapi.json {from}) and pass the file"
        );
    }
    const MAX: usize = 32 << 20;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build an HTTP client")?;
    let mut resp = client
        .get(from)
        .header(
            "accept",
            "application/json, application/yaml;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .with_context(|| format!("{from}: cannot fetch"))?;
    if !resp.status().is_success() {
        anyhow::bail!("{from}: answered {}", resp.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .with_context(|| format!("{from}: reading the answer"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX {
            anyhow::bail!("{from}: the document is larger than {MAX} bytes");
        }
    }
    String::from_utf8(body).with_context(|| format!("{from}: not UTF-8"))
}
