//! The per-service supervisor: our own binary, forked from the process's `teamster
//! __spawner` (or re-executed as `teamster __supervise` when that is not possible).
//!
//! Why a separate process per service rather than spawning services from the host directly:
//! the host can die by any means, SIGKILL included, and no cleanup code runs then. The
//! supervisor is the piece that survives the host long enough to kill the service's whole
//! tree. It
//! - puts itself in its own process group, so a terminal's Ctrl-C reaches only the host,
//!   which decides the order of shutdown;
//! - makes itself a child subreaper, so daemonizing grandchildren are reparented to it and
//!   not to init, and can be found and killed;
//! - starts the service in a new session (its own process group), after dropping to the
//!   configured user when the host runs as root;
//! - treats EOF on its stdin, the channel whose only other end is the host's, as the host's
//!   death, and then stops the tree (stop signal, grace, SIGKILL) and reaps it.
//!
//! `PR_SET_PDEATHSIG` is deliberately not used: it fires when the *thread* that spawned the
//! child exits, and tokio spawns from whatever worker thread happens to run the task.

mod process;
pub mod protocol;
mod spawn;
mod spawner;

pub use process::run_supervisor;
pub use spawn::{SpawnedSupervisor, SupervisorError, spawn_supervisor, supervisor_binary};
pub use spawner::run_spawner;
pub(crate) use spawner::warm_up as warm_up_spawner;
