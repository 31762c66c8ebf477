//! The files of a load run: the report folder written atomically (each file to a temporary
//! name, then renamed; the folder created only when there is something to write) and the
//! merge of `--worker i/N` parts read from disk. No measurements, no verdict logic.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::collect::{self, LoadResult};
use super::{LoadOutcome, LoadReport, model, render};

/// Merge partial results (`--worker i/N` files) into one verdict written to `out`.
pub fn merge_files(paths: &[PathBuf], out: Option<PathBuf>) -> anyhow::Result<LoadOutcome> {
    let mut parts = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("{}: cannot read the partial result", p.display()))?;
        let result: LoadResult = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: not a load result: {e}",
                p.display(),
                e.line(),
                e.column()
            )
        })?;
        parts.push((p.display().to_string(), result));
    }
    let merged = collect::merge(&parts)?;
    let triggers = merged.meta.triggers.to_triggers();
    let report = model::build(&merged, &triggers, parts.len());
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&merged.meta.run_id));
    let files = write_reports(&dir, &report, &merged)?;
    Ok(LoadOutcome {
        report: Some(report),
        dir,
        files,
    })
}

pub(super) fn write_reports(
    dir: &Path,
    report: &LoadReport,
    result: &LoadResult,
) -> anyhow::Result<Vec<PathBuf>> {
    let json = serde_json::to_string_pretty(report).context("serialising load.json")?;
    let raw = serde_json::to_string(result).context("serialising load-result.json")?;
    let junit = render::junit(report).context("rendering junit.xml")?;
    let texts = [
        ("load.json", json),
        ("load.md", render::markdown(report)),
        ("load.html", render::html(report)),
        ("junit.xml", junit),
        ("load-result.json", raw),
    ];
    create_dir(dir)?;
    let mut files = Vec::new();
    for (name, text) in texts {
        let path = dir.join(name);
        write_atomically(&path, text.as_bytes())?;
        files.push(path);
    }
    Ok(files)
}

pub(super) fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the report folder", dir.display()))
}

pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

pub(super) fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp)?;
    std::fs::rename(&tmp, to)?;
    std::fs::remove_file(from)
}
