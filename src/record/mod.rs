//! The recording sink: analysed exchanges appended to a JSON Lines file, redacted first.
//!
//! Owns the recording file. Each line is exactly `serde_json::to_string(&exchange)` of the
//! redacted [`Exchange`] (nothing else on the line), so recordings can be replayed and
//! re-analysed. Lines are collected in memory and written whole, flushed and `sync_data`'d
//! at least every `fsync_interval_ms` (driven by the pipeline's `tick`), so after a crash or
//! `kill -9` the file holds every exchange up to the last sync and every line parses.
//!
//! Rotation: when the live file passes `rotate_bytes` it is renamed to the next free
//! numbered segment, `<stem>.1.<ext>`, `<stem>.2.<ext>`, ... (higher = newer), and a new
//! live file is started under the configured name. Runs on the pipeline thread, never on a
//! request path; it never analyses or formats anything.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::RecordingConfig;
use crate::exchange::Exchange;
use crate::pipeline::{Analysis, Sink};
pub use crate::redact::{Redaction, redact};

/// Batches are written once they reach this size, whole lines only.
const BATCH_BYTES: usize = 64 * 1024;

/// Appends redacted exchanges to a JSON Lines file.
pub struct RecordingSink {
    path: PathBuf,
    file: File,
    batch: Vec<u8>,
    /// Bytes in the live file, including the unwritten batch.
    size: u64,
    rotate_bytes: u64,
    fsync_interval: Duration,
    last_sync: Instant,
    unsynced: bool,
    redaction: Redaction,
    written: u64,
    errors: u64,
}

impl RecordingSink {
    /// Open (append to) the recording at `path`, creating parent directories.
    pub fn open(
        path: impl Into<PathBuf>,
        config: &RecordingConfig,
    ) -> std::io::Result<RecordingSink> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RecordingSink {
            path,
            file,
            batch: Vec::with_capacity(BATCH_BYTES),
            size,
            rotate_bytes: config.rotate_bytes.max(1),
            fsync_interval: Duration::from_millis(config.fsync_interval_ms),
            last_sync: Instant::now(),
            unsynced: false,
            redaction: Redaction::from_config(config),
            written: 0,
            errors: 0,
        })
    }

    /// Use these redaction rules (e.g. `Redaction::for_config` with `[redaction]`)
    /// instead of the `[recording]` ones alone.
    pub fn with_redaction(mut self, redaction: Redaction) -> RecordingSink {
        self.redaction = redaction;
        self
    }

    /// `reports/recording-<UTC timestamp>.jsonl`.
    pub fn default_path(now: chrono::DateTime<chrono::Utc>) -> PathBuf {
        PathBuf::from("reports").join(format!("recording-{}.jsonl", now.format("%Y%m%dT%H%M%SZ")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Exchanges accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn write_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        match self.file.write_all(&self.batch) {
            Ok(()) => self.unsynced = true,
            Err(e) => self.error("write", &e),
        }
        self.batch.clear();
    }

    fn sync(&mut self) {
        self.write_batch();
        if self.unsynced {
            if let Err(e) = self.file.sync_data() {
                self.error("sync", &e);
            }
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
    }

    fn rotate(&mut self) {
        self.sync();
        let segment = next_segment(&self.path);
        if let Err(e) = std::fs::rename(&self.path, &segment) {
            return self.error("rotate", &e);
        }
        match open_append(&self.path) {
            Ok(f) => {
                self.file = f;
                self.size = 0;
            }
            Err(e) => self.error("reopen", &e),
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
    fn accept(&mut self, exchange: &Exchange, _analysis: &Analysis) {
        let redacted = redact(exchange, &self.redaction);
        let before = self.batch.len();
        if serde_json::to_writer(&mut self.batch, &redacted).is_err() {
            self.batch.truncate(before);
            return;
        }
        self.batch.push(b'\n');
        self.size += (self.batch.len() - before) as u64;
        self.written += 1;
        if self.size >= self.rotate_bytes {
            self.rotate();
        } else if self.last_sync.elapsed() >= self.fsync_interval {
            self.sync();
        } else if self.batch.len() >= BATCH_BYTES {
            self.write_batch();
        }
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

/// `dir/name.jsonl` → the first of `dir/name.1.jsonl`, `dir/name.2.jsonl`, ... that is free.
fn next_segment(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
    (1u32..)
        .map(|n| {
            let name = match &ext {
                Some(ext) => format!("{stem}.{n}.{ext}"),
                None => format!("{stem}.{n}"),
            };
            path.with_file_name(name)
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_extension("overflow.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::*;
    use crate::pipeline::Verdict;

    fn exchange(id: u64) -> Exchange {
        Exchange {
            id,
            at: chrono::Utc::now(),
            route: "POST /auth/login".into(),
            request: RecordedRequest {
                method: "POST".into(),
                uri: "/auth/login".into(),
                headers: vec![("authorization".into(), "Bearer abc.def".into())],
                body: Body::from("{\"username\":\"a\",\"password\":\"hunter2\"}"),
                truncated: false,
            },
            outcomes: Outcomes {
                primary: Outcome {
                    target: "monolith".into(),
                    result: OutcomeResult::Response(RecordedResponse {
                        status: 200,
                        headers: vec![],
                        body: Body::from("{}"),
                        truncated: false,
                        ttfb_us: 1,
                        total_us: 2,
                    }),
                },
                secondary: None,
                candidate: None,
            },
        }
    }

    fn analysis() -> Analysis {
        Analysis {
            route: "x".into(),
            verdict: Verdict::NotCompared,
            differences: vec![],
            suppressed: vec![],
            noise: vec![],
        }
    }

    #[test]
    fn writes_redacted_lines_and_rotates_into_numbered_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("rec.jsonl");
        let cfg = RecordingConfig {
            rotate_bytes: 600,
            ..RecordingConfig::default()
        };
        let mut sink = RecordingSink::open(&path, &cfg).expect("open");
        for id in 0..6 {
            sink.accept(&exchange(id), &analysis());
        }
        sink.finish();
        let mut files: Vec<PathBuf> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        assert!(files.len() >= 2, "rotated: {files:?}");
        assert!(files.iter().any(|f| f.ends_with("rec.1.jsonl")));
        let mut ids = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read");
            assert!(!text.contains("hunter2") && !text.contains("abc.def"));
            for line in text.lines() {
                let ex: Exchange = serde_json::from_str(line).expect("every line is an Exchange");
                ids.push(ex.id);
            }
        }
        ids.sort();
        assert_eq!(ids, (0..6).collect::<Vec<_>>());
    }
}
