//! The documented exit codes of the `teamster` binary.

/// Exit codes. Documented in README.md; keep both in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success (including a stop requested with Ctrl-C or SIGTERM).
    Ok = 0,
    /// An unexpected internal error.
    Internal = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The bundle file is invalid.
    BundleInvalid = 3,
    /// The bundle did not start (a service failed or the startup timeout expired).
    StartupFailed = 4,
    /// A service crashed while the bundle was running.
    ServiceCrashed = 5,
    /// No running bundle was found (`exec`, `travel`, `now`, `status`, `logs`, `down`).
    NotRunning = 6,
    /// A plugin command failed (invalid component, unknown plugin, …).
    PluginFailed = 7,
    /// A bundle already runs in this project (a different one, for `up -d`).
    AlreadyRunning = 8,
    /// The host was interrupted three times and exited without waiting for cleanup.
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}
