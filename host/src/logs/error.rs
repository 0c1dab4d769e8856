//! Errors of the log subsystem.
//!
//! Two families: [`LogError`] is about storage (creating, writing and reading the run's log
//! files), and [`LogWaitError`] is what a caller waiting for a line gets back. The wait error
//! carries the last lines of the view, because "timed out" alone sends the user digging
//! through files to learn what the service was doing instead.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::LogLine;

/// A failure to create, write or read a run's log files.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log directory could not be created.
    #[error("cannot create log directory {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The underlying failure.
        #[source]
        source: Arc<io::Error>,
    },
    /// Writing a service's log files failed; later lines of that service are kept in memory only.
    #[error("cannot write the log files of service `{service}`")]
    Write {
        /// The service.
        service: String,
        /// The underlying failure (the first one; later writes are not attempted).
        #[source]
        source: Arc<io::Error>,
    },
    /// Reading a service's log files back failed.
    #[error("cannot read the log file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: Arc<io::Error>,
    },
    /// A log file is shorter than its index says, or the index is torn.
    #[error("log file {} is truncated: the index refers to line {line} but the file has fewer lines", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The 0-based number of the missing line within that file.
        line: u64,
    },
    /// Two services share a name.
    #[error("service name `{name}` is used twice")]
    DuplicateService {
        /// The name.
        name: String,
    },
    /// A service name that cannot become a file name, or that is reserved.
    #[error("service name `{name}` cannot be used for logs: {reason}")]
    InvalidServiceName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

impl LogError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Read {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

/// Why waiting for a log line ended without a match.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LogWaitError {
    /// No line matched before the timeout.
    #[error("{}", timeout_message(.what, .view, .waited, .last_lines))]
    Timeout {
        /// What was awaited, e.g. `a line containing "ready"`.
        what: String,
        /// Which lines were looked at, e.g. `stdout of web`.
        view: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The last lines of the view when the wait gave up, oldest first.
        last_lines: Vec<LogLine>,
    },
    /// The log hub was closed (the bundle stopped) before a line matched.
    #[error("logs of {view} ended while waiting for {what}")]
    Closed {
        /// What was awaited.
        what: String,
        /// Which lines were looked at.
        view: String,
    },
    /// The history to search could not be read back.
    #[error("cannot read the logs of {view}")]
    Read {
        /// Which lines were looked at.
        view: String,
        /// The storage failure.
        #[source]
        source: LogError,
    },
}

/// The timeout message: what, how long, then the last lines, indented.
fn timeout_message(what: &str, view: &str, waited: &Duration, last_lines: &[LogLine]) -> String {
    let mut message = format!("timed out after {waited:?} waiting for {what} in {view}");
    if last_lines.is_empty() {
        message.push_str(" (it printed nothing)");
        return message;
    }
    message.push_str("; last lines:");
    for line in last_lines {
        let marker = match line.stream {
            super::Stream::Out => "",
            super::Stream::Err => "Err ",
        };
        // Writing to a String cannot fail.
        let _ = write!(message, "\n  [{marker}{}] {}", line.service, line.text);
    }
    message
}
