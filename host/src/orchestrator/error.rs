//! Why a bundle did not start, with everything needed to act on it.
//!
//! A start failure names the service, how it ended, what readiness it was waiting for, how
//! long it had been, and its last log lines, because "timed out" alone sends users digging
//! through files.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::logs::{LogLine, Stream};

/// How many log lines a failure report shows.
pub const REPORT_LINES: usize = 20;

/// The details of one service that did not become ready.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// The service.
    pub service: String,
    /// What happened (`exited with code 1`, `was killed by SIGKILL`, `failed: …`).
    pub what: String,
    /// The readiness conditions it was waiting for.
    pub waiting_for: Vec<String>,
    /// Time since it started (None if it never started).
    pub elapsed: Option<Duration>,
    /// Its last log lines.
    pub last_lines: Vec<LogLine>,
    /// What may explain it, when teamster can tell.
    pub hint: Option<String>,
    /// How its main process ended, if it did.
    pub exit: Option<crate::service::ExitStatus>,
}

impl fmt::Display for ServiceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service `{}` {}", self.service, self.what)?;
        if let Some(e) = self.elapsed {
            write!(f, " after {:.2}s", e.as_secs_f64())?;
        }
        if !self.waiting_for.is_empty() {
            write!(f, "\n  waiting for: {}", self.waiting_for.join(", "))?;
        }
        if self.last_lines.is_empty() {
            write!(f, "\n  it printed nothing")?;
        } else {
            write!(f, "\n  last {} log lines:", self.last_lines.len())?;
            for l in &self.last_lines {
                let tag = match l.stream {
                    Stream::Out => "out",
                    Stream::Err => "err",
                };
                write!(f, "\n    {tag} | {}", l.text)?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Displays a list of reports, one block each.
#[derive(Debug, Clone)]
pub struct Reports(pub Vec<ServiceReport>);

impl fmt::Display for Reports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Why a bundle did not start. Everything already started has been stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The blocking API could not make its async runtime.
    #[error("cannot make the async runtime of the blocking API")]
    Runtime(#[source] std::io::Error),
    /// The bundle description is invalid.
    #[error("the bundle is invalid")]
    Invalid(#[source] crate::bundle::BundleError),
    /// The run directory could not be prepared.
    #[error("cannot prepare the run directory {}", path.display())]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The log store could not be created.
    #[error("cannot set up log capture")]
    Logs(#[source] crate::logs::LogError),
    /// The bundle's clock could not be set up.
    #[error("cannot set up the bundle's clock")]
    Clock(#[source] crate::clock::ClockError),
    /// The supervisor binary is missing.
    #[error("cannot start services")]
    Supervisor(#[source] crate::supervisor::SupervisorError),
    /// A plugin kind could not be resolved or configured.
    #[error("cannot configure service `{service}`")]
    Configure {
        /// The service.
        service: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A `${service.key}` reference could not be filled in.
    #[error("cannot fill in the references of a service")]
    Interpolation(#[source] crate::bundle::interpolate::InterpolationError),
    /// Something already answers on a service's port or socket before it started.
    #[error(
        "service `{service}` cannot start: {probe}; another process holds it (stop it or pick another port)"
    )]
    AlreadyRunning {
        /// The service.
        service: String,
        /// The probe that already succeeds.
        probe: String,
    },
    /// A service exited or failed before it was ready.
    #[error("{0}")]
    ServiceFailed(Box<ServiceReport>),
    /// The project directory does not exist (it is never created: a typo in
    /// `project_dir` must not scatter run directories).
    #[error("the project directory {} does not exist", path.display())]
    NoProjectDir {
        /// The directory.
        path: PathBuf,
    },
    /// The start was interrupted (see [`Bundle::interruptible`](super::Bundle::interruptible));
    /// everything started was stopped.
    #[error("the start was interrupted; every service that had started was stopped")]
    Interrupted,
    /// The startup timeout expired.
    #[error("the bundle was not ready within {:.1}s\n{}", timeout.as_secs_f64(), not_ready)]
    Timeout {
        /// The bundle's startup timeout.
        timeout: Duration,
        /// Every service that was not ready.
        not_ready: Reports,
    },
}

/// A service crashed while the bundle was running.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CrashReport(pub Box<ServiceReport>);
