//! Host side: starting a supervisor and wiring its pipes (the local backend's launch).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf, pipe};

use crate::backend::LaunchSpec;
use crate::process::{Group, ProcessBuilder, find_program};

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
    /// Starting the supervisor's program failed.
    #[error("cannot start the supervisor of service `{service}`")]
    Exec {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: crate::process::SpawnError,
    },
    /// The launch spec could not be written for the supervisor (a path that is not UTF-8).
    #[error("cannot describe service `{service}` to its supervisor")]
    Describe {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Creating the channel or its pipes failed.
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
    /// The supervisor's pid.
    pub pid: u32,
    /// Control direction of the channel (write `Control` lines; drop it to make the
    /// supervisor stop the tree).
    pub control: OwnedWriteHalf,
    /// The service's stdout.
    pub stdout: pipe::Receiver,
    /// The service's stderr.
    pub stderr: pipe::Receiver,
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
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        if let Some(found) = find_program(Path::new("teamster"), Some(&path), &cwd) {
            return Ok(found);
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

/// Starts the supervisor of one service: forked by the process's spawner (see
/// [`super::spawner`]), or, if that fails, `teamster __supervise` exec'd directly.
///
/// The channel is a socket pair on the supervisor's stdin rather than a pipe per direction
/// on extra descriptors: with nothing to arrange between fork and exec, the direct path
/// spawns with `posix_spawn` (a vfork), so the host's page tables are neither copied nor
/// left copy-on-write for the host to fault on afterwards.
///
/// The supervisor is not waited for: its end of the status channel closing says it is
/// gone. A directly spawned one is reaped by tokio in the background; the spawner's are
/// reaped by the kernel.
pub fn spawn_supervisor(
    bin: &std::path::Path,
    spec: &LaunchSpec,
) -> Result<SpawnedSupervisor, SupervisorError> {
    let err = |source| SupervisorError::Spawn {
        service: spec.service.clone(),
        source,
    };
    let json = serde_json::to_string(spec).map_err(|source| SupervisorError::Describe {
        service: spec.service.clone(),
        source,
    })?;
    // Every descriptor is created close-on-exec, so no other child inherits one; the
    // supervisor gets its copies as fds 0, 1 and 2, which clears the flag on those only.
    let (host_end, sup_end) = std::os::unix::net::UnixStream::pair().map_err(err)?;
    host_end.set_nonblocking(true).map_err(err)?;
    let (out_r, out_w) = cloexec_pipe().map_err(err)?;
    let (err_r, err_w) = cloexec_pipe().map_err(err)?;
    let fds = [sup_end.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
    let pid = match super::spawner::spawn(bin, json.as_bytes(), fds) {
        Ok(pid) => pid,
        Err(_) => {
            let child = ProcessBuilder::new(bin)
                .arg("__supervise")
                .arg(&json)
                .stdin(Stdio::from(OwnedFd::from(sup_end)))
                .stdout(Stdio::from(out_w))
                .stderr(Stdio::from(err_w))
                // Its own process group: a terminal's Ctrl-C must reach only the host,
                // which decides the order in which services stop.
                .group(Group::NewGroup)
                // It sets up its own signals and resets them for the service; inheriting
                // them keeps this spawn free of code between fork and exec.
                .inherit_signals()
                .spawn_tokio()
                .map_err(|source| SupervisorError::Exec {
                    service: spec.service.clone(),
                    source,
                })?;
            child.id().unwrap_or(0)
        }
    };
    // On the spawner path the supervisor's ends are still held here; they close when this
    // function returns, or the host would never see EOF on them.
    let (status, control) = tokio::net::UnixStream::from_std(host_end)
        .map_err(err)?
        .into_split();
    Ok(SpawnedSupervisor {
        pid,
        control,
        stdout: pipe::Receiver::from_owned_fd(out_r).map_err(err)?,
        stderr: pipe::Receiver::from_owned_fd(err_r).map_err(err)?,
        status,
    })
}

fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}
