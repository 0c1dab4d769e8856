//! Finding a process's children and all its descendants.
//!
//! The fast path reads `/proc/<pid>/task/<tid>/children` (every thread can be a parent),
//! which costs a few reads per process in the tree. Kernels built without
//! `CONFIG_PROC_CHILDREN` lack those files; there every process's parent is read from
//! `/proc/<pid>/stat` instead, which costs one read per process on the machine.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::sync::OnceLock;

use super::stats::read_stat;

/// The pids of `pid`'s direct children, in no particular order; empty if `pid` is gone.
pub fn children(pid: u32) -> Vec<u32> {
    if children_files_available() {
        children_from_tasks(pid)
    } else {
        parent_map().remove(&pid).unwrap_or_default()
    }
}

/// The pids of every descendant of `pid` (children, grandchildren, …), parents before their
/// children, `pid` itself excluded; empty if `pid` is gone.
///
/// Processes that exit during the walk are skipped, and a pid seen twice (reused while the
/// walk ran) is listed once, so the walk always terminates.
pub fn descendants(pid: u32) -> Vec<u32> {
    if children_files_available() {
        walk(pid, children_from_tasks)
    } else {
        descendants_by_scan(pid)
    }
}

/// [`descendants`] computed from every process's parent pid, as on kernels without the
/// per-thread `children` files.
pub(crate) fn descendants_by_scan(pid: u32) -> Vec<u32> {
    let mut by_parent = parent_map();
    walk(pid, |p| by_parent.remove(&p).unwrap_or_default())
}

/// Breadth-first walk from `root` with `children_of`, never visiting a pid twice.
fn walk(root: u32, mut children_of: impl FnMut(u32) -> Vec<u32>) -> Vec<u32> {
    let mut seen = HashSet::from([root]);
    let mut order = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(pid) = queue.pop_front() {
        for child in children_of(pid) {
            if seen.insert(child) {
                order.push(child);
                queue.push_back(child);
            }
        }
    }
    order
}

/// Whether this kernel has `/proc/<pid>/task/<tid>/children`; checked once.
fn children_files_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let me = std::process::id();
        fs::metadata(format!("/proc/{me}/task/{me}/children")).is_ok()
    })
}

/// Direct children from the `children` files of every thread of `pid`.
fn children_from_tasks(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut kids = Vec::new();
    for task in tasks.flatten() {
        let mut path = task.path();
        path.push("children");
        // A thread that exited since the listing has no file any more; that is not an error.
        if let Ok(text) = fs::read_to_string(&path) {
            kids.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    kids
}

/// Every live process's pid, grouped by parent pid.
fn parent_map() -> HashMap<u32, Vec<u32>> {
    let mut by_parent: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return by_parent;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(stat) = read_stat(pid) {
            by_parent.entry(stat.ppid).or_default().push(pid);
        }
    }
    by_parent
}
