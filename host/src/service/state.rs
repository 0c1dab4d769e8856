//! The states a service goes through, and how a process ended.

use std::fmt;

/// How a service's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
    /// The supervisor went away without telling (it was killed itself).
    Unknown,
}

impl ExitStatus {
    /// How the process ended, as the verb phrase of a sentence: `exited with code 3`,
    /// `was killed by SIGKILL`, `ended without a word (its supervisor was killed)`.
    pub fn ended(self) -> String {
        match self {
            ExitStatus::Code(c) => format!("exited with code {c}"),
            ExitStatus::Signal(_) => format!("was {self}"),
            ExitStatus::Unknown => "ended in an unknown way (its supervisor was killed)".to_owned(),
        }
    }

    /// Whether this is a clean exit (code 0).
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => match nix::sys::signal::Signal::try_from(s) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            ExitStatus::Unknown => write!(f, "unknown exit status (its supervisor was killed)"),
        }
    }
}

/// Where a service is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// Waiting for the services it needs.
    Pending,
    /// Running its plugin's `setup`.
    SettingUp,
    /// Spawned; waiting for its readiness conditions.
    Starting,
    /// Every readiness condition holds and `poststart` ran.
    Ready,
    /// A stop was requested; waiting for the tree to go.
    Stopping,
    /// The main process ended (the tree is gone once the supervisor has exited).
    Exited(ExitStatus),
    /// It could not be started or set up.
    Failed(String),
}

impl ServiceState {
    /// Whether the service has reached a final state.
    pub fn is_final(&self) -> bool {
        matches!(self, ServiceState::Exited(_) | ServiceState::Failed(_))
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceState::Pending => f.write_str("pending"),
            ServiceState::SettingUp => f.write_str("setting up"),
            ServiceState::Starting => f.write_str("starting"),
            ServiceState::Ready => f.write_str("ready"),
            ServiceState::Stopping => f.write_str("stopping"),
            ServiceState::Exited(s) => write!(f, "exited ({s})"),
            ServiceState::Failed(r) => write!(f, "failed: {r}"),
        }
    }
}
