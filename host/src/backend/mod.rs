//! Where a service runs: the seam between what a service is and the machinery that runs it.
//!
//! Why a seam: everything the orchestrator decides about a service (program, environment,
//! user, how to stop it) holds wherever the service runs, but starting it, reading its
//! output and stopping it depend on *where*. Today that is always a local process under a
//! supervisor ([`LocalBackend`]); a cluster backend would start a Pod instead (see
//! `docs/backends.md`). Keeping the service task (`service::run`) on the near side of this
//! seam means it never touches a socket, a pid file or a wire format: it gets two output
//! streams, a status stream and a control sender, and runs its one select loop over them.
//!
//! What still assumes the local host is listed in `docs/backends.md`; on this seam it is
//! [`LaunchSpec::cgroup`] and the pid in [`LaunchStatus::Spawned`].

mod local;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use local::LocalBackend;

use crate::bundle::signal::StopSignal;
use crate::service::ExitStatus;

/// A future a backend returns; boxed so that [`Backend`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream a backend hands out; ends when its source is gone for good.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// Everything a backend needs to start one service.
///
/// The orchestrator has already folded ports, the data directory and the clock into the
/// command and environment (`${db.port}`, `PGDATA`, `LD_PRELOAD`), so none of them appears
/// here as its own field; a backend that must place them differently needs the hooks
/// listed in `docs/backends.md` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// The service's name, for messages.
    pub service: String,
    /// The program, then its arguments; never empty (the bundle's validation and the
    /// plugin's `configure` see to it). The backend resolves the program: locally through
    /// the `PATH` of `env`.
    pub command: Vec<String>,
    /// The complete environment of the service: nothing is inherited from the host.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// The user it runs as, when the host may switch users (it runs as root).
    pub user: Option<String>,
    /// How it is asked to stop, and how long it is given.
    pub stop: StopPolicy,
    /// Local only: the cgroup the service is started in, when the host made one (see
    /// `process::cgroup`). The orchestrator creates it, since the run's record names it
    /// for the reaper; a backend without cgroups ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
}

/// How a service is stopped: `signal` to its whole tree, then, after `grace`, SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPolicy {
    /// The signal that asks it to stop.
    #[serde(with = "signal_by_name")]
    pub signal: StopSignal,
    /// How long it may take before it is killed.
    #[serde(with = "duration_in_ms")]
    pub grace: Duration,
}

/// A request to a launched service, sent on [`Launched::control`]. Dropping the sender
/// without sending anything asks for a [`Control::Stop`] too, so a host that lets go of a
/// service (or dies) never leaves it running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Graceful stop: the stop signal, the grace, then SIGKILL.
    Stop,
    /// SIGKILL the whole tree now.
    Kill,
}

/// What a backend reports about a launched service, in order, on [`Launched::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchStatus {
    /// The service's main process exists.
    Spawned {
        /// Its pid (locally also its process group id): the run's record keeps it for
        /// the reaper, and statistics read `/proc` from it.
        pid: u32,
    },
    /// The service could not be started.
    SpawnFailed {
        /// Why, as text.
        error: String,
    },
    /// The service's main process ended; its leftovers are being stopped.
    Exited(ExitStatus),
    /// The service did not stop within its grace period and was killed.
    Escalated,
    /// The backend's own side died before the service reported an exit, and the backend
    /// killed what the service left. Only for the log; the stream ends after it.
    Orphaned {
        /// What was killed, as a sentence for the log.
        cleanup: String,
    },
}

/// A launched service, as its task sees it.
///
/// The status stream ending is the end of the backend's side (locally: the supervisor
/// exited); an end without [`LaunchStatus::Exited`] means the service ended in an unknown
/// way. The output streams end when every holder of the service's stdout or stderr has
/// let go, which may be later: a process that escaped the tree can hold them.
pub struct Launched {
    /// The service's stdout, in chunks as they arrive.
    pub stdout: BoxStream<Bytes>,
    /// The service's stderr, in chunks as they arrive.
    pub stderr: BoxStream<Bytes>,
    /// What happens to the service.
    pub status: BoxStream<LaunchStatus>,
    /// Stop and kill requests; dropping it stops the service (see [`Control`]).
    pub control: mpsc::UnboundedSender<Control>,
}

impl fmt::Debug for Launched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launched")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

/// Why a backend could not launch a service.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The local backend could not start the service's supervisor.
    #[error(transparent)]
    Supervisor(#[from] crate::supervisor::SupervisorError),
}

/// Where services run.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Starts one service. The future resolves once the backend has taken the service on
    /// (locally: its supervisor runs), not when the service is ready, nor even spawned:
    /// [`LaunchStatus::Spawned`] or [`LaunchStatus::SpawnFailed`] comes on the status
    /// stream, and output may come before it. Readiness stays the host's job.
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<Launched, BackendError>>;
}

/// A stop signal on the wire: its name (`SIGTERM`), which means the same on every platform,
/// where its number does not.
mod signal_by_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::bundle::signal::StopSignal;

    pub fn serialize<S: Serializer>(signal: &StopSignal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(signal.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StopSignal, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A duration on the wire: whole milliseconds.
mod duration_in_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_spec_survives_the_supervisor_wire() {
        let spec = LaunchSpec {
            service: "db".into(),
            command: vec!["postgres".into(), "-D".into(), "data".into()],
            env: vec![("PATH".into(), "/usr/bin".into())],
            cwd: PathBuf::from("/srv/app"),
            user: Some("postgres".into()),
            stop: StopPolicy {
                signal: StopSignal::INT,
                grace: Duration::from_millis(2500),
            },
            cgroup: None,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert!(
            json.contains(r#""stop":{"signal":"SIGINT","grace":2500}"#),
            "{json}"
        );
        assert!(!json.contains("cgroup"), "{json}");
        assert_eq!(serde_json::from_str::<LaunchSpec>(&json).unwrap(), spec);
    }
}
