//! Spare data directories: a kind's `setup` done ahead of time, off the next start's path.
//!
//! For some kinds `setup` is most of a start: the postgres kind copies a cached cluster
//! template of 24 MB and some 900 files, which takes 50 to 500 ms on a virtual machine's
//! disk, more than everything else in a start together. Its result depends only on the
//! service's name, config, user, project and declared environment, so once a bundle is
//! ready the host runs `setup` once more, into a spare directory, while the tests run. The
//! next start of the same service takes the spare over with one `rename` instead of
//! creating an empty data directory, and its own `setup` finds the work done.
//!
//! Only kinds whose `describe` says `setup-ahead` get spares. A spare is written by `setup`
//! alone, before any service process has seen it, so nothing of one run reaches the next.
//!
//! Layout: `<run_root>/spares/<key>/`, the key a hash of everything `setup`'s result may
//! depend on ([`key`]). Inside, `building-<pid>-<n>` while `setup` runs, renamed to
//! `ready-<pid>-<n>` once it succeeded. The run directories are under the same root, so
//! taking a spare is an atomic rename on one file system; when two bundles reach for the
//! same spare, one rename wins and the other starts with an empty directory. One ready
//! spare per key is enough: a start that finds one does not build another until it has
//! taken it.
//!
//! Lifetime: the bundle's `stop` waits for a spare being built (it began when the bundle
//! was ready, so it has had the whole test to finish); dropping the bundle without `stop`,
//! or its kill switch, calls the work off: the helper's process group is killed and the
//! partial directory removed. What a host that died left half built is removed by the
//! next preparation for that key, and keys nobody used for a week go too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::bundle::spec::ServiceSpec;
use crate::plugin::{Plugin, RunAbort, RunEnv, ServiceContext};
use crate::service::hooks::ServiceHooks;

/// The directory under the run root that holds every key's spares.
const SPARES_DIR: &str = "spares";
/// A key directory untouched for this long is removed by the next preparation.
const UNUSED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Names inside a key directory.
const READY: &str = "ready-";
const BUILDING: &str = "building-";

