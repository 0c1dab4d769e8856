//! Finding the file a program name will run: the one PATH search in teamster.
//!
//! The child's `execvp` does the real lookup, in the child's environment and working
//! directory. Some callers must know the answer before that: the time-travel warning reads
//! the binary a service will run, the plugin gate admits a program by its path, and the
//! host finds its own `teamster` binary. They all ask [`find_program`], which searches the
//! way `execvp` will, so what they check is what runs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The search path when a child's environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The file `program` names for a child whose `PATH` is `path` (or [`DEFAULT_PATH`]) and
/// whose working directory is `cwd`: a name with a slash is a path (relative to `cwd`),
/// anything else the first executable file of that name along the search path.
pub fn find_program(program: &Path, path: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    if program.as_os_str().is_empty() {
        return None;
    }
    if program.components().count() > 1 || program.is_absolute() {
        let file = cwd.join(program);
        return is_executable(&file).then_some(file);
    }
    find_in_dirs(program.as_os_str(), path_dirs(path, cwd))
}

/// The directories of a search path, in order; relative entries (an empty one is `.`) are
/// taken from `cwd`, as the child would.
pub fn path_dirs(path: Option<&OsStr>, cwd: &Path) -> Vec<PathBuf> {
    std::env::split_paths(path.unwrap_or(OsStr::new(DEFAULT_PATH)))
        .map(|dir| cwd.join(dir))
        .collect()
}

/// The first executable file called `name` in `dirs`.
pub fn find_in_dirs(name: &OsStr, dirs: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an execute bit, as `execvp` requires.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
