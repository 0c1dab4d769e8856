//! Running helper programs for plugins (`host.run`) and finding them (`host.find-program`).
//!
//! A plugin cannot spawn processes; it asks the host, which runs the program the way the
//! service itself runs: the service's environment (including the clock variables), working
//! directory and user, with default signal dispositions (the one process builder,
//! `process::builder`). The child gets its own process group so a timeout kills whatever it
//! started too, and its output is read to a bound so a chatty program cannot exhaust memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::process::builder::{find_in_dirs, is_executable};
use crate::process::{Group, ProcessBuilder, SpawnError};

/// Directories searched after PATH: where distributions hide server binaries.
const POSTGRES_LIB: &str = "/usr/lib/postgresql";

/// The environment helper programs run in: the service's, so `psql` sees the same
/// variables, user and (travelled) clock as the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunEnv {
    /// The service's complete environment (not added to the host's).
    pub env: Vec<(String, String)>,
    /// The service's working directory.
    pub cwd: PathBuf,
    /// The user to run as, when the host runs as root and the service must not.
    pub user: Option<String>,
    /// Variables added last, such as the clock preload settings.
    pub extra_env: Vec<(String, String)>,
    /// Kills the helpers of this environment on demand; by default nobody does.
    pub abort: RunAbort,
}

/// Kills the helper programs running in one [`RunEnv`], and refuses to start more, when
/// asked from another thread: for plugin work nobody waits for (a spare data directory
/// being prepared while the bundle stops), whose `setup` would otherwise run its helper to
/// the end.
#[derive(Clone, Default)]
pub struct RunAbort(Arc<Mutex<AbortState>>);

#[derive(Default)]
struct AbortState {
    aborted: bool,
    /// The process groups (their leaders' pids) of the helpers running now.
    running: Vec<u32>,
}

impl RunAbort {
    /// Kills every helper running now and makes later runs fail at once.
    pub fn abort(&self) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.aborted = true;
        for leader in state.running.drain(..) {
            crate::process::GroupGuard::of_leader(leader).kill();
        }
    }

    /// Whether [`RunAbort::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).aborted
    }

    /// Registers a helper's group; false when aborted already (the caller kills it).
    fn enter(&self, leader: u32) -> bool {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if state.aborted {
            return false;
        }
        state.running.push(leader);
        true
    }

    /// Unregisters a helper's group once its leader was reaped.
    fn leave(&self, leader: u32) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.running.retain(|&l| l != leader);
    }
}

