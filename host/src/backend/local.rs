//! The local backend: each service a process tree on this machine, under its own
//! supervisor (see [`crate::supervisor`]).
//!
//! This is where the supervisor's wire protocol meets the backend-neutral types: the launch
//! spec goes to the supervisor as JSON, its status lines come back decoded into
//! [`LaunchStatus`] here and nowhere else, and [`Control`] requests are written to its
//! channel by a small task that owns the channel's write half, so that the sender being
//! dropped closes the channel, which the supervisor takes as the order to stop the tree.
//!
//! The host's second line of defence against orphans lives here too: when the status
//! channel ends without an exit (the supervisor was killed before its service), the status
//! stream kills the service's process group and cgroup before it ends.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, Lines, ReadBuf};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::{Backend, BackendError, BoxFuture, Control, LaunchSpec, LaunchStatus, Launched};
use crate::service::ExitStatus;
use crate::supervisor::protocol::{Status, control_line};
use crate::supervisor::spawn_supervisor;

/// The size of one read from a service's pipe: a burst of output is taken in few reads.
const READ_CHUNK: usize = 64 * 1024;

/// Runs services as local processes, one supervisor each.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    /// The `teamster` binary the supervisors run (see [`crate::supervisor::supervisor_binary`]).
    bin: PathBuf,
}

impl LocalBackend {
    /// A backend whose supervisors run `bin`.
    pub fn new(bin: PathBuf) -> LocalBackend {
        LocalBackend { bin }
    }
}

impl Backend for LocalBackend {
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<Launched, BackendError>> {
        Box::pin(async move {
            let sup = spawn_supervisor(&self.bin, spec)?;
            let (control, requests) = mpsc::unbounded_channel();
            tokio::spawn(forward_control(requests, sup.control));
            Ok(Launched {
                stdout: Box::pin(Chunks::new(sup.stdout)),
                stderr: Box::pin(Chunks::new(sup.stderr)),
                status: Box::pin(StatusStream {
                    lines: BufReader::new(sup.status).lines(),
                    cgroup: spec.cgroup.clone(),
                    pid: None,
                    exited: false,
                    done: false,
                }),
                control,
            })
        })
    }
}

/// Writes each request to the supervisor's channel until the sender is dropped or the
/// supervisor is gone; the write half drops with it, which shuts the control direction
/// down: EOF there makes the supervisor stop the tree.
async fn forward_control(
    mut requests: mpsc::UnboundedReceiver<Control>,
    mut channel: OwnedWriteHalf,
) {
    while let Some(request) = requests.recv().await {
        if channel.write_all(control_line(request)).await.is_err() {
            break;
        }
    }
}

/// A service pipe as a stream of chunks. Ends at EOF or at the first read error.
struct Chunks<R> {
    reader: R,
    buf: Box<[u8]>,
    done: bool,
}

impl<R> Chunks<R> {
    fn new(reader: R) -> Chunks<R> {
        Chunks {
            reader,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            done: false,
        }
    }
}

impl<R: AsyncRead + Unpin> Stream for Chunks<R> {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut buf = ReadBuf::new(&mut this.buf);
        match ready!(Pin::new(&mut this.reader).poll_read(cx, &mut buf)) {
            Ok(()) if !buf.filled().is_empty() => {
                Poll::Ready(Some(Bytes::copy_from_slice(buf.filled())))
            }
            Ok(()) | Err(_) => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }
}

/// The supervisor's status lines, decoded. Lines it cannot read are skipped (a newer
/// supervisor may say more than this host understands).
struct StatusStream {
    lines: Lines<BufReader<OwnedReadHalf>>,
    /// The service's cgroup, killed with its group when the supervisor dies first.
    cgroup: Option<PathBuf>,
    /// The service's pid, once the supervisor reported it.
    pid: Option<u32>,
    /// Whether the supervisor reported the service's exit.
    exited: bool,
    done: bool,
}

impl StatusStream {
    /// SIGKILLs the process group (and the cgroup, if any) of a service whose supervisor
    /// died before it: the service's main process leads its own group (the supervisor made
    /// it a session leader), so the group is everything the supervisor would have stopped,
    /// short of a process that left it, which only the cgroup still holds. Says what it
    /// killed, if anything.
    fn kill_orphaned_group(&self) -> Option<String> {
        if self.exited {
            return None;
        }
        let pid = self.pid.and_then(|p| i32::try_from(p).ok())?;
        // The service's cgroup also holds what left the group (a daemon that called setsid).
        if let Some(cgroup) = &self.cgroup {
            crate::process::cgroup::kill_and_remove(cgroup);
        }
        let group = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL)
            .ok()
            .map(|()| format!("its supervisor died before it; killed its process group {pid}"))
    }
}

impl Stream for StatusStream {
    type Item = LaunchStatus;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LaunchStatus>> {
        let this = self.get_mut();
        while !this.done {
            let line: io::Result<Option<String>> =
                ready!(Pin::new(&mut this.lines).poll_next_line(cx));
            let Ok(Some(line)) = line else {
                // The supervisor is gone: its end of the channel closed with it.
                this.done = true;
                let cleanup = this.kill_orphaned_group();
                return Poll::Ready(cleanup.map(|cleanup| LaunchStatus::Orphaned { cleanup }));
            };
            let Ok(status) = serde_json::from_str::<Status>(&line) else {
                continue;
            };
            return Poll::Ready(Some(match status {
                Status::Spawned { pid } => {
                    this.pid = Some(pid);
                    LaunchStatus::Spawned { pid }
                }
                Status::SpawnFailed { error } => LaunchStatus::SpawnFailed { error },
                Status::Exited { code, signal } => {
                    this.exited = true;
                    LaunchStatus::Exited(match (code, signal) {
                        (Some(c), _) => ExitStatus::Code(c),
                        (None, Some(s)) => ExitStatus::Signal(s),
                        _ => ExitStatus::Unknown,
                    })
                }
                Status::Escalated => LaunchStatus::Escalated,
            }));
        }
        Poll::Ready(None)
    }
}
