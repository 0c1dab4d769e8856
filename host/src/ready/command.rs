//! The probe-command readiness probe: a program that exits 0 once the service is ready.
//!
//! A probe is run often and must never disturb the service or the console, so it gets no
//! stdin, its stdout is discarded, and only the tail of its stderr is kept to explain a
//! failure. It runs as the service's user, in its own process group, and that group is
//! killed when the attempt ends (exit, timeout or cancellation), so nothing a probe starts
//! outlives its attempt.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::probe::{ProbeContext, ProbeResult};
use crate::process::{Group, GroupGuard, ProcessBuilder};

/// The bound on one run of the probe command.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to keep reading stderr after the probe exited. A background process the probe
/// left behind may hold the pipe open forever; its output is not worth waiting for.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(50);
/// How much of the end of stderr is kept to explain a failure.
const STDERR_TAIL: usize = 4 * 1024;
/// The longest failure explanation taken from stderr, in characters.
const REASON_CHARS: usize = 200;

/// Runs `argv` once; exit status 0 means ready.
///
/// `argv` must not be empty; the caller rejects empty commands as a configuration error.
pub(crate) async fn probe(argv: &[String], ctx: &ProbeContext) -> ProbeResult {
    probe_within(argv, ctx, ATTEMPT_TIMEOUT).await
}

/// [`probe`] with a chosen bound on the run.
pub(crate) async fn probe_within(
    argv: &[String],
    ctx: &ProbeContext,
    limit: Duration,
) -> ProbeResult {
    let shown = shell_words::join(argv);
    let mut cmd = ProcessBuilder::new(&argv[0]).args(&argv[1..]);
    if !ctx.inherit_env {
        cmd = cmd.env_clear();
    }
    cmd = cmd.envs(ctx.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &ctx.cwd {
        cmd = cmd.current_dir(cwd);
    }
    let spawned = cmd
        .user(ctx.user.as_deref())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .group(Group::NewGroup)
        .kill_on_drop(true)
        .into_tokio()
        .map(|mut cmd| cmd.spawn());
    let mut child = match spawned {
        Ok(Ok(child)) => child,
        Ok(Err(e)) => {
            return ProbeResult::not_yet(format!("cannot run probe command `{shown}`: {e}"));
        }
        Err(e) => {
            return ProbeResult::not_yet(format!(
                "cannot run probe command `{shown}`: {}",
                crate::error_chain(&e)
            ));
        }
    };
    // Declared after `child` so that it is dropped first: the group is killed while its
    // leader is not yet reaped, which guarantees the group id still names our processes.
    let mut group = child
        .id()
        .map_or_else(GroupGuard::disarmed, GroupGuard::of_leader);
    let mut stderr_tail = Vec::new();

    let outcome = {
        let stderr = child.stderr.take();
        let read = read_tail(stderr, &mut stderr_tail);
        tokio::pin!(read);
        let run = async {
            let mut read_state = Drain::Open;
            loop {
                tokio::select! {
                    () = &mut read, if read_state == Drain::Open => read_state = Drain::Closed,
                    status = child.wait() => break (status, read_state),
                }
            }
        };
        match tokio::time::timeout(limit, run).await {
            Ok((status, read_state)) => {
                // Kill whatever the probe left running in the background. The leader is
                // reaped, but while any member of its group lives the kernel keeps the group
                // id reserved, so this signal reaches only the probe's leftovers.
                group.kill();
                if read_state == Drain::Open {
                    let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut read).await;
                }
                Outcome::Exited(status)
            }
            Err(_) => Outcome::TimedOut,
        }
    };

    match outcome {
        Outcome::TimedOut => {
            group.kill();
            // SIGKILL cannot be ignored; the bound only guards against a process stuck in the
            // kernel, which is then left to tokio's background reaper.
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            ProbeResult::not_yet(format!(
                "probe command `{shown}` did not finish within {limit:?} and was killed"
            ))
        }
        Outcome::Exited(Err(e)) => {
            ProbeResult::not_yet(format!("cannot wait for probe command `{shown}`: {e}"))
        }
        Outcome::Exited(Ok(status)) if status.success() => ProbeResult::Ready,
        Outcome::Exited(Ok(status)) => {
            ProbeResult::not_yet(failure_reason(&shown, status, &stderr_tail))
        }
    }
}

/// How one run of the probe ended.
enum Outcome {
    /// The probe exited (or waiting for it failed).
    Exited(std::io::Result<ExitStatus>),
    /// The probe outlived its time limit.
    TimedOut,
}

/// Whether the stderr reader has reached end of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// More output may come.
    Open,
    /// End of file or a read error: nothing more will come.
    Closed,
}

/// Describes a failed run: its status and the last line it printed on stderr, if any.
fn failure_reason(shown: &str, status: ExitStatus, stderr_tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr_tail);
    let last_line = text.lines().map(str::trim).rfind(|l| !l.is_empty());
    match last_line {
        Some(line) => {
            let line: String = line.chars().take(REASON_CHARS).collect();
            format!("probe command `{shown}` failed ({status}): {line}")
        }
        None => format!("probe command `{shown}` failed ({status})"),
    }
}

/// Reads `pipe` to its end, keeping only the last [`STDERR_TAIL`] bytes in `tail`.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, tail: &mut Vec<u8>) {
    let Some(mut pipe) = pipe else { return };
    let mut chunk = [0u8; 1024];
    while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
}
