//! Reports: the [`Report`] model built from an aggregate, and its renderers — `report.json`
//! (machines), `summary.md` (PR comments), `index.html` (people), `junit.xml` (CI).
//!
//! Renderers format the model and nothing else; none of them sees exchanges or the network.

mod baseline;
pub mod contracts;
pub mod html;
pub mod junit;
pub mod markdown;
mod md_sections;
pub mod model;
pub mod order;
pub mod terminal;
pub mod translation;
pub mod view;

/// Reading recordings lives in [`crate::record`] (the one owner of the format).
pub use crate::record::{RecordingStats, read_recorded_lines, read_recordings};
pub use model::{Gate, Report, ReportContext, RunInfo};

use std::path::{Path, PathBuf};

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering {what}: {message}")]
    Render { what: &'static str, message: String },
}

/// The files written for one report.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub junit: PathBuf,
}

/// Write all four formats into `dir` (created if missing).
pub fn write_all(report: &Report, dir: &Path) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(report).map_err(|e| ReportError::Render {
        what: "report.json",
        message: e.to_string(),
    })?;
    let html = html::render(report).map_err(|e| ReportError::Render {
        what: "index.html",
        message: format!("{e:#}"),
    })?;
    let junit = junit::render(report).map_err(|e| ReportError::Render {
        what: "junit.xml",
        message: e.to_string(),
    })?;
    let written = Written {
        dir: dir.to_path_buf(),
        json: dir.join("report.json"),
        markdown: dir.join("summary.md"),
        html: dir.join("index.html"),
        junit: dir.join("junit.xml"),
    };
    for (path, text) in [
        (&written.json, json),
        (&written.markdown, markdown::render(report)),
        (&written.html, html),
        (&written.junit, junit),
    ] {
        write_atomically(path, text.as_bytes())?;
    }
    Ok(written)
}

/// Write to a temporary sibling, then rename: a reader never sees half a report.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let tmp = path.with_extension("tmp");
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The report's timestamp: now, to the second.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound as _;
    chrono::Utc::now().trunc_subsecs(0)
}

/// A run identifier: the current time and a random suffix, `20261121-233045-3f9a1c`
/// (unique even for two runs started in the same second; see [`crate::record::run_id`]).
pub fn run_id() -> String {
    crate::record::run_id()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_render;
#[cfg(test)]
mod tests_size;
