//! Reading recordings back (`cutover report --from`).
//!
//! [`Recording::open`] reads each file's first line: its [`Header`] when it has one (files
//! written before the format had headers have none and stay readable), and refuses a newer
//! format major version with an error naming the file. [`Recording::read`] then streams the
//! exchanges, in order, without holding them: a broken line (edited by hand, corrupted) is
//! skipped and named `file:line`; a last line cut mid-write (`kill -9`) is skipped and named
//! as truncated; the rest of the file still counts. A line recorded without its bodies
//! (it starts with `{"bodies":"omitted",`) is flagged so the caller does not compare it.
//! Header lines further down (a later run appending to the same file) are checked too.

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::header::{FORMAT_VERSION, HEADER_KEY, Header};
use crate::config::{Config, ConfigError};
use crate::exchange::Exchange;

/// Broken lines named in [`RecordingStats::bad_lines`]; the rest are only counted.
const NAMED_BAD_LINES: usize = 20;

/// What reading found besides exchanges.
#[derive(Debug, Default, Clone)]
pub struct RecordingStats {
    pub files: usize,
    pub exchanges: u64,
    /// `file:line: message` for lines that did not parse (first 20 kept).
    pub bad_lines: Vec<String>,
    pub bad_line_count: u64,
    /// Lines recorded without their bodies (counted as not compared).
    pub bodies_omitted: u64,
    /// Header lines read (one per file and per run that appended to it).
    pub headers: u64,
    /// `file:line` of last lines cut mid-write (also counted in `bad_line_count`).
    pub truncated: Vec<String>,
    /// Headers whose configuration digest differs from the first header's.
    pub other_configs: u64,
}

/// A recording that cannot be read on.
#[derive(Debug)]
pub enum ReadError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Written by a newer cutover whose format this build does not know.
    NewerVersion {
        path: PathBuf,
        line: u64,
        version: u64,
    },
    /// A header line that names the format but does not parse.
    BadHeader {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, source } => {
                write!(f, "{}: cannot read recording: {source}", path.display())
            }
            ReadError::NewerVersion {
                path,
                line,
                version,
            } => write!(
                f,
                "{}:{line}: recording format version {version} is newer than this cutover \
                 understands (version {FORMAT_VERSION}); re-analyse it with a newer cutover",
                path.display()
            ),
            ReadError::BadHeader {
                path,
                line,
                message,
            } => write!(
                f,
                "{}:{line}: unreadable recording header: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {}

impl ReadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::NewerVersion { path, .. }
            | ReadError::BadHeader { path, .. } => path,
        }
    }
}

/// Recording files opened for re-analysis.
#[derive(Debug, Clone)]
pub struct Recording {
    paths: Vec<PathBuf>,
    /// The first file's header (the run whose configuration re-analysis uses).
    pub header: Option<Header>,
    /// Each file's first header, in the order given.
    pub file_headers: Vec<Option<Header>>,
}

