//! Files, with errors that say which path failed and when it is outside the sandbox.
//!
//! A plugin sees two directories: its service's data directory and the kind's cache
//! directory, each preopened at its own absolute path. Any other path is resolved by WASI's libc inside the plugin, which finds
//! no preopened directory for it and reports `ENOENT`; `std::fs` then says "No such file or
//! directory (os error 44)", which sends the author looking for a missing file, and the
//! number is WASI's, not the host's. The host never sees such a call, so it cannot say
//! better: only the plugin knows the path. These functions do what `std::fs` does and,
//! when they fail, name the path and, for a path outside both directories, say so.
//!
//! ```no_run
//! # fn setup(svc: &teamster_plugin_sdk::Service<teamster_plugin_sdk::NoConfig>) -> Result<(), teamster_plugin_sdk::Error> {
//! use teamster_plugin_sdk::fs;
//!
//! fs::write(svc.data_path("seed.sql"), "create table t ();")?;
//! // Fails with: cannot read `/etc/mysql/my.cnf`: the path is outside the plugin's
//! // sandbox, which holds only the service's data directory `/…/data/db`
//! let defaults = fs::read_to_string("/etc/mysql/my.cnf")?;
//! # Ok(()) }
//! ```

use std::cell::OnceCell;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// The directories the instance's plugin can see.
struct Sandbox {
    data_dir: PathBuf,
    cache_dir: Option<PathBuf>,
}

std::thread_local! {
    /// The sandbox of the instance's service, once `open` ran.
    static SANDBOX: OnceCell<Sandbox> = const { OnceCell::new() };
}

/// Records the directories `open` received (the SDK's adapter calls it).
pub(crate) fn set_sandbox(data_dir: &str, cache_dir: Option<&str>) {
    SANDBOX.with(|cell| {
        let _ = cell.set(Sandbox {
            data_dir: PathBuf::from(data_dir),
            cache_dir: cache_dir.map(PathBuf::from),
        });
    });
}

/// Reads a whole file as UTF-8 text, like [`std::fs::read_to_string`].
pub fn read_to_string(path: impl AsRef<Path>) -> Result<String, Error> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|e| io_error("read", path, &e))
}

/// Reads a whole file, like [`std::fs::read`].
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>, Error> {
    let path = path.as_ref();
    std::fs::read(path).map_err(|e| io_error("read", path, &e))
}

/// Writes a whole file, creating or truncating it, like [`std::fs::write`].
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    let path = path.as_ref();
    std::fs::write(path, contents).map_err(|e| io_error("write", path, &e))
}

/// Creates a directory and its missing parents, like [`std::fs::create_dir_all`].
pub fn create_dir_all(path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    std::fs::create_dir_all(path).map_err(|e| io_error("create", path, &e))
}

/// Removes a file, like [`std::fs::remove_file`].
pub fn remove_file(path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    std::fs::remove_file(path).map_err(|e| io_error("remove", path, &e))
}

/// Removes a directory and everything in it, like [`std::fs::remove_dir_all`].
pub fn remove_dir_all(path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    std::fs::remove_dir_all(path).map_err(|e| io_error("remove", path, &e))
}

/// Renames a file or directory, like [`std::fs::rename`]: atomic, and onto an existing
/// non-empty directory it fails.
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<(), Error> {
    let (from, to) = (from.as_ref(), to.as_ref());
    std::fs::rename(from, to).map_err(|e| rename_error(from, to, &e))
}

/// The error for renaming `from` to `to` that failed with `err`, naming a path outside the
/// sandbox if either is.
pub(crate) fn rename_error(from: &Path, to: &Path, err: &std::io::Error) -> Error {
    let (shown_from, shown_to) = (from.display(), to.display());
    let outside = [from, to]
        .into_iter()
        .filter(|_| cfg!(target_family = "wasm"))
        .find_map(|path| sandbox_of(path).map(|holds| (path, holds)));
    match outside {
        Some((path, holds)) => Error::msg(format!(
            "cannot rename `{shown_from}` to `{shown_to}`: `{}` is outside the plugin's sandbox, which holds {holds}",
            path.display()
        )),
        None => Error::msg(format!(
            "cannot rename `{shown_from}` to `{shown_to}`: {}",
            reason(err)
        )),
    }
}

/// The error for `verb`ing `path` (`read`, `write`, …) that failed with `err`: outside the
/// sandbox, that is the whole story; inside, the system's reason.
///
/// Use it for file access through `std` directly. Built natively (a plugin's unit tests),
/// there is no sandbox and the error is the system's.
pub fn io_error(verb: &str, path: &Path, err: &std::io::Error) -> Error {
    let shown = path.display();
    if !cfg!(target_family = "wasm") {
        return Error::msg(format!("cannot {verb} `{shown}`: {}", reason(err)));
    }
    match sandbox_of(path) {
        Some(holds) => Error::msg(format!(
            "cannot {verb} `{shown}`: the path is outside the plugin's sandbox, which holds {holds}"
        )),
        None => Error::msg(format!("cannot {verb} `{shown}`: {}", reason(err))),
    }
}

/// `None` when `path` is inside the sandbox, else what the sandbox holds, for the message.
fn sandbox_of(path: &Path) -> Option<String> {
    SANDBOX.with(|cell| match cell.get() {
        None => Some("no files outside a service".to_string()),
        Some(sandbox) => {
            let in_cache = sandbox
                .cache_dir
                .as_deref()
                .is_some_and(|dir| is_inside(path, dir));
            if in_cache || is_inside(path, &sandbox.data_dir) {
                return None;
            }
            Some(match &sandbox.cache_dir {
                Some(cache) => format!(
                    "only the service's data directory `{}` and the kind's cache directory `{}`",
                    sandbox.data_dir.display(),
                    cache.display()
                ),
                None => format!(
                    "only the service's data directory `{}`",
                    sandbox.data_dir.display()
                ),
            })
        }
    })
}

/// What went wrong, without the error number: WASI numbers errors its own way (`ENOENT`
/// is 44), so the number would only mislead.
pub(crate) fn reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match (err.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => text[..at].to_string(),
        _ => text,
    }
}

/// Whether `path` is `dir` or inside it, judged on the text as WASI's libc judges it:
/// a relative path, or `..` out of the directory, is outside.
fn is_inside(path: &Path, dir: &Path) -> bool {
    if !path.is_absolute() {
        return false;
    }
    let mut normal = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{is_inside, reason};

    #[test]
    fn inside_is_judged_on_the_normalised_text() {
        let dir = Path::new("/run/data/db");
        assert!(is_inside(Path::new("/run/data/db"), dir));
        assert!(is_inside(
            Path::new("/run/data/db/./pgdata/PG_VERSION"),
            dir
        ));
        assert!(!is_inside(Path::new("/run/data/db/../web/x"), dir));
        assert!(!is_inside(Path::new("/run/data/dbx"), dir));
        assert!(!is_inside(Path::new("pgdata"), dir));
        assert!(!is_inside(Path::new("/etc/hostname"), dir));
    }

    #[test]
    fn the_reason_drops_the_error_number() {
        let err = std::io::Error::from_raw_os_error(2);
        assert!(!reason(&err).contains("os error"), "{}", reason(&err));
        let err = std::io::Error::other("plain");
        assert_eq!(reason(&err), "plain");
    }
}