/// Distinguishes the spares one host builds.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The directory of `spec`'s spares: `<run_root>/spares/<kind>-<key>`.
///
/// The key hashes what `setup`'s result may depend on by the `setup-ahead` contract: the
/// kind (its version and its component's hash), the service's name, its config after
/// interpolation, its user, the project directory, its declared environment and whether
/// it inherits the host's.
pub(crate) fn key_dir(
    run_root: &Path,
    project_dir: &Path,
    plugin: &Plugin,
    spec: &ServiceSpec,
) -> PathBuf {
    let info = plugin.describe();
    let config = spec
        .kind
        .as_ref()
        .map_or(serde_json::Value::Null, |k| k.config.clone());
    let material = serde_json::json!({
        "kind": info.name,
        "version": info.version,
        "sha256": plugin.sha256(),
        "service": spec.name,
        "config": config,
        "user": spec.user,
        "project": project_dir,
        "env": spec.env,
        "inherit_env": spec.inherit_env,
    });
    let digest = Sha256::digest(material.to_string().as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    run_root
        .join(SPARES_DIR)
        .join(format!("{}-{hex}", info.name))
}

/// Takes a ready spare of `key_dir` as `data` (which must not exist). `Ok(false)` when
/// there is none, or another start took the last one first.
pub(crate) fn take(key_dir: &Path, data: &Path) -> std::io::Result<bool> {
    let entries = match std::fs::read_dir(key_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut ready: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(READY))
        .map(|e| e.path())
        .collect();
    ready.sort();
    for spare in ready {
        match std::fs::rename(&spare, data) {
            Ok(()) => {
                touch(key_dir);
                return Ok(true);
            }
            // Another start took it between the listing and the rename.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// What preparing one spare needs: the plugin, and the service as it was started.
pub(crate) struct Job {
    pub plugin: Arc<Plugin>,
    pub key_dir: PathBuf,
    pub spec: Arc<ServiceSpec>,
    pub project_dir: PathBuf,
    pub ports: Vec<(String, u16)>,
    /// The service's environment for helpers, without the bundle's clock: `setup-ahead`
    /// work does not depend on the time.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// Told when the spare could not be made (the service's log).
    pub report: Box<dyn Fn(String) + Send>,
}

/// The spares being prepared for one bundle.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    jobs: Vec<(RunAbort, tokio::task::JoinHandle<()>)>,
}

impl Spares {
    /// Starts preparing a spare for `job` on a blocking thread.
    pub(crate) fn prepare(&mut self, job: Job) {
        let abort = RunAbort::default();
        let called_off = abort.clone();
        let handle = tokio::task::spawn_blocking(move || {
            if let Err(reason) = build(job.key_dir.as_path(), &job, &called_off)
                && !called_off.is_aborted()
            {
                (job.report)(format!(
                    "[teamster] no spare data directory for the next start: {reason}"
                ));
            }
        });
        self.jobs.push((abort, handle));
    }

    /// Waits for every spare being prepared.
    pub(crate) async fn finish(&mut self) {
        for (_, handle) in self.jobs.drain(..) {
            let _ = handle.await;
        }
    }

    /// Calls every preparation off: their helpers are killed, their directories removed.
    pub(crate) fn call_off(&self) -> CallOff {
        CallOff(self.jobs.iter().map(|(a, _)| a.clone()).collect())
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.call_off().now();
    }
}

/// Calls spare preparations off, from wherever a bundle is killed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallOff(Vec<RunAbort>);

impl CallOff {
    pub(crate) fn now(&self) {
        for abort in &self.0 {
            abort.abort();
        }
    }
}

/// Builds one spare of `key_dir`, unless one is ready already.
fn build(key_dir: &Path, job: &Job, abort: &RunAbort) -> Result<(), String> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        format!("cannot {what} `{}`: {e}", path.display())
    };
    std::fs::create_dir_all(key_dir).map_err(|e| io("create", key_dir, e))?;
    if let Some(root) = key_dir.parent() {
        prune_unused(root, key_dir);
    }
    let mut has_ready = false;
    for entry in std::fs::read_dir(key_dir)
        .map_err(|e| io("read", key_dir, e))?
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(READY) {
            has_ready = true;
        } else if let Some(owner) = name.strip_prefix(BUILDING).and_then(builder_pid)
            && !crate::process::is_alive(owner)
        {
            // Left by a host that died while building it.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    if has_ready {
        return Ok(());
    }
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let id = format!("{}-{n}", std::process::id());
    let building = key_dir.join(format!("{BUILDING}{id}"));
    std::fs::create_dir(&building).map_err(|e| io("create", &building, e))?;
    let result = fill(&building, job, abort);
    match result {
        Ok(()) => {
            let ready = key_dir.join(format!("{READY}{id}"));
            std::fs::rename(&building, &ready).map_err(|e| {
                let _ = std::fs::remove_dir_all(&building);
                io("rename", &building, e)
            })?;
            touch(key_dir);
            Ok(())
        }
        Err(reason) => {
            let _ = std::fs::remove_dir_all(&building);
            Err(reason)
        }
    }
}

/// Runs the kind's `setup` with `building` as the data directory.
fn fill(building: &Path, job: &Job, abort: &RunAbort) -> Result<(), String> {
    if let Some(user) = &job.spec.user {
        super::start::chown_to(building, user)
            .map_err(|e| format!("cannot hand `{}` to `{user}`: {e}", building.display()))?;
    }
    let kind = job.spec.kind.as_ref().ok_or("the service has no kind")?;
    let data = building.to_string_lossy().into_owned();
    let env = job
        .env
        .iter()
        .map(|(k, v)| {
            let v = if k == "TEAMSTER_DATA_DIR" {
                data.clone()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let ctx = ServiceContext {
        name: job.spec.name.clone(),
        project_dir: job.project_dir.clone(),
        data_dir: building.to_path_buf(),
        ports: job.ports.clone(),
        config: kind.config.clone(),
    };
    let run_env = RunEnv {
        env,
        cwd: job.cwd.clone(),
        user: job.spec.user.clone(),
        extra_env: Vec::new(),
        abort: abort.clone(),
    };
    let service = job
        .plugin
        .instantiate(ctx, run_env, &kind.grants)
        .map_err(|e| crate::error_chain(&e))?;
    // What `setup` logs ("cluster ready") is about the spare, not about the service that
    // runs now; a failure's message carries what matters.
    service.set_log_sink(None);
    service.setup().map_err(|e| crate::error_chain(&e))
}

/// The pid in a `building-<pid>-<n>` name.
fn builder_pid(rest: &str) -> Option<u32> {
    rest.split('-').next()?.parse().ok()
}

/// Removes the key directories under `root` that nobody used for [`UNUSED_FOR`].
fn prune_unused(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let unused = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNUSED_FOR);
        if unused && path != keep {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Marks a key directory as used now, for [`prune_unused`].
fn touch(dir: &Path) {
    if let Ok(file) = std::fs::File::open(dir) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}
