//! The messages exchanged between the host and a supervisor.
//!
//! The host passes the service's launch spec (`backend::LaunchSpec`) as a JSON
//! argument (or, through the spawner, as one message). The supervisor's stdin is
//! one end of a socket pair, used both ways: the host sends control lines on it and reads
//! JSON status lines back. EOF in the control direction means the host is gone or wants
//! the tree stopped; EOF in the status direction means the supervisor is gone. Stdout and
//! stderr of the supervisor are the service's own pipes: the supervisor never writes to
//! them, so the host can treat every byte there as service output.

use serde::{Deserialize, Serialize};

/// The file descriptor, in the supervisor, of its channel with the host (stdin).
pub const CHANNEL_FD: i32 = 0;

/// The control lines are the backend's requests, one word per line: `stop` or `kill`.
pub use crate::backend::Control;

/// The line sent on the wire for a request.
pub fn control_line(control: Control) -> &'static [u8] {
    match control {
        Control::Stop => b"stop\n",
        Control::Kill => b"kill\n",
    }
}

/// Parses one control line (without its newline).
pub fn parse_control(line: &[u8]) -> Option<Control> {
    match line {
        b"stop" => Some(Control::Stop),
        b"kill" => Some(Control::Kill),
        _ => None,
    }
}

/// A status line from the supervisor; the local backend decodes it into a
/// `backend::LaunchStatus`.
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
