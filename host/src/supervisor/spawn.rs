//! Host side: starting a supervisor and wiring its pipes.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use super::protocol::{STATUS_FD, SuperviseSpec};

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
    /// Creating a pipe or spawning failed.
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
    /// Control pipe (write `Control` lines; drop it to make the supervisor stop the tree).
    pub control: ChildStdin,
    /// The service's stdout.
    pub stdout: ChildStdout,
    /// The service's stderr.
    pub stderr: ChildStderr,
    /// Status lines from the supervisor.
    pub status: tokio::net::unix::pipe::Receiver,
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
pub fn spawn_supervisor(
    bin: &std::path::Path,
    spec: &SuperviseSpec,
) -> Result<SpawnedSupervisor, SupervisorError> {
    let err = |source| SupervisorError::Spawn {
        service: spec.name.clone(),
        source,
    };
    let json = serde_json::to_string(spec).expect("a supervise spec always serializes");
    let (status_rx, status_tx): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| err(e.into()))?;
    let status_tx_raw = status_tx.as_raw_fd();

    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("__supervise")
        .arg(json)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C must reach only the host, which
        // decides the order in which services stop.
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: dup2 is async-signal-safe; it runs in the forked child before exec. The
    // duplicate on fd 3 has no CLOEXEC, so the supervisor inherits it.
    unsafe {
        cmd.pre_exec(move || {
            if status_tx_raw == STATUS_FD {
                // dup2 onto itself keeps CLOEXEC; clear it by hand.
                if libc::fcntl(STATUS_FD, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(status_tx_raw, STATUS_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(err)?;
    // Our copy of the write end must go, or we would never see EOF on the status pipe.
    drop(status_tx);
    let status = tokio::net::unix::pipe::Receiver::from_owned_fd(status_rx).map_err(err)?;
    let control = child.stdin.take().expect("stdin is piped");
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
