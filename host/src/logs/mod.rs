//! Log capture, storage, console multiplexing and queries.
//!
//! Every line a service prints goes through here exactly once: it is split from the raw
//! pipe bytes, numbered, written to the run's files, kept in a bounded in-memory window,
//! echoed to the console, and fanned out to followers. Queries read the window first and
//! fall back to the files, so memory stays flat however much a service prints, and no line
//! is ever lost.

use std::sync::Arc;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Bundle-wide sequence number: orders lines across streams and services.
    pub seq: u64,
    /// The service that printed it.
    pub service: Arc<str>,
    /// The stream it came from.
    pub stream: Stream,
    /// The text, without its line terminator (lossy UTF-8).
    pub text: String,
}
