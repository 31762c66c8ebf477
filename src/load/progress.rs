//! Live progress on a terminal: once a second on stderr, one line per side with elapsed /
//! remaining time, request rate, errors and the running P95. Prints nothing when stderr is
//! not a terminal (logs and CI output stay clean).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::collect::{Collector, Side};

/// Start printing; stops when `stop` turns true. `None` when stderr is not a terminal.
pub fn start(
    collector: Arc<Collector>,
    duration: Duration,
    names: (String, String),
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let elapsed = collector.elapsed();
            let mut line = format!(
                "\r[{:>4}s / {:>4}s left]",
                elapsed.as_secs(),
                duration.saturating_sub(elapsed).as_secs()
            );
            for (side, name) in [(Side::Baseline, &names.0), (Side::Candidate, &names.1)] {
                let (_, _, p95, total, errors) = collector.live(side);
                let rps = total as f64 / elapsed.as_secs_f64().max(0.001);
                line.push_str(&format!(
                    "  {name}: {rps:>7.0} rps, {errors} errors, p95 {p95:.1} ms"
                ));
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{line}\x1b[K");
            let _ = err.flush();
        }
        let _ = writeln!(std::io::stderr());
    }))
}