impl Recording {
    /// Open `paths` (in order) and read their headers.
    pub fn open(paths: &[PathBuf]) -> Result<Recording, ReadError> {
        let mut file_headers = Vec::with_capacity(paths.len());
        for path in paths {
            file_headers.push(first_header(path)?);
        }
        Ok(Recording {
            paths: paths.to_vec(),
            header: file_headers.first().cloned().flatten(),
            file_headers,
        })
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The configuration the first file's header carries, validated; `None` when the
    /// recording has no header or a header without configuration.
    pub fn config(&self) -> Result<Option<Config>, ConfigError> {
        let origin = self
            .paths
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match &self.header {
            Some(h) => h.config(&origin),
            None => Ok(None),
        }
    }

    /// Stream every exchange of every file, in order; `each` also learns whether the
    /// line's bodies were left out when it was recorded.
    pub fn read(&self, mut each: impl FnMut(Exchange, bool)) -> Result<RecordingStats, ReadError> {
        let mut stats = RecordingStats::default();
        let digest = self.header.as_ref().and_then(|h| h.config_digest.clone());
        for path in &self.paths {
            read_one(path, &mut stats, digest.as_deref(), &mut each)?;
            stats.files += 1;
        }
        Ok(stats)
    }
}

/// The configuration for re-analysing `recording`: `explicit` (`--config`) when given,
/// else the header's, else `cutover.toml` for recordings without a header. Returns notes
/// to show (a digest that differs from the recorded one).
pub fn resolve_config(
    recording: &Recording,
    explicit: Option<&Path>,
) -> anyhow::Result<(Config, Vec<String>)> {
    let mut notes = Vec::new();
    if let Some(path) = explicit {
        let config = Config::load(path)?;
        if let Some(recorded) = recording
            .header
            .as_ref()
            .and_then(|h| h.config_digest.as_deref())
        {
            let given = super::header::config_digest(&config);
            if given != recorded {
                notes.push(format!(
                    "{} differs from the configuration the recording was made with \
                     ({given} ≠ {recorded}); analysing with {}",
                    path.display(),
                    path.display()
                ));
            }
        }
        return Ok((config, notes));
    }
    if let Some(config) = recording.config()? {
        return Ok((config, notes));
    }
    let fallback = Path::new("cutover.toml");
    let first = recording
        .paths
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Config::load(fallback).map(|c| (c, notes)).map_err(|e| {
        anyhow::anyhow!(
            "{first}: the recording carries no configuration (made before recording format \
             {FORMAT_VERSION}); pass --config FILE ({e})"
        )
    })
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
    each: impl FnMut(Exchange, bool),
) -> Result<RecordingStats, (PathBuf, std::io::Error)> {
    let as_io = |e: ReadError| {
        let path = e.path().to_path_buf();
        match e {
            ReadError::Io { source, .. } => (path, source),
            other => (path, std::io::Error::other(other.to_string())),
        }
    };
    Recording::open(paths)
        .map_err(as_io)?
        .read(each)
        .map_err(as_io)
}

/// Is this line a header line? (Its first key names the format.)
fn is_header_line(line: &[u8]) -> bool {
    let t = line.trim_ascii_start();
    t.strip_prefix(b"{")
        .map(|r| r.trim_ascii_start())
        .is_some_and(|r| r.starts_with(format!("\"{HEADER_KEY}\"").as_bytes()))
}

/// Parse a header line, refusing a newer major version.
fn parse_header(path: &Path, line_no: u64, line: &[u8]) -> Result<Header, ReadError> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| ReadError::BadHeader {
            path: path.to_path_buf(),
            line: line_no,
            message: e.to_string(),
        })?;
    let version = value.get(HEADER_KEY).and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v > FORMAT_VERSION => Err(ReadError::NewerVersion {
            path: path.to_path_buf(),
            line: line_no,
            version: v,
        }),
        _ => serde_json::from_value(value).map_err(|e| ReadError::BadHeader {
            path: path.to_path_buf(),
            line: line_no,
            message: e.to_string(),
        }),
    }
}

/// The header on the file's first non-blank line, if any.
fn first_header(path: &Path) -> Result<Option<Header>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut line_no = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            return Ok(None);
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !is_header_line(&line) {
            return Ok(None);
        }
        // A header cut mid-write (the run was killed at once) is no header.
        if !line.ends_with(b"\n") && serde_json::from_slice::<serde_json::Value>(&line).is_err() {
            return Ok(None);
        }
        return parse_header(path, line_no, &line).map(Some);
    }
}

fn read_one(
    path: &Path,
    stats: &mut RecordingStats,
    digest: Option<&str>,
    each: &mut impl FnMut(Exchange, bool),
) -> Result<(), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            return Ok(());
        }
        line_no += 1;
        let complete = line.ends_with(b"\n");
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |stats: &mut RecordingStats, message: String| {
            stats.bad_line_count += 1;
            if stats.bad_lines.len() < NAMED_BAD_LINES {
                stats
                    .bad_lines
                    .push(format!("{}:{line_no}: {message}", path.display()));
            }
        };
        if is_header_line(&line) {
            match parse_header(path, line_no, &line) {
                Ok(h) => {
                    stats.headers += 1;
                    if digest.is_some() && h.config_digest.as_deref() != digest {
                        stats.other_configs += 1;
                    }
                }
                Err(e @ ReadError::NewerVersion { .. }) => return Err(e),
                Err(e) => bad(stats, e.to_string()),
            }
            continue;
        }
        match serde_json::from_slice::<Exchange>(&line) {
            Ok(ex) => {
                stats.exchanges += 1;
                let omitted = super::bodies_omitted(&line);
                if omitted {
                    stats.bodies_omitted += 1;
                }
                each(ex, omitted);
            }
            Err(_) if !complete => {
                // The writer was stopped mid-line (kill -9): the last line is cut short.
                let at = format!("{}:{line_no}", path.display());
                bad(
                    stats,
                    "truncated last line (the recording was cut mid-write)".into(),
                );
                stats.truncated.push(at);
            }
            Err(e) => bad(stats, e.to_string()),
        }
    }
}