impl PartialEq for RunAbort {
    fn eq(&self, other: &RunAbort) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RunAbort {}

impl std::fmt::Debug for RunAbort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunAbort")
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

impl RunEnv {
    /// The value of `key` as the service sees it.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.extra_env
            .iter()
            .chain(self.env.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What to run.
#[derive(Debug)]
pub(crate) struct RunRequest<'a> {
    pub(crate) program: &'a Path,
    pub(crate) args: &'a [String],
    pub(crate) env: &'a [(String, String)],
    pub(crate) cwd: Option<&'a Path>,
    pub(crate) stdin: Option<&'a str>,
    pub(crate) timeout: Duration,
    pub(crate) max_output: usize,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunOutput {
    pub(crate) exit_code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `req` in `run_env`, killing its process group past the timeout. Errors are strings
/// because they go back to the plugin, which passes them on to the user.
pub(crate) fn run(run_env: &RunEnv, req: &RunRequest<'_>) -> Result<RunOutput, String> {
    let program = req.program.display();
    let spawned = ProcessBuilder::new(req.program)
        .args(req.args)
        .env_clear()
        .envs(run_env.env.iter().map(|(k, v)| (k, v)))
        .envs(run_env.extra_env.iter().map(|(k, v)| (k, v)))
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .current_dir(req.cwd.unwrap_or(&run_env.cwd))
        .stdin(if req.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // As the service runs: its user (with its HOME, since programs that keep caches
        // there, the postgres kind's templates, must see their own), default signals.
        .user(run_env.user.as_deref())
        .group(Group::NewGroup)
        .kill_on_drop(true)
        .spawn();
    let (mut group, mut child) = match spawned {
        Ok(spawned) => spawned.into_parts(),
        Err(SpawnError::NoUser { user }) => return Err(format!("no such user `{user}`")),
        Err(e @ SpawnError::LookupUser { .. }) => return Err(crate::error_chain(&e)),
        Err(SpawnError::NotExecutable { source, .. } | SpawnError::Spawn { source, .. }) => {
            return Err(format!("cannot start `{program}`: {source}"));
        }
        Err(e) => {
            return Err(format!(
                "cannot start `{program}`: {}",
                crate::error_chain(&e)
            ));
        }
    };

    let leader = child.id();
    if !run_env.abort.enter(leader) {
        group.kill();
        let _ = child.wait();
        return Err(format!(
            "`{program}` was not started: the work was called off"
        ));
    }
    let stdin_writer = match (child.stdin.take(), req.stdin) {
        (Some(mut pipe), Some(input)) => {
            let input = input.to_owned();
            // A program that exits without reading its input gets EPIPE here; that is its
            // business, so the write error is ignored.
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            }))
        }
        _ => None,
    };
    let max = req.max_output;
    let out_reader = child
        .stdout
        .take()
        .map(|pipe| std::thread::spawn(move || read_bounded(pipe, max)));
    let err_reader = child
        .stderr
        .take()
        .map(|pipe| std::thread::spawn(move || read_bounded(pipe, max)));

    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let timed_out = match rx.recv_timeout(req.timeout) {
        Ok(()) => false,
        Err(_) => {
            // Kill the whole group: a shell's children would otherwise keep the pipes open.
            group.kill();
            true
        }
    };
    let status = waiter.join();
    run_env.abort.leave(leader);
    let status = status
        .map_err(|_| format!("waiting for `{program}` failed"))?
        .map_err(|e| format!("waiting for `{program}` failed: {e}"))?;
    if timed_out {
        // The group may still hold the pipes if a grandchild escaped it; don't wait for them.
        return Err(format!(
            "`{program}` did not finish within {:?} and was killed",
            req.timeout
        ));
    }
    if let Some(writer) = stdin_writer {
        let _ = writer.join();
    }
    let stdout = out_reader
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    let stderr = err_reader
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    Ok(RunOutput {
        exit_code: status.code(),
        stdout,
        stderr,
    })
}

/// Reads a pipe to EOF, keeping at most `max` bytes and draining the rest so the writer
/// never blocks on a full pipe.
fn read_bounded(mut pipe: impl Read, max: usize) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut dropped = false;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = max.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped |= n > room;
            }
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if dropped {
        text.push_str("\n[output truncated]");
    }
    text
}

/// The name under which plugins find the host's own binary, for the programs it ships
/// (`teamster smtp-sink`).
pub(crate) const HOST_PROGRAM: &str = "teamster";

/// Finds `name` the way `host.run` will: the service's PATH, then the newest
/// `/usr/lib/postgresql/<version>/bin`. A name with a slash is returned as is if it exists.
///
/// `teamster` is the host binary itself (the one the supervisor re-executes), whatever is
/// on PATH: a kind wrapping a program the host ships must get the version it talks to.
pub(crate) fn find_program(run_env: &RunEnv, name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name == HOST_PROGRAM {
        return crate::supervisor::supervisor_binary().ok();
    }
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    let path_var = run_env
        .var("PATH")
        .map(str::to_owned)
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path_var)
        .filter(|d| d.is_absolute())
        .collect();
    dirs.extend(postgres_bin_dirs());
    find_in_dirs(name.as_ref(), dirs)
}

/// `/usr/lib/postgresql/*/bin`, newest major version first.
fn postgres_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(POSTGRES_LIB) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}
