//! Finding the IPython kernel a service embedded with `IPython.embed_kernel()`, so that a
//! developer can open a console on an app paused in the middle of a test
//! (`teamster kernel SERVICE`, the control method `kernel`, Python's `connect_to_kernel`).
//!
//! An embedded kernel prints only its connection file's *name*
//! (`--existing kernel-1234.json`). The file itself is in the Jupyter runtime directory of
//! the process that embedded the kernel, and where that is depends on that process's
//! environment (`JUPYTER_RUNTIME_DIR`, `HOME`, the XDG variables) and working directory,
//! not on the client's. A service commonly runs with its own `HOME` or user, and the kernel
//! may live in a child (Django's auto-reloader, a Celery pool process). So the host, which
//! started the service, looks the file up from the environment and working directory of
//! every process in the service's tree, read from /proc.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::logs::{LogLine, LogWaitError, Logs};

/// The text an embedded kernel prints before its connection file's name.
const MARKER: &str = "--existing ";

/// A kernel found in a service's log and on disk.
#[derive(Debug, Clone)]
pub struct KernelConnection {
    /// The kernel's connection file: what `jupyter console --existing` takes.
    pub file: PathBuf,
    /// The log line that announced it.
    pub line: LogLine,
}

/// Why no kernel could be connected to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// No kernel announced itself in the service's log in time.
    #[error(
        "service `{service}` announced no IPython kernel (`IPython.embed_kernel()` announces one)"
    )]
    NoAnnouncement {
        /// The service.
        service: String,
        /// The failed wait, with the service's last lines.
        #[source]
        source: LogWaitError,
    },
    /// The service announced a kernel, but has no process to find its file through.
    #[error("service `{service}` announced kernel `{name}` but has no process any more")]
    NoProcess {
        /// The service.
        service: String,
        /// The connection file's name as printed.
        name: String,
    },
    /// The connection file is in none of the places the service's processes would put it.
    #[error(
        "service `{service}` announced kernel `{name}`, but no such file is in {}",
        searched_text(.searched)
    )]
    FileNotFound {
        /// The service.
        service: String,
        /// The connection file's name as printed.
        name: String,
        /// The directories looked in.
        searched: Vec<PathBuf>,
    },
}

