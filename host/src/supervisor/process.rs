//! The supervisor process itself: synchronous, single-threaded, and small.
//!
//! It is deliberately not async: one `poll(2)` over the host channel and a signalfd is all
//! it needs, and a single thread makes `fork` + `exec` of the service safe.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, Uid, User};

use super::protocol::{CHANNEL_FD, Control, Status, SuperviseSpec};

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

/// Resolved identity to switch to before exec.
struct Identity {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    home: String,
    name: String,
}

/// Entry point of `teamster __supervise <spec-json>`. Returns the process exit code.
pub fn run_supervisor(spec_json: &str) -> i32 {
    // SAFETY: fd 0 is the host's channel (a socket pair end); we take ownership of it
    // exactly once here. The service gets /dev/null as fd 0 instead, so it never holds the
    // channel: a process holding it would keep the host from seeing the supervisor's end.
    let channel = unsafe { File::from_raw_fd(CHANNEL_FD) };
    let spec: SuperviseSpec = match serde_json::from_str(spec_json) {
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
        crate::process::cgroup::leave_and_remove(std::path::Path::new(group));
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

fn resolve_user(name: &str) -> Result<Identity, String> {
    let user = User::from_name(name)
        .map_err(|e| format!("cannot look up user `{name}`: {e}"))?
        .ok_or_else(|| format!("user `{name}` does not exist"))?;
    let cname = CString::new(name).map_err(|_| format!("bad user name `{name}`"))?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid).unwrap_or_else(|_| vec![user.gid]);
    Ok(Identity {
        uid: user.uid,
        gid: user.gid,
        groups,
        home: user.dir.to_string_lossy().into_owned(),
        name: name.to_owned(),
    })
}

fn supervise(spec: &SuperviseSpec, channel: &File) -> Result<(), String> {
    let stop_signal =
        Signal::try_from(spec.stop_signal).map_err(|e| format!("bad stop signal: {e}"))?;
    let grace = Duration::from_millis(spec.grace_ms);

    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("cannot become a subreaper: {e}"))?;
    if let Some(group) = &spec.cgroup {
        // Best effort: without it the process group and the subreaper still hold the tree.
        let _ = crate::process::cgroup::join(std::path::Path::new(group));
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
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;

    let identity = match &spec.user {
        Some(name) if Uid::effective().is_root() => Some(resolve_user(name)?),
        _ => None,
    };

    let Some((program, args)) = spec.argv.split_first() else {
        return Err("empty command".to_owned());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if let Some(id) = &identity {
        cmd.env("USER", &id.name)
            .env("LOGNAME", &id.name)
            .env("HOME", &id.home);
    }
    let child_ids = identity
        .as_ref()
        .map(|id| (id.uid, id.gid, id.groups.clone()));
    // SAFETY: the closure runs between fork and exec in a single-threaded process and only
    // calls async-signal-safe functions (setsid, sigprocmask, sigaction, setgroups, setgid,
    // setuid); the group list was computed before the fork.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            default_dispositions();
            if let Some((uid, gid, groups)) = &child_ids {
                nix::unistd::setgroups(groups)?;
                nix::unistd::setgid(*gid)?;
                nix::unistd::setuid(*uid)?;
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| spawn_error(program, &spec.cwd, &e))?;
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

/// Puts every signal of the about-to-exec service back to its default disposition.
///
/// Handlers do not survive `exec`, but ignored signals do: whoever started teamster (`nohup`,
/// a `&` job of a script, which ignores SIGINT and SIGQUIT, a CI runner) would pass its
/// ignores on to every service. A service whose stop signal is SIGINT (PostgreSQL's fast
/// shutdown, a shell's `trap ... INT`, which cannot even trap a signal ignored at its start)
/// would then never see it and be killed at the end of its grace. As systemd does for its
/// services, a service starts with every disposition at its default.
///
/// # Safety
///
/// Only between `fork` and `exec`: it would undo the host's own signal handling. Calls
/// nothing but `sigaction`, which is async-signal-safe.
unsafe fn default_dispositions() {
    // SAFETY: a zeroed `sigaction` with `SIG_DFL` (0) as handler, an empty mask and no flags
    // is a valid argument; errors (SIGKILL, SIGSTOP, the C library's reserved real-time
    // signals) leave those signals as they were, which is what is wanted.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        for signal in 1..=libc::SIGRTMAX() {
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn spawn_error(program: &str, cwd: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound if !std::path::Path::new(cwd).is_dir() => {
            format!("working directory `{cwd}` does not exist")
        }
        std::io::ErrorKind::NotFound => format!("program `{program}` not found"),
        std::io::ErrorKind::PermissionDenied => {
            format!("program `{program}` is not executable: {e}")
        }
        _ => format!("cannot start `{program}`: {e}"),
    }
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
                        match Control::parse(&line[..line.len() - 1]) {
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
