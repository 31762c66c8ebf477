//! The progress line: one more [`Sink`] on the analysis pipeline (it sees every analysed
//! exchange and the pipeline's 200 ms tick), rendering elapsed time, exchanges analysed,
//! the rate and the parity so far on one `\r`-updated stderr line.
//!
//! It exists only when stderr is a terminal ([`ProgressSink::for_stderr`]); piped or
//! redirected output gets nothing. It stays silent for the first second (short runs never
//! flicker), redraws at most four times a second, and clears its line when the pipeline
//! finishes, before anything else is printed. It never changes what is analysed or written.

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use crate::exchange::Exchange;
use crate::pipeline::{Analysis, Sink, Verdict};

/// Nothing is drawn before a run is this old.
pub const DELAY: Duration = Duration::from_secs(1);
/// At most one redraw per interval.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// Counts the pipeline's verdicts and draws them on a terminal line.
pub struct ProgressSink {
    out: Box<dyn Write + Send>,
    started: Instant,
    last_draw: Option<Instant>,
    analysed: u64,
    matched: u64,
    mismatched: u64,
}

impl ProgressSink {
    /// A progress line on stderr, or `None` when stderr is not a terminal.
    pub fn for_stderr() -> Option<ProgressSink> {
        std::io::stderr()
            .is_terminal()
            .then(|| ProgressSink::new(Box::new(std::io::stderr()), Instant::now()))
    }

    /// A progress line written to `out` (tests use a buffer), counting from `started`.
    pub fn new(out: Box<dyn Write + Send>, started: Instant) -> ProgressSink {
        ProgressSink {
            out,
            started,
            last_draw: None,
            analysed: 0,
            matched: 0,
            mismatched: 0,
        }
    }

    /// Count one analysed exchange.
    pub fn count(&mut self, verdict: Verdict) {
        self.analysed += 1;
        match verdict {
            Verdict::Match => self.matched += 1,
            Verdict::Mismatch => self.mismatched += 1,
            Verdict::NotCompared => {}
        }
    }

    /// Redraw the line if the run is past [`DELAY`] and the last draw older than
    /// [`INTERVAL`]; returns whether it drew.
    pub fn draw_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < DELAY
            || self
                .last_draw
                .is_some_and(|t| now.saturating_duration_since(t) < INTERVAL)
        {
            return false;
        }
        let line = format_line(elapsed, self.analysed, self.matched, self.mismatched);
        // `\r` back to the line's start, `ESC[K` clears what a longer line left behind.
        let _ = write!(self.out, "\r{line}\x1b[K");
        let _ = self.out.flush();
        self.last_draw = Some(now);
        true
    }
}

impl Sink for ProgressSink {
    fn accept(&mut self, _exchange: &Exchange, analysis: &Analysis) {
        self.count(analysis.verdict);
    }

    fn tick(&mut self) {
        self.draw_at(Instant::now());
    }

    fn finish(&mut self) {
        if self.last_draw.is_some() {
            let _ = write!(self.out, "\r\x1b[K");
            let _ = self.out.flush();
        }
    }
}

/// `"12.5 s · 4,120 exchanges analysed · 330/s · parity so far 97.40% (3,900 of 4,004)"`.
pub fn format_line(elapsed: Duration, analysed: u64, matched: u64, mismatched: u64) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        analysed as f64 / secs
    } else {
        0.0
    };
    let compared = matched + mismatched;
    let parity = if compared == 0 {
        "nothing compared yet".to_string()
    } else {
        format!(
            "parity so far {:.2}% ({} of {})",
            matched as f64 / compared as f64 * 100.0,
            thousands(matched),
            thousands(compared)
        )
    };
    format!(
        "{secs:.1} s · {} exchanges analysed · {}/s · {parity}",
        thousands(analysed),
        thousands(rate.round() as u64)
    )
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().map(|b| b.clone()).unwrap_or_default())
                .unwrap_or_default()
        }
    }

    #[test]
    fn the_line_names_elapsed_count_rate_and_parity() {
        let line = format_line(Duration::from_millis(12_500), 4_125, 3_900, 104);
        assert_eq!(
            line,
            "12.5 s · 4,125 exchanges analysed · 330/s · parity so far 97.40% (3,900 of 4,004)"
        );
        assert_eq!(
            format_line(Duration::ZERO, 0, 0, 0),
            "0.0 s · 0 exchanges analysed · 0/s · nothing compared yet"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn draws_after_the_delay_at_most_once_per_interval_and_clears_at_the_end() {
        let out = Shared::default();
        let start = Instant::now();
        let mut sink = ProgressSink::new(Box::new(out.clone()), start);
        for _ in 0..3 {
            sink.count(Verdict::Match);
        }
        sink.count(Verdict::Mismatch);
        sink.count(Verdict::NotCompared);
        assert!(
            !sink.draw_at(start + Duration::from_millis(500)),
            "too early"
        );
        assert_eq!(out.text(), "");
        assert!(sink.draw_at(start + Duration::from_secs(2)));
        assert!(
            !sink.draw_at(start + Duration::from_millis(2_100)),
            "too soon"
        );
        assert!(sink.draw_at(start + Duration::from_millis(2_300)));
        sink.finish();
        let text = out.text();
        assert!(
            text.starts_with("\r2.0 s · 5 exchanges analysed · 3/s"),
            "{text:?}"
        );
        assert!(
            text.contains("parity so far 75.00% (3 of 4)\x1b[K"),
            "{text:?}"
        );
        assert_eq!(text.matches('\r').count(), 3, "two draws and the clear");
        assert!(text.ends_with("\r\x1b[K"), "{text:?}");
    }

    #[test]
    fn a_run_that_never_drew_leaves_nothing() {
        let out = Shared::default();
        let mut sink = ProgressSink::new(Box::new(out.clone()), Instant::now());
        sink.count(Verdict::Match);
        sink.finish();
        assert_eq!(out.text(), "");
    }
}