fn searched_text(searched: &[PathBuf]) -> String {
    if searched.is_empty() {
        return "any directory of its processes (none could be read)".to_owned();
    }
    searched
        .iter()
        .map(|d| format!("`{}`", d.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The connection file name a log line announces, if it is a kernel's announcement.
pub fn announced_file(text: &str) -> Option<&str> {
    let rest = &text[text.find(MARKER)? + MARKER.len()..];
    let name = rest.split_whitespace().next()?;
    name.ends_with(".json").then_some(name)
}

/// Waits up to `timeout` for `service`'s kernel: the newest announcement already in `logs`,
/// or else the next one, and then its connection file, looked up through the processes of
/// the tree whose root `pid` gives (asked for after the announcement, since a starting
/// service may have none before).
pub async fn find(
    service: &str,
    logs: &Logs,
    pid: impl Fn() -> Option<u32>,
    timeout: Duration,
) -> Result<KernelConnection, KernelError> {
    let deadline = Instant::now() + timeout;
    let newest = logs.lines().ok().and_then(|lines| {
        lines
            .into_iter()
            .rev()
            .find(|l| announced_file(&l.text).is_some())
    });
    let line = match newest {
        Some(line) => line,
        None => {
            let predicate =
                crate::line_where("a `--existing kernel-….json` line", |l: &LogLine| {
                    announced_file(&l.text).is_some()
                });
            // Every line there was had no announcement: looking a little way back again
            // covers one printed between the read above and the start of the wait.
            logs.until(predicate, timeout)
                .lines_back(64)
                .await
                .map_err(|source| KernelError::NoAnnouncement {
                    service: service.to_owned(),
                    source,
                })?
        }
    };
    let name = announced_file(&line.text)
        .expect("the line was chosen for its announcement")
        .to_owned();
    // The kernel writes its file before it prints the name; a little patience covers a
    // file system that shows it late, never beyond the caller's deadline.
    loop {
        let Some(root) = pid() else {
            return Err(KernelError::NoProcess {
                service: service.to_owned(),
                name,
            });
        };
        match locate(&name, root) {
            Ok(file) => return Ok(KernelConnection { file, line }),
            Err(searched) if Instant::now() >= deadline => {
                return Err(KernelError::FileNotFound {
                    service: service.to_owned(),
                    name,
                    searched,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Finds the connection file `name` through the processes of `root`'s tree; on failure,
/// the directories searched.
fn locate(name: &str, root: u32) -> Result<PathBuf, Vec<PathBuf>> {
    let named = Path::new(name);
    if named.is_absolute() {
        return if named.is_file() {
            Ok(named.to_owned())
        } else {
            Err(vec![named.parent().unwrap_or(named).to_owned()])
        };
    }
    let mut searched: Vec<PathBuf> = Vec::new();
    let mut pids = vec![root];
    pids.extend(crate::process::descendants(root));
    for pid in pids {
        for dir in runtime_dirs(pid) {
            if searched.contains(&dir) {
                continue;
            }
            let candidate = dir.join(named);
            if candidate.is_file() {
                return Ok(candidate);
            }
            searched.push(dir);
        }
    }
    Err(searched)
}

/// Where `pid` would write or look for a connection file: its working directory, then the
/// Jupyter runtime directories its environment names, in jupyter_core's order.
fn runtime_dirs(pid: u32) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
        dirs.push(cwd);
    }
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return dirs;
    };
    let env = |key: &str| -> Option<PathBuf> {
        environ
            .split(|b| *b == 0)
            .filter_map(|entry| std::str::from_utf8(entry).ok())
            .find_map(|entry| entry.strip_prefix(key)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    dirs.extend(runtime_dirs_of(env));
    dirs
}

/// The runtime directories a Jupyter process with environment `env` uses.
fn runtime_dirs_of(env: impl Fn(&str) -> Option<PathBuf>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = env("JUPYTER_RUNTIME_DIR") {
        dirs.push(dir);
    }
    if let Some(dir) = env("JUPYTER_DATA_DIR") {
        dirs.push(dir.join("runtime"));
    }
    if let Some(dir) = env("XDG_DATA_HOME") {
        dirs.push(dir.join("jupyter/runtime"));
    }
    if let Some(home) = env("HOME") {
        dirs.push(home.join(".local/share/jupyter/runtime"));
    }
    // With `JUPYTER_PLATFORM_DIRS=1`, jupyter_core follows platformdirs instead.
    if let Some(dir) = env("XDG_RUNTIME_DIR") {
        dirs.push(dir.join("jupyter"));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_names_the_file() {
        assert_eq!(
            announced_file("    --existing kernel-1493.json"),
            Some("kernel-1493.json")
        );
        assert_eq!(
            announced_file("--existing /run/k/kernel-7.json trailing"),
            Some("/run/k/kernel-7.json")
        );
        assert_eq!(announced_file("use --existing to attach"), None);
        assert_eq!(announced_file("--existing"), None);
        assert_eq!(announced_file("ready"), None);
    }

    #[test]
    fn runtime_dirs_follow_jupyter_core_order() {
        let env = |key: &str| match key {
            "JUPYTER_RUNTIME_DIR" => Some(PathBuf::from("/r")),
            "HOME" => Some(PathBuf::from("/home/app")),
            "XDG_DATA_HOME" => Some(PathBuf::from("/data")),
            _ => None,
        };
        assert_eq!(
            runtime_dirs_of(env),
            [
                PathBuf::from("/r"),
                PathBuf::from("/data/jupyter/runtime"),
                PathBuf::from("/home/app/.local/share/jupyter/runtime"),
            ]
        );
    }

    #[test]
    fn a_missing_file_names_where_it_was_looked_for() {
        let root = std::process::id();
        let searched = locate("kernel-does-not-exist-4242.json", root).unwrap_err();
        assert!(
            searched.contains(&std::env::current_dir().unwrap()),
            "{searched:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kernel-1.json");
        std::fs::write(&file, "{}").unwrap();
        assert_eq!(locate(file.to_str().unwrap(), root).unwrap(), file);
    }
}
