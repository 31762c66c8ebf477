//! The recording sink: analysed exchanges appended to a JSON Lines file, redacted first.
//!
//! Owns the live recording file. The file is created (with its parent directories) when
//! the first line is written, never before: a run that fails to start leaves no file.
//! Each time the sink opens a file it writes the [`Header`] line first, so every file and
//! every rotated segment starts with one. Each further line is exactly
//! `serde_json::to_string(&exchange)` of the redacted [`Exchange`]. Lines are collected in
//! memory and written whole, flushed and `sync_data`'d at least every `fsync_interval_ms`
//! (driven by the pipeline's `tick`), so after a crash or `kill -9` the file holds every
//! exchange up to the last sync and every line but possibly the last parses.
//!
//! Rotation: before a line would take the live file past `rotate_bytes` (at least
//! [`MIN_ROTATE_BYTES`], so a file always holds many ordinary lines) it is renamed to the
//! next numbered segment, `<stem>.1.<ext>`, `<stem>.2.<ext>`, ... (higher = newer), and a
//! new live file is started under the configured name. Retention ([`super::retention`]):
//! the oldest segments are deleted (and counted) so that the segments plus the live file
//! stay within `max_total_bytes` and `max_files`; the live file is never deleted.
//!
//! Bodies (`[recording] bodies`): `all` keeps them; `mismatches` keeps them only on lines
//! whose verdict is mismatch; `none` on no line. A line whose bodies were left out starts
//! with the marker key [`BODIES_OMITTED_MARKER`] (`{"bodies":"omitted",...}`) and is
//! re-analysed as not compared (`cutover report --from`). Runs on the pipeline thread,
//! never on a request path; it never analyses or formats anything.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::header::{Header, run_id};
use super::retention::Segments;
use crate::config::{RecordBodies, RecordingConfig};
use crate::exchange::{Body, Exchange, OutcomeResult};
use crate::pipeline::{Analysis, Sink, Verdict};
use crate::redact::redact_in_place;
pub use crate::redact::{Redaction, redact};

/// Batches are written once they reach this size, whole lines only.
const BATCH_BYTES: usize = 64 * 1024;

/// What the sink did, shared with the thread that prints the summary.
#[derive(Debug, Default)]
pub struct RecordingCounters {
    /// Lines written without their bodies (`[recording] bodies`).
    pub bodies_omitted: AtomicU64,
    /// Rotated segments deleted by the retention limit.
    pub deleted_segments: AtomicU64,
}

/// The smallest rotation size honoured, whatever `rotate_bytes` says.
pub const MIN_ROTATE_BYTES: u64 = 1024 * 1024;

/// How a line without bodies begins: its first key.
pub const BODIES_OMITTED_MARKER: &[u8] = br#"{"bodies":"omitted","#;

/// A recorded line whose bodies were left out: the marker key first, then the exchange.
#[derive(serde::Serialize)]
struct OmittedLine<'a> {
    bodies: &'static str,
    #[serde(flatten)]
    exchange: &'a Exchange,
}

/// Whether a recorded line carries [`BODIES_OMITTED_MARKER`].
pub fn bodies_omitted(line: &[u8]) -> bool {
    line.trim_ascii_start().starts_with(BODIES_OMITTED_MARKER)
}

/// The exchange without its bodies (request and every outcome).
fn without_bodies(mut exchange: Exchange) -> Exchange {
    exchange.request.body = Body::default();
    let o = &mut exchange.outcomes;
    for outcome in [
        Some(&mut o.primary),
        o.secondary.as_mut(),
        o.candidate.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        if let OutcomeResult::Response(r) = &mut outcome.result {
            r.body = Body::default();
        }
    }
    exchange
}

/// Appends redacted exchanges to a JSON Lines file.
pub struct RecordingSink {
    path: PathBuf,
    /// Opened on the first line.
    file: Option<File>,
    header: Header,
    /// Old segments were checked against the retention limit (on the first open).
    retention_checked: bool,
    /// The header line is in the batch or the live file.
    header_queued: bool,
    /// Length of the header line of the live file.
    header_bytes: u64,
    batch: Vec<u8>,
    /// Bytes in the live file, including the unwritten batch.
    size: u64,
    rotate_bytes: u64,
    bodies: RecordBodies,
    segments: Segments,
    /// Lines written without their bodies.
    omitted: u64,
    counters: Arc<RecordingCounters>,
    fsync_interval: Duration,
    last_sync: Instant,
    unsynced: bool,
    redaction: Redaction,
    written: u64,
    errors: u64,
}

