//! The messages exchanged between the host and a supervisor.
//!
//! The host passes the service description as a JSON argument. The supervisor's stdin is
//! one end of a socket pair, used both ways: the host sends control lines on it and reads
//! JSON status lines back. EOF in the control direction means the host is gone or wants
//! the tree stopped; EOF in the status direction means the supervisor is gone. Stdout and
//! stderr of the supervisor are the service's own pipes: the supervisor never writes to
//! them, so the host can treat every byte there as service output.

use serde::{Deserialize, Serialize};

/// The file descriptor, in the supervisor, of its channel with the host (stdin).
pub const CHANNEL_FD: i32 = 0;

/// What the supervisor must start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuperviseSpec {
    /// The service's name, for messages.
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The complete environment of the service.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: String,
    /// User to switch to before exec, when running as root.
    pub user: Option<String>,
    /// Signal number used for a graceful stop.
    pub stop_signal: i32,
    /// Grace between the stop signal and SIGKILL, in milliseconds.
    pub grace_ms: u64,
    /// The cgroup the supervisor joins before it spawns the service, when the host made
    /// one (see `process::cgroup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

/// A control line from the host (one word per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Graceful stop: stop signal, grace, then SIGKILL.
    Stop,
    /// SIGKILL the whole tree now.
    Kill,
}

impl Control {
    /// The line sent on the wire.
    pub fn as_line(self) -> &'static [u8] {
        match self {
            Control::Stop => b"stop\n",
            Control::Kill => b"kill\n",
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &[u8]) -> Option<Control> {
        match line {
            b"stop" => Some(Control::Stop),
            b"kill" => Some(Control::Kill),
            _ => None,
        }
    }
}

/// A status line from the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The service process exists (pid is also its process group id).
    Spawned {
        /// Pid of the service.
        pid: u32,
    },
    /// The service could not be started.
    SpawnFailed {
        /// Why, as text.
        error: String,
    },
    /// The service's main process ended.
    Exited {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Signal number, if it was killed by one.
        signal: Option<i32>,
    },
    /// The supervisor escalated to SIGKILL after the grace period.
    Escalated,
}
