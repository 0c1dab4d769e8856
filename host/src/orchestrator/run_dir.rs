//! The run directory: one folder per run under `<run_root>/runs/`, pruned as runs pile up.
//!
//! Logs outlive the run on purpose: after a failed test the files are what a user reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The run's spawned services, one JSON [`ServiceRecord`] per line.
const SERVICES_FILE: &str = "services.jsonl";

/// The services recorded in `dir`'s `services.jsonl`; a line cut short by a host killed
/// while writing it is skipped.
fn recorded_services(dir: &Path) -> Vec<ServiceRecord> {
    std::fs::read_to_string(dir.join(SERVICES_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The folder of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    id: String,
    /// The run's cgroup, when the host could make one.
    cgroup: Option<PathBuf>,
}

/// One service's processes, as `services.jsonl` records them for the reaper.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServiceRecord {
    /// The service.
    pub name: String,
    /// Its main process, also its process group.
    pub pid: u32,
    /// The main process's start time in clock ticks (tells it from a reused pid).
    pub started: Option<u64>,
    /// Its cgroup, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
}

/// What `run.json` records, so other `teamster` commands can find a running bundle.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// Pid of the host process.
    pub host_pid: u32,
    /// The bundle file, if any.
    pub bundle: Option<PathBuf>,
    /// Start time, RFC 3339.
    pub started: String,
    /// The control socket of the host, when it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// The host's start time in clock ticks (tells it from a reused pid).
    #[serde(default)]
    pub host_started: Option<u64>,
    /// The run's cgroup, when the host made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
    /// Set once every process of the run is gone (a clean stop, or a reap).
    #[serde(default)]
    pub ended: bool,
}

impl RunDir {
    /// Creates `<root>/runs/<id>/{logs,data}` and prunes old runs beyond `keep`.
    pub fn create(
        root: &Path,
        keep: usize,
        bundle: Option<&Path>,
        socket: Option<&Path>,
    ) -> std::io::Result<RunDir> {
        let runs = root.join("runs");
        std::fs::create_dir_all(&runs)?;
        // What a dead host left is killed before its record can be pruned.
        reap_dead(root);
        prune(&runs, keep.saturating_sub(1));
        let now = chrono::Local::now();
        let id = format!(
            "{}-{}-{}",
            now.format("%Y%m%d-%H%M%S%.3f"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = runs.join(&id);
        std::fs::create_dir_all(path.join("logs"))?;
        std::fs::create_dir_all(path.join("data"))?;
        let info = RunInfo {
            host_pid: std::process::id(),
            bundle: bundle.map(Path::to_path_buf),
            started: now.to_rfc3339(),
            socket: socket.map(Path::to_path_buf),
            host_started: crate::process::start_ticks(std::process::id()),
            cgroup: None,
            ended: false,
        };
        std::fs::write(
            path.join("run.json"),
            serde_json::to_vec_pretty(&info).expect("serializable"),
        )?;
        Ok(RunDir {
            path,
            id,
            cgroup: None,
        })
    }

    /// Gives the run a cgroup (see `process::cgroup`) if the host may make one, and
    /// records it.
    pub(crate) fn make_cgroup(&mut self) {
        self.cgroup = crate::process::cgroup::create_run_group();
        if let Some(group) = self.cgroup.clone() {
            let _ = self.record(|info| info.cgroup = Some(group));
        }
    }

    /// The run's cgroup.
    pub(crate) fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_deref()
    }

    /// Rewrites `run.json` (atomically) with `change` applied.
    pub(crate) fn record(&self, change: impl FnOnce(&mut RunInfo)) -> std::io::Result<()> {
        update_info(&self.path, change)
    }

    /// Appends spawned services to `services.jsonl`, one line each.
    ///
    /// A separate file, appended to, rather than a list in `run.json`: rewriting the whole
    /// record for every service spawned made a bundle's start quadratic in its size.
    pub(crate) fn record_services(&self, records: &[ServiceRecord]) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut lines = Vec::new();
        for r in records {
            serde_json::to_writer(&mut lines, r).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(SERVICES_FILE))?
            .write_all(&lines)
    }