impl RecordingSink {
    /// A sink that appends to the recording at `path`. Nothing is created until the first
    /// line is written (parent directories included).
    pub fn open(
        path: impl Into<PathBuf>,
        config: &RecordingConfig,
    ) -> std::io::Result<RecordingSink> {
        let path = path.into();
        if path.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                format!("{} is a directory", path.display()),
            ));
        }
        // Fail at start-up where that creates nothing: an existing file must open for
        // appending, and the nearest existing ancestor must be a directory.
        if path.exists() {
            OpenOptions::new().append(true).open(&path)?;
        } else if let Some(ancestor) = path.ancestors().skip(1).find(|a| a.exists()) {
            if !ancestor.is_dir() && !ancestor.as_os_str().is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", ancestor.display()),
                ));
            }
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let max_total = config.max_total_bytes.max(MIN_ROTATE_BYTES);
        let rotate_bytes = config.rotate_bytes.clamp(MIN_ROTATE_BYTES, max_total);
        tracing::info!(
            "recording to {}: rotate at {rotate_bytes} bytes, retention {} bytes and {} files, bodies {}",
            path.display(),
            max_total,
            config
                .max_files
                .map_or_else(|| "unlimited".to_string(), |n| n.to_string()),
            format!("{:?}", config.bodies).to_lowercase()
        );
        Ok(RecordingSink {
            segments: Segments::scan(&path, max_total, config.max_files),
            path,
            file: None,
            header: Header::new(&run_id()),
            retention_checked: false,
            header_queued: false,
            header_bytes: 0,
            batch: Vec::with_capacity(BATCH_BYTES),
            size,
            rotate_bytes,
            bodies: config.bodies,
            omitted: 0,
            counters: Arc::default(),
            fsync_interval: Duration::from_millis(config.fsync_interval_ms),
            last_sync: Instant::now(),
            unsynced: false,
            redaction: Redaction::from_config(config),
            written: 0,
            errors: 0,
        })
    }

    /// Write this header (run id, configuration) at the start of every file.
    pub fn with_header(mut self, header: Header) -> RecordingSink {
        self.header = header;
        self
    }

    /// The header written at the start of every file.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Use these redaction rules (e.g. `Redaction::for_config` with `[redaction]`)
    /// instead of the `[recording]` ones alone.
    pub fn with_redaction(mut self, redaction: Redaction) -> RecordingSink {
        self.redaction = redaction;
        self
    }

    /// `reports/recording-<UTC timestamp>-<random>.jsonl`: two runs started in the same
    /// second get different files.
    pub fn default_path(now: chrono::DateTime<chrono::Utc>) -> PathBuf {
        let id = run_id();
        let suffix = id.rsplit('-').next().unwrap_or_default();
        PathBuf::from("reports").join(format!(
            "recording-{}-{suffix}.jsonl",
            now.format("%Y%m%dT%H%M%SZ")
        ))
    }

    /// `reports/recording-<run id>.jsonl`.
    pub fn default_path_for(run_id: &str) -> PathBuf {
        PathBuf::from("reports").join(format!("recording-{run_id}.jsonl"))
    }

    /// Queue the header line ahead of the first line of each file this sink writes.
    fn queue_header(&mut self) {
        if !self.header_queued {
            let before = self.batch.len();
            self.batch.extend_from_slice(&self.header.to_line());
            self.batch.push(b'\n');
            self.header_bytes = (self.batch.len() - before) as u64;
            self.size += self.header_bytes;
            self.header_queued = true;
        }
    }

    /// Open the live file (creating it and its directories); on the first use also apply
    /// the retention limit to old segments.
    fn ensure_open(&mut self) -> Option<&mut File> {
        if self.file.is_none() {
            let opened = self
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| open_append(&self.path));
            match opened {
                Ok(f) => {
                    if !self.retention_checked {
                        self.retention_checked = true;
                        for (p, e) in self.segments.enforce(self.rotate_bytes.max(self.size)) {
                            tracing::error!(
                                "recording: cannot delete old segment {}: {e}",
                                p.display()
                            );
                        }
                    }
                    self.file = Some(f);
                }
                Err(e) => {
                    self.error("open", &e);
                    return None;
                }
            }
        }
        self.file.as_mut()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Exchanges accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Lines written without their bodies (`[recording] bodies`).
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    /// Rotated segments deleted by the retention limit so far.
    pub fn deleted_segments(&self) -> u64 {
        self.segments.deleted()
    }

    /// Counters readable from other threads while the sink runs in the pipeline.
    pub fn counters(&self) -> Arc<RecordingCounters> {
        Arc::clone(&self.counters)
    }

    fn write_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        match self.ensure_open() {
            Some(file) => match file.write_all(&batch) {
                Ok(()) => self.unsynced = true,
                Err(e) => self.error("write", &e),
            },
            // The lines (and the header with them) are lost; the next file starts with one.
            None => self.header_queued = false,
        }
        self.batch = batch;
        self.batch.clear();
    }

    fn sync(&mut self) {
        self.write_batch();
        if self.unsynced {
            if let Some(Err(e)) = self.file.as_ref().map(File::sync_data) {
                self.error("sync", &e);
            }
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
    }

    /// Close the live file as the next segment (the batch is written first) and apply
    /// the retention limit.
    fn rotate(&mut self) {
        self.sync();
        let segment = self.segments.next_path();
        if let Err(e) = std::fs::rename(&self.path, &segment) {
            return self.error("rotate", &e);
        }
        self.segments.rotated(self.size);
        // The next line opens a new live file, header first.
        self.file = None;
        self.size = 0;
        self.header_queued = false;
        for (path, e) in self.segments.enforce(self.rotate_bytes) {
            tracing::error!(
                "recording: cannot delete old segment {}: {e}",
                path.display()
            );
        }
        self.counters
            .deleted_segments
            .store(self.segments.deleted(), Ordering::Relaxed);
    }

    /// Redact `exchange` (bodies already dropped unless `keep`) and append its line.
    fn record(&mut self, mut exchange: Exchange, keep: bool) {
        redact_in_place(&mut exchange, &self.redaction);
        self.queue_header();
        let before = self.batch.len();
        let written = if keep {
            serde_json::to_writer(&mut self.batch, &exchange)
        } else {
            let line = OmittedLine {
                bodies: "omitted",
                exchange: &exchange,
            };
            serde_json::to_writer(&mut self.batch, &line)
        };
        if written.is_err() {
            self.batch.truncate(before);
            return;
        }
        self.batch.push(b'\n');
        let line = (self.batch.len() - before) as u64;
        if !keep {
            self.omitted += 1;
            self.counters.bodies_omitted.fetch_add(1, Ordering::Relaxed);
        }
        self.written += 1;
        if self.size > self.header_bytes && self.size + line > self.rotate_bytes {
            // Rotate before this line: the live file never passes `rotate_bytes` (unless
            // one line alone is larger).
            let tail = self.batch.split_off(before);
            self.rotate();
            self.queue_header();
            self.batch.extend_from_slice(&tail);
        }
        self.size += line;
        if self.last_sync.elapsed() >= self.fsync_interval {
            self.sync();
        } else if self.batch.len() >= BATCH_BYTES {
            self.write_batch();
        }
    }

    fn keeps_bodies(&self, analysis: &Analysis) -> bool {
        match self.bodies {
            RecordBodies::All => true,
            RecordBodies::Mismatches => analysis.verdict == Verdict::Mismatch,
            RecordBodies::None => false,
        }
    }

    fn error(&mut self, what: &str, e: &std::io::Error) {
        self.errors += 1;
        if self.errors <= 5 {
            tracing::error!("recording {}: {what} failed: {e}", self.path.display());
        }
    }
}

impl Sink for RecordingSink {
    fn accept(&mut self, exchange: &Exchange, analysis: &Analysis) {
        let keep = self.keeps_bodies(analysis);
        let copy = if keep {
            exchange.clone()
        } else {
            // Bodies are dropped before redaction: nothing to parse or copy.
            without_bodies(exchange.clone())
        };
        self.record(copy, keep);
    }

    fn accept_owned(&mut self, exchange: Box<Exchange>, analysis: &Analysis) {
        let keep = self.keeps_bodies(analysis);
        let exchange = if keep {
            *exchange
        } else {
            without_bodies(*exchange)
        };
        self.record(exchange, keep);
    }

    fn tick(&mut self) {
        if !self.batch.is_empty() || self.unsynced {
            self.sync();
        }
    }

    fn finish(&mut self) {
        self.sync();
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}
