//! The spawner: one `teamster __spawner` per host process, which forks a supervisor for
//! each service instead of the host exec'ing `teamster __supervise` every time.
//!
//! Why: the supervisor is our own large binary, and exec'ing it costs the dynamic loader's
//! relocations and page faults on every service, about a millisecond each here, which was
//! most of the per-service overhead of a large bundle. The spawner pays that once; a fork
//! of a small, single-threaded process that then runs the supervisor code in place costs a
//! fraction of it. The supervisor that results is the same code with the same fds (the
//! channel on 0, the service's pipes on 1 and 2) in its own process group, so nothing
//! else changes: it watches the host through its channel, as before.
//!
//! The host sends one `SOCK_SEQPACKET` message per service: the launch spec as JSON,
//! with the three descriptors attached (`SCM_RIGHTS`). The spawner answers with the
//! supervisor's pid, or with an error line. EOF on its stdin (the host's end of the socket
//! pair) means the host is gone, and the spawner exits; supervisors it forked notice the
//! host's death on their own channels. Any failure of this path makes the host fall back to
//! exec'ing the supervisor directly, so the spawner is an optimisation, never a dependency;
//! `TEAMSTER_SPAWNER=0` takes the direct path always.
//!
//! The spawner ignores `SIGCHLD`, so the kernel reaps the supervisors it forks; each
//! supervisor puts `SIGCHLD` back to the default first thing, since it reaps its own
//! children.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

use crate::process::{Group, ProcessBuilder};

/// The largest request the spawner reads: a spec with a very large environment. Larger
/// specs take the direct path.
const MAX_REQUEST: usize = 1024 * 1024;

/// How long the host waits for the spawner's answer before giving up on it.
const REPLY_TIMEOUT_SECS: i64 = 5;

/// Entry point of `teamster __spawner`. Returns the process exit code.
pub fn run_spawner() -> i32 {
    // SAFETY: setting a signal disposition; no handler code runs.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; 3]);
        let (len, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(0, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(msg) => {
                    let fds: Vec<OwnedFd> = msg
                        .cmsgs()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| match c {
                            ControlMessageOwned::ScmRights(fds) => Some(fds),
                            _ => None,
                        })
                        .flatten()
                        // SAFETY: the kernel just installed these descriptors for us.
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                        .collect();
                    (msg.bytes, fds)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return 0,
            }
        };
        if len == 0 && fds.is_empty() {
            // The host is gone.
            return 0;
        }
        let reply = match <[OwnedFd; 3]>::try_from(fds) {
            Ok(fds) => fork_supervisor(&buf[..len], fds),
            Err(_) => Err("a request needs exactly three descriptors".to_owned()),
        };
        let reply = match reply {
            Ok(pid) => format!("ok {pid}"),
            Err(error) => format!("error {error}"),
        };
        if nix::unistd::write(std::io::stdin(), reply.as_bytes()).is_err() {
            return 0;
        }
    }
}

/// Forks one supervisor; in the child, never returns.
fn fork_supervisor(spec: &[u8], [channel, out, err]: [OwnedFd; 3]) -> Result<u32, String> {
    let spec = std::str::from_utf8(spec).map_err(|e| format!("spec is not UTF-8: {e}"))?;
    // SAFETY: the spawner is single-threaded, so the child may run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(child.as_raw() as u32),
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: plain system calls on descriptors this process owns.
            unsafe {
                libc::signal(libc::SIGCHLD, libc::SIG_DFL);
                let ok = libc::setpgid(0, 0) == 0
                    && libc::dup2(channel.as_raw_fd(), 0) == 0
                    && libc::dup2(out.as_raw_fd(), 1) == 1
                    && libc::dup2(err.as_raw_fd(), 2) == 2;
                if !ok {
                    libc::_exit(127);
                }
            }
            drop((channel, out, err));
            std::process::exit(super::run_supervisor(spec));
        }
        Err(e) => Err(format!("fork: {e}")),
    }
}

