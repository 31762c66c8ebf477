//! `cutover contract import`: an OpenAPI document (FastAPI's `/openapi.json` included) checked
//! by loading it as a contract, then written into a contracts directory as JSON.
//!
//! Owns the written file's name and the manifest entry it adds. Never fetches (the command
//! line fetches a URL through the upstream client and hands the text here).

use std::path::{Path, PathBuf};

use super::{ContractError, Contracts, MANIFEST, load, openapi};

/// What an import wrote.
#[derive(Debug)]
pub struct Imported {
    pub file: PathBuf,
    pub operations: usize,
    /// Whether `contracts.toml` got a new `[[openapi]]` entry.
    pub manifest_updated: bool,
}

/// A file name for a document imported from `source` (a URL or a path): its title, else the
/// source's last segment, made safe; always ending in `.openapi.json`.
pub fn file_name(doc: &serde_json::Value, source: &str) -> String {
    let title = doc
        .pointer("/info/title")
        .and_then(|t| t.as_str())
        .filter(|t| !t.trim().is_empty());
    let base = match title {
        Some(t) => t.to_string(),
        None => source
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("imported")
            .to_string(),
    };
    let mut slug: String = base
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    for suffix in [
        ".json", ".yaml", ".yml", "-json", "-yaml", "-yml", "-openapi",
    ] {
        if let Some(s) = slug.strip_suffix(suffix) {
            slug = s.to_string();
        }
    }
    let slug = slug.trim_matches('-').to_string();
    let slug = if slug.is_empty() {
        "imported".into()
    } else {
        slug
    };
    format!("{slug}.openapi.json")
}

/// Check `text` (YAML or JSON, read from `source`) loads as a contract, then write it to
/// `out_dir` as pretty JSON and list it in the manifest when there is one.
pub fn import(text: &str, source: &str, out_dir: &Path) -> Result<Imported, ContractError> {
    let doc = load::parse_document(Path::new(source), text)?;
    let ops = openapi::operations(Path::new(source), &doc, "")?;
    let name = file_name(&doc, source);
    let file = out_dir.join(&name);
    let io = |file: &Path| {
        let file = file.to_path_buf();
        move |source| ContractError::Io { file, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let mut pretty = serde_json::to_string_pretty(&doc).unwrap_or_default();
    pretty.push('\n');
    std::fs::write(&file, pretty).map_err(io(&file))?;
    let manifest = out_dir.join(MANIFEST);
    let mut manifest_updated = false;
    if manifest.exists() {
        let mut text = std::fs::read_to_string(&manifest).map_err(io(&manifest))?;
        let entry = format!("file = \"{name}\"");
        if !text.contains(&entry) {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("\n[[openapi]]\n{entry}\n"));
            std::fs::write(&manifest, text).map_err(io(&manifest))?;
            manifest_updated = true;
        }
    }
    // The directory as a whole must still load (no duplicate operations).
    Contracts::load(out_dir)?;
    Ok(Imported {
        file,
        operations: ops.len(),
        manifest_updated,
    })
}
