//! The run directory: one folder per run under `<run_root>/runs/`, pruned as runs pile up.
//!
//! Logs outlive the run on purpose: after a failed test the files are what a user reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The folder of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    id: String,
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
        };
        std::fs::write(
            path.join("run.json"),
            serde_json::to_vec_pretty(&info).expect("serializable"),
        )?;
        Ok(RunDir { path, id })
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

/// Removes the oldest runs so that at most `keep` remain, never one whose host still lives.
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
            .is_some_and(|i| {
                i.host_pid != std::process::id() && crate::process::is_alive(i.host_pid)
            });
        if !alive {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