/// The host's handle on its spawner.
struct Spawner {
    bin: PathBuf,
    sock: OwnedFd,
    child: Child,
    /// The process that started it: a forked copy of the host must not share its socket,
    /// or two processes' requests and replies would interleave.
    owner: u32,
}

impl Spawner {
    fn start(bin: &Path) -> std::io::Result<Spawner> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        // A spawner that stopped answering must not hang the host: the request fails, and
        // the supervisor is exec'd directly.
        nix::sys::socket::setsockopt(
            &ours,
            nix::sys::socket::sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(REPLY_TIMEOUT_SECS, 0),
        )?;
        let child = ProcessBuilder::new(bin)
            .arg("__spawner")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Like the supervisors it forks: out of the terminal's Ctrl-C.
            .group(Group::NewGroup)
            // The supervisors it forks set up their own signals and reset the service's.
            .inherit_signals()
            .spawn()
            .map_err(std::io::Error::other)?;
        let (_, child) = child.into_parts();
        Ok(Spawner {
            bin: bin.to_path_buf(),
            sock: ours,
            child,
            owner: std::process::id(),
        })
    }

    fn request(&self, spec: &[u8], fds: [RawFd; 3]) -> std::io::Result<u32> {
        let iov = [IoSlice::new(spec)];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(self.sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)?;
        let mut buf = [0u8; 4096];
        let n = nix::unistd::read(&self.sock, &mut buf)?;
        let reply = String::from_utf8_lossy(&buf[..n]);
        match reply.split_once(' ') {
            Some(("ok", pid)) => pid
                .parse()
                .map_err(|_| std::io::Error::other(format!("bad spawner reply `{reply}`"))),
            Some(("error", error)) => Err(std::io::Error::other(error.to_owned())),
            _ => Err(std::io::Error::other(if n == 0 {
                "the spawner exited".to_owned()
            } else {
                format!("bad spawner reply `{reply}`")
            })),
        }
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // Closing our end makes it exit; reap it if it already has.
        let _ = self.child.try_wait();
    }
}

/// The process's spawner, started on first use and restarted after a failure.
static SPAWNER: Mutex<Option<Spawner>> = Mutex::new(None);

/// Starts the process's spawner now if it has none, so that its exec and start-up overlap
/// with the rest of a bundle's start (plugins, run directory, logs) instead of delaying the
/// first launch by as much (about 10 ms). A failure is left for that launch to meet.
pub(crate) fn warm_up(bin: &Path) {
    if std::env::var_os("TEAMSTER_SPAWNER").is_some_and(|v| v == "0") {
        return;
    }
    let mut slot = SPAWNER.lock().unwrap_or_else(|p| p.into_inner());
    if slot
        .as_ref()
        .is_some_and(|s| s.bin == bin && s.owner == std::process::id())
    {
        return;
    }
    *slot = Spawner::start(bin).ok();
}

/// Forks a supervisor through the spawner: `spec` is its JSON, `fds` the channel and the
/// service's stdout and stderr. Returns its pid. An error means the caller should start the
/// supervisor directly.
pub(crate) fn spawn(bin: &Path, spec: &[u8], fds: [RawFd; 3]) -> std::io::Result<u32> {
    if std::env::var_os("TEAMSTER_SPAWNER").is_some_and(|v| v == "0") {
        return Err(std::io::Error::other(
            "the spawner is turned off (TEAMSTER_SPAWNER=0)",
        ));
    }
    if spec.len() > MAX_REQUEST {
        return Err(std::io::Error::other("spec too large for the spawner"));
    }
    let mut slot = SPAWNER.lock().unwrap_or_else(|p| p.into_inner());
    if slot
        .as_ref()
        .is_some_and(|s| s.bin != bin || s.owner != std::process::id())
    {
        *slot = None;
    }
    if slot.is_none() {
        *slot = Some(Spawner::start(bin)?);
    }
    let spawner = slot.as_ref().expect("started above");
    let result = spawner.request(spec, fds);
    if result.is_err() {
        // A dead or confused spawner is replaced on the next request.
        *slot = None;
    }
    result
}
