//! Recordings: the one owner of the recording format, writer and reader together.
//!
//! A recording is a JSON Lines file. Its first line is a [`Header`] (format version
//! [`FORMAT_VERSION`], run id, start time, tool version, and what re-analysis needs of the
//! configuration with its digest); every other line is exactly one redacted
//! [`Exchange`](crate::exchange::Exchange) (`serde_json::to_string`, nothing else on the
//! line), or the same with the marker key [`BODIES_OMITTED_MARKER`] first when its bodies
//! were left out. Secrets are replaced by markers that keep their kind and equality class
//! ([`crate::redact::marker`]), so re-analysis reaches the live verdict; bodies without
//! secrets keep their exact bytes.
//!
//! - [`sink`]: [`RecordingSink`], the writer (a pipeline sink; batched, fsync'd every tick,
//!   rotation into numbered segments, [`retention`]). The file is created on the first
//!   line, so a run that fails to start leaves nothing behind.
//! - [`reader`]: [`Recording::open`] / [`Recording::read`] for `cutover report --from`:
//!   old files without a header stay readable, a newer format version is refused naming
//!   the file, broken and truncated lines are skipped and named `file:line`;
//!   [`resolve_config`] picks the configuration (`--config`, else the header's).
//! - [`header`]: the header line, [`run_id`] (unique even for two runs in one second),
//!   [`analysis_config`] and its digest.
//!
//! Never analyses or formats anything; never on a request path.

pub mod header;
pub mod reader;
pub mod retention;
pub mod sink;

pub use crate::redact::{Redaction, redact};
pub use header::{FORMAT_VERSION, Header, analysis_config, config_digest, run_id};
pub use reader::{
    ReadError, Recording, RecordingStats, read_recorded_lines, read_recordings, resolve_config,
};
pub use sink::{
    BODIES_OMITTED_MARKER, MIN_ROTATE_BYTES, RecordingCounters, RecordingSink, bodies_omitted,
};

#[cfg(test)]
mod tests;
