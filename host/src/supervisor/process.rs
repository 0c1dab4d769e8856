//! The supervisor process itself: synchronous, single-threaded, and small.
//!
//! It is deliberately not async: one `poll(2)` over the host channel and a signalfd is all
//! it needs, and a single thread makes `fork` + `exec` of the service safe.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::protocol::{CHANNEL_FD, Control, Status, parse_control};
use crate::backend::LaunchSpec;
use crate::process::{Group, ProcessBuilder};

/// Where the supervisor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The service runs; nobody asked it to stop.
    Running,
    /// The stop signal was sent; SIGKILL follows at the deadline.
    Stopping { deadline: Instant },
    /// SIGKILL was sent to everything; only reaping is left.
    Killing,
}

/// Entry point of `teamster __supervise <spec-json>`. Returns the process exit code.
pub fn run_supervisor(spec_json: &str) -> i32 {
    // SAFETY: fd 0 is the host's channel (a socket pair end); we take ownership of it
    // exactly once here. The service gets /dev/null as fd 0 instead, so it never holds the
    // channel: a process holding it would keep the host from seeing the supervisor's end.
    let channel = unsafe { File::from_raw_fd(CHANNEL_FD) };
    let spec: LaunchSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            report(
                &channel,
                &Status::SpawnFailed {
                    error: format!("bad supervisor spec: {e}"),
                },
            );
            return 2;
        }
    };
    let code = match supervise(&spec, &channel) {
        Ok(()) => 0,
        Err(error) => {
            report(&channel, &Status::SpawnFailed { error });
            1
        }
    };
    if let Some(group) = &spec.cgroup {
        crate::process::cgroup::leave_and_remove(group);
    }
    code
}

fn report(mut channel: &File, msg: &Status) {
    // The host may be gone; a failed status write must not stop the cleanup.
    if let Ok(mut line) = serde_json::to_vec(msg) {
        line.push(b'\n');
        let _ = channel.write_all(&line);
    }
}

fn supervise(spec: &LaunchSpec, channel: &File) -> Result<(), String> {
    let stop_signal =
        Signal::try_from(spec.stop.signal.number()).map_err(|e| format!("bad stop signal: {e}"))?;
    let grace = spec.stop.grace;

    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("cannot become a subreaper: {e}"))?;
    if let Some(group) = &spec.cgroup {
        // Best effort: without it the process group and the subreaper still hold the tree.
        let _ = crate::process::cgroup::join(group);
    }

    // Signals are handled synchronously through a signalfd; block them first so none is
    // delivered the default way between here and the poll loop.
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        mask.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| format!("sigprocmask: {e}"))?;
    // A signal ignored by whoever started the host is discarded, not queued, so the signalfd
    // would never see it; with the default disposition (and the signal blocked) it is.
    for s in mask.iter() {
        // SAFETY: setting a disposition to its default; no handler code is involved.
        let _ = unsafe { nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigDfl) };
    }
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;

    // The service in a new session, as its user when the host is root, with every signal at
    // its default (see `process::builder`).
    let child = ProcessBuilder::from_argv(&spec.command)
        .and_then(|b| {
            b.env_clear()
                .envs(spec.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&spec.cwd)
                .user(spec.user.as_deref())
                .group(Group::NewSession)
                .stdin(Stdio::null())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .spawn()
        })
        .map_err(|e| crate::error_chain(&e))?;
    let main_pid = Pid::from_raw(child.id() as i32);
    // The std handle is not used for waiting: we reap with waitpid(-1) as a subreaper.
    drop(child);
    report(
        channel,
        &Status::Spawned {
            pid: main_pid.as_raw() as u32,
        },
    );

    event_loop(main_pid, stop_signal, grace, &sfd, channel)
}

fn event_loop(
    main_pid: Pid,
    stop_signal: Signal,
    grace: Duration,
    sfd: &SignalFd,
    channel: &File,
) -> Result<(), String> {
    let mut control = channel;
    let mut control_open = true;
    let mut main_alive = true;
    let mut phase = Phase::Running;
    let mut pending = Vec::new();

    loop {
        let timeout = match phase {
            Phase::Stopping { deadline } => {
                let left = deadline.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
            // While killing, children may already be gone without a SIGCHLD we can still see
            // (it was coalesced); wake up now and then to reap.
            Phase::Killing => PollTimeout::from(50u16),
            Phase::Running => PollTimeout::NONE,
        };
        let (control_ready, signal_ready) = {
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            if control_open {
                fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(format!("poll: {e}")),
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            (control_open && ready(&fds[1]), ready(&fds[0]))
        };

        if control_ready {
            let mut buf = [0u8; 256];
            match control.read(&mut buf) {
                Ok(0) | Err(_) => {
                    // The host is gone (or closed the pipe on purpose): stop the tree.
                    control_open = false;
                    if phase == Phase::Running {
                        phase = begin_stop(main_pid, stop_signal, grace);
                    }
                }
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=pos).collect();
                        match parse_control(&line[..line.len() - 1]) {
                            Some(Control::Stop) if phase == Phase::Running => {
                                phase = begin_stop(main_pid, stop_signal, grace);
                            }
                            Some(Control::Kill) => {
                                kill_everything(main_pid);
                                phase = Phase::Killing;
                            }
                            _ => {}
                        }
                    }
                }
            }
        }

        if signal_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let signo = info.ssi_signo as i32;
                if signo != libc::SIGCHLD && phase == Phase::Running {
                    phase = begin_stop(main_pid, stop_signal, grace);
                }
            }
        }

        // Reap everything that has exited; as a subreaper this includes orphaned grandchildren.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(ws) => {
                    if ws.pid() == Some(main_pid) && main_alive {
                        main_alive = false;
                        let (code, signal) = match ws {
                            WaitStatus::Exited(_, c) => (Some(c), None),
                            WaitStatus::Signaled(_, s, _) => (None, Some(s as i32)),
                            _ => (None, None),
                        };
                        report(channel, &Status::Exited { code, signal });
                        // Whatever the service left behind goes with it.
                        if phase == Phase::Running {
                            phase = begin_stop(main_pid, stop_signal, grace);
                        }
                    }
                }
                Err(Errno::ECHILD) => {
                    if !main_alive {
                        return Ok(());
                    }
                    break;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(format!("waitpid: {e}")),
            }
        }

        if let Phase::Stopping { deadline } = phase
            && Instant::now() >= deadline
        {
            report(channel, &Status::Escalated);
            kill_everything(main_pid);
            phase = Phase::Killing;
        }
        if phase == Phase::Killing {
            // New descendants may have appeared (a fork racing the kill); keep killing.
            kill_everything(main_pid);
        }
    }
}

/// Sends the stop signal to the service's group and to every descendant that left it.
fn begin_stop(main_pid: Pid, stop_signal: Signal, grace: Duration) -> Phase {
    let _ = kill(Pid::from_raw(-main_pid.as_raw()), stop_signal);
    for pid in own_descendants() {
        if nix::unistd::getpgid(Some(Pid::from_raw(pid as i32))).ok() != Some(main_pid) {
            let _ = kill(Pid::from_raw(pid as i32), stop_signal);
        }
    }
    Phase::Stopping {
        deadline: Instant::now() + grace,
    }
}

/// SIGKILLs the service's group and every descendant of the supervisor.
fn kill_everything(main_pid: Pid) {
    let _ = kill(Pid::from_raw(-main_pid.as_raw()), Signal::SIGKILL);
    for pid in own_descendants() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}

fn own_descendants() -> Vec<u32> {
    crate::process::descendants(std::process::id())
}
