//! One cgroup (v2) per service, where the host may make them: the last line of defence.
//!
//! A supervisor keeps its service's tree in check while it lives (process group, subreaper,
//! descendants). If the host and every supervisor are SIGKILLed at once, a daemon that left
//! its process group would be out of anyone's reach; a cgroup is not: every process the
//! service ever forked stays in it, and `cgroup.kill` ends them all, whatever they did.
//! So, where the host runs as root with a writable cgroup2 hierarchy (detected at run time,
//! no configuration), each service's supervisor joins `<own cgroup>/teamster-<pid>-<n>/<svc>`
//! before it spawns the service, `run.json` records the path, and a later `teamster`
//! command of the project kills what a dead host left there. Without cgroups everything
//! works as before, with process groups recorded instead.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static RUNS: AtomicU32 = AtomicU32::new(0);

/// The cgroup2 directory of this process, if cgroup2 is mounted and this process may
/// create cgroups below its own.
fn own_cgroup() -> Option<PathBuf> {
    if !nix::unistd::Uid::effective().is_root() {
        return None;
    }
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|line| {
        // `... mount-point ... - cgroup2 ...`
        let (before, after) = line.split_once(" - ")?;
        after
            .starts_with("cgroup2 ")
            .then(|| before.split(' ').nth(4))?
    })?;
    Some(Path::new(mount).join(own.trim_start_matches('/')))
}

/// Creates a cgroup for one run of this host, if cgroups can be used here.
pub fn create_run_group() -> Option<PathBuf> {
    let base = own_cgroup()?;
    sweep_dead_hosts(&base);
    let dir = base.join(format!(
        "teamster-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir).ok()?;
    // Only a hierarchy that can kill is worth recording.
    if !dir.join("cgroup.kill").exists() {
        let _ = std::fs::remove_dir(&dir);
        return None;
    }
    Some(dir)
}

/// Removes the empty run groups that dead hosts left beside ours. A host and its
/// supervisors SIGKILLed together leave `teamster-<pid>-<n>` behind; a later command in that
/// project kills what is in it, but when the project is gone (a test's temporary directory)
/// nobody would look again. Only groups whose host is dead go, and only empty ones (the
/// kernel refuses to remove a cgroup with a process in it): the processes of a dead host's
/// services are for that project's reaper, which knows them.
fn sweep_dead_hosts(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(host) = name
            .to_str()
            .and_then(|n| n.strip_prefix("teamster-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if host == std::process::id() || crate::process::is_alive(host) {
            continue;
        }
        let run = entry.path();
        if let Ok(services) = std::fs::read_dir(&run) {
            for service in services.flatten().filter(|s| s.path().is_dir()) {
                let _ = std::fs::remove_dir(service.path());
            }
        }
        let _ = std::fs::remove_dir(&run);
    }
}

/// Creates the cgroup of one service inside a run's.
pub fn create_service_group(run: &Path, service: &str) -> Option<PathBuf> {
    let dir = run.join(service);
    std::fs::create_dir(&dir).ok().map(|()| dir)
}

/// Moves the calling process into `group` (its children follow).
pub fn join(group: &Path) -> std::io::Result<()> {
    std::fs::write(group.join("cgroup.procs"), std::process::id().to_string())
}

/// For a supervisor whose service is gone: moves the calling process out of its service's
/// cgroup (to the host's own) and removes the service's cgroup, and the run's once it is
/// the last. So a run whose host died leaves no empty cgroup behind either.
pub fn leave_and_remove(group: &Path) {
    let Some(run) = group.parent() else { return };
    let Some(host) = run.parent() else { return };
    if std::fs::write(host.join("cgroup.procs"), std::process::id().to_string()).is_ok() {
        let _ = std::fs::remove_dir(group);
        let _ = std::fs::remove_dir(run);
    }
}

/// The pids in `group` now.
pub fn members(group: &Path) -> Vec<u32> {
    std::fs::read_to_string(group.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// SIGKILLs every process of `group` (and of groups below it), waits (bounded) until it is
/// empty and removes it. Returns how many processes were in it.
pub fn kill_and_remove(group: &Path) -> usize {
    if !group.exists() {
        return 0;
    }
    let mut count = members(group).len();
    if let Ok(rd) = std::fs::read_dir(group) {
        for child in rd.flatten().filter(|e| e.path().is_dir()) {
            count += kill_and_remove(&child.path());
        }
    }
    let _ = std::fs::write(group.join("cgroup.kill"), "1");
    let end = Instant::now() + Duration::from_secs(5);
    while !members(group).is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    remove(group);
    count
}

/// Removes `group` and its empty children (a cgroup with processes cannot be removed; it
/// is then left for the reaper).
pub fn remove(group: &Path) {
    if let Ok(rd) = std::fs::read_dir(group) {
        for child in rd.flatten().filter(|e| e.path().is_dir()) {
            let _ = std::fs::remove_dir(child.path());
        }
    }
    let _ = std::fs::remove_dir(group);
}
