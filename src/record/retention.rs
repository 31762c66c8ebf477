//! Rotated recording segments and their retention.
//!
//! Owns the numbered segments of one recording (`<stem>.1.<ext>`, `<stem>.2.<ext>`, ...,
//! higher = newer): which exist (found once when the recording opens, then tracked), the
//! next free number (always above every existing one, so deleting old segments never
//! makes a new one look older), and deleting the oldest ones so that the segments plus a
//! live file of at most `rotate_bytes` stay within `[recording] max_total_bytes` and
//! `max_files`. Never touches the live file. Never decides when to rotate.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// One rotated segment.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
}

/// The rotated segments of one recording, oldest first.
#[derive(Debug)]
pub struct Segments {
    live: PathBuf,
    list: VecDeque<Segment>,
    next: u64,
    total: u64,
    max_total_bytes: u64,
    /// Files allowed besides the live one (`max_files - 1`); `None`: unlimited.
    max_segments: Option<u64>,
    deleted: u64,
}

impl Segments {
    /// The segments already next to `live` (from earlier runs appending to it).
    pub fn scan(live: &Path, max_total_bytes: u64, max_files: Option<u64>) -> Segments {
        let (stem, ext) = stem_ext(live);
        let mut found: Vec<(u64, Segment)> = Vec::new();
        let dir = live
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(n) = segment_number(&name.to_string_lossy(), &stem, ext.as_deref()) else {
                    continue;
                };
                let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                found.push((
                    n,
                    Segment {
                        path: live.with_file_name(name),
                        bytes,
                    },
                ));
            }
        }
        found.sort_by_key(|(n, _)| *n);
        let next = found.last().map_or(1, |(n, _)| n + 1);
        let total = found.iter().map(|(_, s)| s.bytes).sum();
        Segments {
            live: live.to_path_buf(),
            list: found.into_iter().map(|(_, s)| s).collect(),
            next,
            total,
            max_total_bytes,
            max_segments: max_files.map(|m| m.saturating_sub(1)),
            deleted: 0,
        }
    }

    /// The path the live file is renamed to at the next rotation.
    pub fn next_path(&self) -> PathBuf {
        let (stem, ext) = stem_ext(&self.live);
        let name = match ext {
            Some(ext) => format!("{stem}.{}.{ext}", self.next),
            None => format!("{stem}.{}", self.next),
        };
        self.live.with_file_name(name)
    }

    /// The live file was renamed to [`Segments::next_path`] holding `bytes`.
    pub fn rotated(&mut self, bytes: u64) {
        let path = self.next_path();
        self.next += 1;
        self.total += bytes;
        self.list.push_back(Segment { path, bytes });
    }

    /// Delete the oldest segments until they and a live file of `live_max` bytes fit.
    /// Returns the errors met (the segment stays counted and is retried next time).
    pub fn enforce(&mut self, live_max: u64) -> Vec<(PathBuf, std::io::Error)> {
        let mut errors = Vec::new();
        while self.over(live_max) {
            let Some(oldest) = self.list.pop_front() else {
                break;
            };
            match std::fs::remove_file(&oldest.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    errors.push((oldest.path.clone(), e));
                    self.list.push_front(oldest);
                    break;
                }
            }
            self.total -= oldest.bytes;
            self.deleted += 1;
        }
        errors
    }

    fn over(&self, live_max: u64) -> bool {
        self.total.saturating_add(live_max) > self.max_total_bytes
            || self
                .max_segments
                .is_some_and(|m| self.list.len() as u64 > m)
    }

    /// Segments deleted so far.
    pub fn deleted(&self) -> u64 {
        self.deleted
    }

    /// Bytes in the segments kept.
    pub fn total(&self) -> u64 {
        self.total
    }
}

fn stem_ext(path: &Path) -> (String, Option<String>) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
    (stem, ext)
}

/// `rec.12.jsonl` → 12 for stem `rec`, extension `jsonl`.
fn segment_number(name: &str, stem: &str, ext: Option<&str>) -> Option<u64> {
    let rest = name.strip_prefix(stem)?.strip_prefix('.')?;
    let digits = match ext {
        Some(ext) => rest.strip_suffix(ext)?.strip_suffix('.')?,
        None => rest,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_continue_above_existing_segments_and_oldest_go_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("rec.jsonl");
        for n in [2, 7] {
            std::fs::write(dir.path().join(format!("rec.{n}.jsonl")), [b'x'; 100]).expect("write");
        }
        std::fs::write(dir.path().join("rec.x.jsonl"), b"not a segment").expect("write");
        let mut s = Segments::scan(&live, 250, None);
        assert_eq!(s.total(), 200);
        assert!(s.next_path().ends_with("rec.8.jsonl"));
        std::fs::write(s.next_path(), [b'y'; 100]).expect("write");
        s.rotated(100);
        assert!(s.enforce(50).is_empty());
        // 300 + 50 > 250: rec.2 goes; 200 + 50 fits.
        assert!(!dir.path().join("rec.2.jsonl").exists());
        assert!(dir.path().join("rec.7.jsonl").exists());
        assert!(dir.path().join("rec.8.jsonl").exists());
        assert!(dir.path().join("rec.x.jsonl").exists());
        assert_eq!(s.deleted(), 1);
        let mut by_files = Segments::scan(&live, u64::MAX, Some(2));
        by_files.enforce(0);
        assert!(!dir.path().join("rec.7.jsonl").exists());
        assert!(dir.path().join("rec.8.jsonl").exists());
    }
}