    /// The run is over: every process is gone. Its cgroups are removed.
    pub(crate) fn end(&self) {
        if let Some(group) = &self.cgroup {
            crate::process::cgroup::remove(group);
        }
        let _ = self.record(|info| info.ended = true);
    }

    /// The run's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's id (its folder name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where log files go.
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// A service's private data folder.
    pub fn data(&self, service: &str) -> PathBuf {
        self.path.join("data").join(service)
    }

    /// Points `<root>/current` at this run, atomically, so `teamster exec` and friends find it.
    pub fn publish(&self, root: &Path) -> std::io::Result<()> {
        let tmp = root.join(format!(".current.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("runs").join(&self.id), &tmp)?;
        std::fs::rename(&tmp, root.join("current"))
    }
}

fn update_info(dir: &Path, change: impl FnOnce(&mut RunInfo)) -> std::io::Result<()> {
    let path = dir.join("run.json");
    let mut info: RunInfo =
        serde_json::from_slice(&std::fs::read(&path)?).map_err(std::io::Error::other)?;
    change(&mut info);
    let tmp = dir.join(".run.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&info).expect("serializable"),
    )?;
    std::fs::rename(&tmp, &path)
}

/// What the reaper did to one dead run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// The run's id.
    pub run: String,
    /// Its host's pid.
    pub host_pid: u32,
    /// How many processes were killed.
    pub processes: usize,
}

/// Whether the process recorded as (`pid`, `started`) is still that process.
fn same_process(pid: u32, started: Option<u64>) -> bool {
    match (crate::process::start_ticks(pid), started) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Kills what the dead hosts of `root`'s runs left behind: every process of their
/// services' cgroups, or, without cgroups, their process groups (checked by start time, so
/// a reused pid is never hit). Each run is reaped once; a run whose host lives is left.
pub fn reap_dead(root: &Path) -> Vec<Reaped> {
    let Ok(rd) = std::fs::read_dir(root.join("runs")) else {
        return Vec::new();
    };
    let mut reaped = Vec::new();
    for dir in rd.flatten().map(|e| e.path()) {
        let Some(info) = std::fs::read(dir.join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<RunInfo>(&b).ok())
        else {
            continue;
        };
        if info.ended || same_process(info.host_pid, info.host_started) {
            continue;
        }
        let mut processes = 0;
        for service in &recorded_services(&dir) {
            if let Some(group) = &service.cgroup
                && group.exists()
            {
                processes += crate::process::cgroup::kill_and_remove(group);
                continue;
            }
            if same_process(service.pid, service.started) {
                let group = nix::unistd::Pid::from_raw(service.pid as i32);
                let members = crate::process::descendants(service.pid).len() + 1;
                if nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).is_ok() {
                    processes += members;
                }
            }
        }
        if let Some(group) = &info.cgroup {
            processes += crate::process::cgroup::kill_and_remove(group);
        }
        let _ = update_info(&dir, |i| i.ended = true);
        if processes > 0 {
            reaped.push(Reaped {
                run: dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                host_pid: info.host_pid,
                processes,
            });
        }
    }
    reaped
}

/// Removes the oldest runs so that at most `keep` remain, never one that has not ended
/// while its host lives.
fn prune(runs: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(runs) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    if dirs.len() <= keep {
        return;
    }
    // Names start with a sortable timestamp.
    dirs.sort();
    let excess = dirs.len() - keep;
    for dir in dirs.into_iter().take(excess) {
        let alive = std::fs::read(dir.join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<RunInfo>(&b).ok())
            // A run lives until it ends, whichever process runs it: this one too, since
            // one test process may run several bundles of one project at once.
            .is_some_and(|i| !i.ended && same_process(i.host_pid, i.host_started));
        if !alive {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
