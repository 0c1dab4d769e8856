//! Why process statistics could not be read.

use std::path::PathBuf;

/// An error reading a process's statistics from `/proc`.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// No process has this pid (it exited and was reaped, or never existed).
    #[error("no process with pid {pid}")]
    NotFound {
        /// The pid asked about.
        pid: u32,
    },
    /// A `/proc` file exists but could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `/proc` file has an unexpected format.
    #[error("cannot parse {}: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong or missing.
        what: &'static str,
    },
}
