//! The process group a child runs in, and the guard that kills it.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Where a child sits among sessions and process groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Group {
    /// In the caller's group: for a command that must stay in the terminal's foreground
    /// (`teamster exec psql` reads the terminal, and a background group would be stopped
    /// by `SIGTTIN`).
    #[default]
    Inherit,
    /// In a new process group led by the child, so one signal reaches everything it starts
    /// and a terminal's Ctrl-C reaches only the host.
    NewGroup,
    /// In a new session (and so a new group) with no controlling terminal: a service, which
    /// must not be stopped by the terminal's job control nor get its `SIGHUP`.
    NewSession,
}

impl Group {
    /// Whether the child leads a group of its own, which can then be killed as a whole.
    pub fn is_own(self) -> bool {
        self != Group::Inherit
    }
}

/// SIGKILLs a child's process group once: when asked, or when dropped while still armed.
#[derive(Debug)]
pub struct GroupGuard {
    /// The group id (the leader's pid); `None` once killed, or when there is nothing to kill.
    pgid: Option<Pid>,
}

impl GroupGuard {
    /// A guard of the group led by `leader`.
    pub fn of_leader(leader: u32) -> GroupGuard {
        GroupGuard {
            pgid: i32::try_from(leader)
                .ok()
                .filter(|pid| *pid > 0)
                .map(Pid::from_raw),
        }
    }

    /// A guard that never kills anything (the child is not in a group of its own, or its
    /// group must outlive its handle).
    pub fn disarmed() -> GroupGuard {
        GroupGuard { pgid: None }
    }

    /// Whether dropping the guard would kill a group.
    pub fn is_armed(&self) -> bool {
        self.pgid.is_some()
    }

    /// Sends SIGKILL to the whole group now, once; later calls and the drop do nothing.
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH only means every member is already gone.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    /// Lets the group live on: the guard will not kill it.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
