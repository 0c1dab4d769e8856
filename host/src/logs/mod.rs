//! Log capture, storage, console multiplexing and queries.
//!
//! Every line a service prints goes through here exactly once: it is split from the raw
//! pipe bytes ([`LineSplitter`]), numbered and stored by the bundle's [`LogHub`] (files
//! plus a bounded in-memory window, see `store.rs` for the file format), echoed to the
//! console, and fanned out to followers. Queries ([`Logs`]) read the window first and fall
//! back to the files, so memory stays flat however much a service prints, and no line is
//! ever lost.
//!
//! The bundle's own messages ([`LogHub::message`], [`LogHub::warning`]) are stored as the
//! lines of a pseudo-service named [`BUNDLE_SERVICE`], so they are printed with the same
//! alignment, land in the run directory, and show up in bundle-wide queries in order.
//!
//! ```no_run
//! # async fn demo(dir: std::path::PathBuf) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use teamster::logs::{LogConfig, LogHub, Stream};
//!
//! let hub = LogHub::new(LogConfig::new(dir), &["web"])?;
//! let sink = hub.sink("web").expect("declared above");
//! let mut splitter = hub.splitter();
//! splitter.feed(b"listening on :8080\n", |line| {
//!     sink.push(Stream::Out, line);
//! });
//! let web = hub.service("web").expect("declared above");
//! let ready = web.out().until("listening", Duration::from_secs(5)).lines_back(100).await?;
//! assert_eq!(ready.text, "listening on :8080");
//! # Ok(()) }
//! ```

use std::sync::Arc;

mod console;
mod error;
mod hub;
mod line;
mod query;
mod store;

#[cfg(test)]
mod tests;

pub use console::ConsoleMode;
pub use error::{LogError, LogWaitError};
pub use hub::{LogConfig, LogHub, ServiceSink};
pub use line::{DEFAULT_MAX_LINE_LEN, LineSplitter};
pub use query::{
    Described, Follow, JsonLine, JsonPredicate, LinePredicate, Logs, Until, UntilJson, Wait,
    json_where, line_where,
};
pub use store::{WindowLimits, read_dir};

/// The name under which the bundle's own messages are stored and printed.
pub const BUNDLE_SERVICE: &str = "teamster";

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
