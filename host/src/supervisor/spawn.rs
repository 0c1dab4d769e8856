//! Host side: starting a supervisor and wiring its pipes.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStderr, ChildStdout};

use super::protocol::SuperviseSpec;

/// Why a supervisor could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The `teamster` binary used to re-exec the supervisor was not found.
    #[error(
        "cannot find the `teamster` binary to run the supervisor (looked in: {looked}); set TEAMSTER_BIN"
    )]
    BinaryNotFound {
        /// The places that were searched.
        looked: String,
    },
    /// Creating the channel or spawning failed.
    #[error("cannot start the supervisor of service `{service}`")]
    Spawn {
        /// The service.
        service: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A running supervisor and the host ends of its pipes.
#[derive(Debug)]
pub struct SpawnedSupervisor {
    /// The supervisor process.
    pub child: Child,
    /// Control direction of the channel (write `Control` lines; drop it to make the
    /// supervisor stop the tree).
    pub control: OwnedWriteHalf,
    /// The service's stdout.
    pub stdout: ChildStdout,
    /// The service's stderr.
    pub stderr: ChildStderr,
    /// Status direction of the channel: JSON lines from the supervisor, EOF when it is gone.
    pub status: OwnedReadHalf,
}

/// Finds the `teamster` binary: `TEAMSTER_BIN`, the current executable if it is teamster,
/// then next to the current executable and one level up (cargo puts test binaries in
/// `target/<profile>/deps`), then `PATH`.
pub fn supervisor_binary() -> Result<PathBuf, SupervisorError> {
    let mut looked = Vec::new();
    if let Some(p) = std::env::var_os("TEAMSTER_BIN") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        looked.push(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "teamster") {
            return Ok(exe);
        }
        if let Some(dir) = exe.parent() {
            for cand in [dir.join("teamster"), dir.join("../teamster")] {
                if cand.is_file() {
                    return Ok(cand);
                }
                looked.push(cand);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join("teamster");
            if cand.is_file() {
                return Ok(cand);
            }
        }
        looked.push(PathBuf::from("$PATH"));
    }
    Err(SupervisorError::BinaryNotFound {
        looked: looked
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Starts `teamster __supervise` for one service.
///
/// The channel is a socket pair on the supervisor's stdin rather than a pipe per direction
/// on extra descriptors: with nothing to arrange between fork and exec, std spawns with
/// `posix_spawn` (a vfork), so the host's page tables are neither copied nor left
/// copy-on-write for the host to fault on afterwards. That is most of the per-service cost
/// of a large bundle.
pub fn spawn_supervisor(
    bin: &std::path::Path,
    spec: &SuperviseSpec,
) -> Result<SpawnedSupervisor, SupervisorError> {
    let err = |source| SupervisorError::Spawn {
        service: spec.name.clone(),
        source,
    };
    let json = serde_json::to_string(spec).expect("a supervise spec always serializes");
    // Both ends close on exec; the supervisor's end reaches it as fd 0 through a dup2,
    // which clears the flag on the copy only.
    let (host_end, sup_end) = std::os::unix::net::UnixStream::pair().map_err(err)?;
    host_end.set_nonblocking(true).map_err(err)?;

    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("__supervise")
        .arg(json)
        .stdin(Stdio::from(OwnedFd::from(sup_end)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C must reach only the host, which
        // decides the order in which services stop.
        .process_group(0)
        .kill_on_drop(false);
    let mut child = cmd.spawn().map_err(err)?;
    // `cmd` still holds the supervisor's end; it must go, or the host would keep the
    // channel open on the supervisor's side and never see its EOF.
    drop(cmd);
    let (status, control) = tokio::net::UnixStream::from_std(host_end)
        .map_err(err)?
        .into_split();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    Ok(SpawnedSupervisor {
        child,
        control,
        stdout,
        stderr,
        status,
    })
}
