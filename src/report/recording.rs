//! Reading recordings (JSON Lines of exchanges) back for `cutover report`.
//!
//! A broken line (cut by a crash, edited by hand) is skipped and reported with its file and
//! line number; the rest of the file still counts. A line recorded without its bodies
//! (it starts with `{"bodies":"omitted",`) is flagged so the caller does not compare it.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::exchange::Exchange;

#[derive(Debug, Default, Clone)]
pub struct RecordingStats {
    pub files: usize,
    pub exchanges: u64,
    /// `file:line: message` for lines that did not parse (first 20 kept).
    pub bad_lines: Vec<String>,
    pub bad_line_count: u64,
    /// Lines recorded without their bodies (counted as not compared).
    pub bodies_omitted: u64,
}

/// Read every exchange of every file, in order, calling `each` for each one.
pub fn read_recordings(
    paths: &[PathBuf],
    mut each: impl FnMut(Exchange),
) -> Result<RecordingStats, (PathBuf, std::io::Error)> {
    read_recorded_lines(paths, |exchange, _| each(exchange))
}

/// Like [`read_recordings`], also telling whether the line's bodies were left out when it
/// was recorded (`[recording] bodies`); such an exchange cannot be compared.
pub fn read_recorded_lines(
    paths: &[PathBuf],
    mut each: impl FnMut(Exchange, bool),
) -> Result<RecordingStats, (PathBuf, std::io::Error)> {
    let mut stats = RecordingStats::default();
    for path in paths {
        read_one(path, &mut stats, &mut each).map_err(|e| (path.clone(), e))?;
        stats.files += 1;
    }
    Ok(stats)
}

fn read_one(
    path: &Path,
    stats: &mut RecordingStats,
    each: &mut impl FnMut(Exchange, bool),
) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let reader = std::io::BufReader::new(file);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<Exchange>(&line) {
            Ok(ex) => {
                stats.exchanges += 1;
                if crate::record::bodies_omitted(&line) {
                    stats.bodies_omitted += 1;
                    each(ex, true);
                } else {
                    each(ex, false);
                }
            }
            Err(e) => {
                stats.bad_line_count += 1;
                if stats.bad_lines.len() < 20 {
                    stats
                        .bad_lines
                        .push(format!("{}:{}: {e}", path.display(), i + 1));
                }
            }
        }
    }
    Ok(())
}
