//! The recording sink: analysed exchanges appended to a JSON Lines file, redacted first.
//!
//! Owns the recording file. Each line is exactly `serde_json::to_string(&exchange)` of the
//! redacted [`Exchange`] (nothing else on the line), so recordings can be replayed and
//! re-analysed. Lines are collected in memory and written whole, flushed and `sync_data`'d
//! at least every `fsync_interval_ms` (driven by the pipeline's `tick`), so after a crash or
//! `kill -9` the file holds every exchange up to the last sync and every line parses.
//!
//! Rotation: before a line would take the live file past `rotate_bytes` (at least
//! [`MIN_ROTATE_BYTES`], so a file always holds many ordinary lines) it is renamed to the
//! next numbered segment, `<stem>.1.<ext>`, `<stem>.2.<ext>`, ... (higher = newer), and a
//! new live file is started under the configured name. Retention ([`retention`]): the
//! oldest segments are deleted (and counted) so that the segments plus the live file stay
//! within `max_total_bytes` and `max_files`; the live file is never deleted.
//!
//! Bodies (`[recording] bodies`): `all` keeps them; `mismatches` keeps them only on lines
//! whose verdict is mismatch; `none` on no line. A line whose bodies were left out starts
//! with the marker key [`BODIES_OMITTED_MARKER`] (`{"bodies":"omitted",...}`) and is
//! re-analysed as not compared (`cutover report --from`). Runs on the pipeline thread,
//! never on a request path; it never analyses or formats anything.

pub mod retention;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::{RecordBodies, RecordingConfig};
use crate::exchange::{Body, Exchange, OutcomeResult};
use crate::pipeline::{Analysis, Sink, Verdict};
pub use crate::redact::{Redaction, redact};
use retention::Segments;

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
    file: File,
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
        let max_total = config.max_total_bytes.max(MIN_ROTATE_BYTES);
        let rotate_bytes = config.rotate_bytes.clamp(MIN_ROTATE_BYTES, max_total);
        let mut segments = Segments::scan(&path, max_total, config.max_files);
        for (p, e) in segments.enforce(rotate_bytes.max(size)) {
            tracing::error!("recording: cannot delete old segment {}: {e}", p.display());
        }
        Ok(RecordingSink {
            path,
            file,
            batch: Vec::with_capacity(BATCH_BYTES),
            size,
            rotate_bytes,
            bodies: config.bodies,
            segments,
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

    /// Close the live file as the next segment (the batch is written first) and apply
    /// the retention limit.
    fn rotate(&mut self) {
        self.sync();
        let segment = self.segments.next_path();
        if let Err(e) = std::fs::rename(&self.path, &segment) {
            return self.error("rotate", &e);
        }
        self.segments.rotated(self.size);
        match open_append(&self.path) {
            Ok(f) => {
                self.file = f;
                self.size = 0;
            }
            Err(e) => self.error("reopen", &e),
        }
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
        let before = self.batch.len();
        let written = if keep {
            serde_json::to_writer(&mut self.batch, &redact(exchange, &self.redaction))
        } else {
            // Bodies are dropped before redaction: nothing to parse or copy.
            let bare = without_bodies(exchange.clone());
            let line = OmittedLine {
                bodies: "omitted",
                exchange: &redact(&bare, &self.redaction),
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
        if self.size > 0 && self.size + line > self.rotate_bytes {
            // Rotate before this line: the live file never passes `rotate_bytes` (unless
            // one line alone is larger).
            let tail = self.batch.split_off(before);
            self.rotate();
            self.batch.extend_from_slice(&tail);
        }
        self.size += line;
        if self.last_sync.elapsed() >= self.fsync_interval {
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
        Analysis::new(crate::pipeline::RouteKey::new("GET", "x"))
    }

    fn with_body(id: u64, bytes: usize) -> Exchange {
        let mut ex = exchange(id);
        if let OutcomeResult::Response(r) = &mut ex.outcomes.primary.result {
            r.body = Body::from(vec![b'x'; bytes]);
        }
        ex
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        files
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
        // rotate_bytes is raised to MIN_ROTATE_BYTES: 6 lines of 300 kB make 2 files, not 6.
        for id in 0..6 {
            sink.accept(&with_body(id, 300 * 1024), &analysis());
        }
        sink.finish();
        let files = files(path.parent().expect("dir"));
        assert_eq!(files.len(), 2, "rotated: {files:?}");
        assert!(files.iter().any(|f| f.ends_with("rec.1.jsonl")));
        let mut ids = Vec::new();
        for f in &files {
            assert!(std::fs::metadata(f).expect("meta").len() <= MIN_ROTATE_BYTES);
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

    #[test]
    fn retention_keeps_the_total_under_max_total_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rec.jsonl");
        let cfg = RecordingConfig {
            rotate_bytes: MIN_ROTATE_BYTES,
            max_total_bytes: 3 * MIN_ROTATE_BYTES,
            ..RecordingConfig::default()
        };
        let mut sink = RecordingSink::open(&path, &cfg).expect("open");
        for id in 0..100 {
            sink.accept(&with_body(id, 100 * 1024), &analysis());
        }
        sink.finish();
        let files = files(dir.path());
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).expect("meta").len())
            .sum();
        assert!(total <= 3 * MIN_ROTATE_BYTES, "{total} bytes in {files:?}");
        assert!(path.exists(), "the live file is never deleted");
        assert!(sink.deleted_segments() >= 5, "{}", sink.deleted_segments());
        // The newest exchange is kept; numbering keeps growing.
        let live = std::fs::read_to_string(&path).expect("read");
        assert!(live.contains("\"id\":99"));
        let by_count = RecordingConfig {
            max_files: Some(2),
            ..cfg
        };
        let mut sink = RecordingSink::open(&path, &by_count).expect("reopen");
        sink.accept(&with_body(100, 10), &analysis());
        sink.finish();
        assert_eq!(files_len(dir.path()), 2);
    }

    fn files_len(dir: &Path) -> usize {
        files(dir).len()
    }

    #[test]
    fn mismatches_mode_keeps_bodies_only_on_mismatching_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rec.jsonl");
        let cfg = RecordingConfig {
            bodies: RecordBodies::Mismatches,
            ..RecordingConfig::default()
        };
        let mut sink = RecordingSink::open(&path, &cfg).expect("open");
        let mut mismatch = analysis();
        mismatch.verdict = Verdict::Mismatch;
        let mut matched = analysis();
        matched.verdict = Verdict::Match;
        sink.accept(&with_body(1, 100), &mismatch);
        sink.accept(&with_body(2, 100), &matched);
        sink.accept(&with_body(3, 100), &analysis());
        sink.finish();
        assert_eq!(sink.omitted(), 2);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(!bodies_omitted(lines[0].as_bytes()));
        assert!(lines[0].contains(&"x".repeat(100)));
        for line in &lines[1..] {
            assert!(bodies_omitted(line.as_bytes()), "{line}");
            assert!(
                !line.contains("xxxx") && !line.contains("hunter2"),
                "{line}"
            );
            let ex: Exchange = serde_json::from_str(line).expect("still an Exchange");
            assert!(ex.request.body.is_empty());
        }
    }
}
