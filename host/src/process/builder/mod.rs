//! One way to start a process: [`ProcessBuilder`].
//!
//! teamster starts processes for many reasons (a service's main program, through its
//! supervisor; readiness probe commands; sub-commands; the helper programs a plugin asks for
//! with `host.run`; `teamster exec`; the supervisor and spawner themselves), and each must
//! start the same way or they drift apart: a probe that runs as root while its service runs
//! as `postgres` sees other files and other permissions than the service, and a sub-command
//! that inherits the host's ignored `SIGINT` cannot be stopped the way its service is. So
//! every site describes what it wants to a [`ProcessBuilder`], and this module alone decides
//! how that is done:
//!
//! - **identity** ([`Identity`]): with a `user` and a host running as root, the child drops
//!   to that user, its primary group and its supplementary groups, and gets its `HOME`,
//!   `USER` and `LOGNAME`; without root, `user` has no effect, as for the service;
//! - **environment and working directory**: the host's or a clean environment, plus
//!   variables in order, later ones winning;
//! - **session and process group** ([`Group`]): a new group so that the whole tree can be
//!   signalled at once, a new session for services, or the caller's group for a command that
//!   must stay in the terminal's foreground;
//! - **signal state** ([`signals`]): every disposition at its default and an empty mask,
//!   whatever the host inherited (`nohup`, a `&` job of a script) or set up for itself;
//! - **the death of the group** ([`GroupGuard`]): a helper's whole group is SIGKILLed when
//!   its handle is dropped, so nothing a probe or a sub-command started outlives it;
//! - **program lookup** ([`find_program`]): the one PATH search, done the way `execvp` will
//!   do it in the child, for the places that must know in advance which file will run.
//!
//! # Caveats
//!
//! - Identity, a new session and a signal reset are applied between `fork` and `exec`. A
//!   builder that needs none of them (the common case for teamster's own helper processes,
//!   and for everything when the host is not root and ignores no signal) adds no code there,
//!   so the standard library may start the child with `posix_spawn`, which does not copy the
//!   host's page tables.
//! - [`GroupGuard`] kills the group id once. The kernel keeps a group id reserved while any
//!   member lives, so a kill after the leader was reaped still reaches only the leftovers; a
//!   guard dropped while its leader is unreaped is always safe, which is why
//!   [`Spawned`] drops its guard before its child.

mod error;
mod group;
mod identity;
mod program;
pub(crate) mod signals;
mod spawn;

pub use error::SpawnError;
pub use group::{Group, GroupGuard};
pub use identity::Identity;
pub use program::{DEFAULT_PATH, find_in_dirs, find_program, is_executable, path_dirs};
pub use spawn::{ProcessBuilder, Spawned};

#[cfg(test)]
mod tests;
