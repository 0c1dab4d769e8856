//! Processes: how teamster starts them ([`builder`]: identity, environment, group, signal
//! reset, the group's death on drop, program lookup), and their statistics read straight
//! from `/proc`: state, cpu, memory, threads, the tree of descendants, open files and
//! listening TCP sockets.
//!
//! The supervisor needs the tree to kill grandchildren that escaped their process group,
//! `status` shows cpu and memory per service, and the port check tells a user which ports a
//! service actually listens on. Everything is read from `/proc` on demand: there is no
//! background sampling, so a call costs a few file reads per process in the tree.
//!
//! # Caveats
//!
//! - Linux only. Every function is a snapshot: processes start and exit while `/proc` is
//!   read, and a process that vanishes halfway is silently left out rather than reported as
//!   an error. Only the pid asked about directly can yield [`ProcessError::NotFound`].
//! - A tree that is still forking can gain members right after [`descendants`] returns. To
//!   kill a whole tree reliably, repeat "list, then kill" until the list comes back empty, or
//!   stop the processes first (`SIGSTOP`), which also makes the kernel's per-thread
//!   `children` lists exact.
//! - Open files and sockets of processes owned by other users are unreadable without
//!   privileges; such processes then count as having none.

pub mod builder;
pub mod cgroup;
mod error;
mod net;
mod sock_diag;
mod stats;
mod tree;

pub use builder::{Group, GroupGuard, Identity, ProcessBuilder, SpawnError, Spawned, find_program};
pub use error::ProcessError;
pub use net::ListeningSocket;
pub use stats::{ProcessState, ProcessStats, TreeTotals, is_alive, start_ticks, stats};
pub use tree::{children, descendants};

#[cfg(test)]
mod tests;
