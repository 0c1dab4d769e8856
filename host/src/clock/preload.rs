//! Finding `libteamster_clock.so` at run time.
//!
//! The library is a separate cdylib of the workspace, so it is never inside the teamster
//! binary: it sits next to it in a cargo target directory (`target/debug/`, while tests run
//! from `target/debug/deps/`) or in an install location. `TEAMSTER_CLOCK_LIB` overrides the
//! search for unusual layouts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::ClockError;

/// The file name of the preload library.
pub const LIBRARY_NAME: &str = "libteamster_clock.so";

/// The variable that names the preload library explicitly.
pub const LIBRARY_ENV: &str = "TEAMSTER_CLOCK_LIB";

/// Install locations searched after the directories around the executable.
const INSTALL_DIRS: &[&str] = &[
    "/usr/local/lib/teamster",
    "/usr/local/lib",
    "/usr/lib/teamster",
    "/usr/lib",
];

/// Finds the preload library: `$TEAMSTER_CLOCK_LIB`, then next to the current executable,
/// then in `deps/` beside it, then its parent directory (cargo's `target/debug/deps` → `target/debug`), then
/// `<exe dir>/../lib/teamster`, then the install locations.
pub fn find_preload_library() -> Result<PathBuf, ClockError> {
    let exe = std::env::current_exe().ok();
    search(std::env::var_os(LIBRARY_ENV), exe.as_deref())
}

/// The search itself, with its inputs explicit so it can be tested.
pub(crate) fn search(
    env_override: Option<OsString>,
    exe: Option<&Path>,
) -> Result<PathBuf, ClockError> {
    let candidates = candidates(env_override, exe);
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or(ClockError::PreloadNotFound {
            searched: candidates,
        })
}

fn candidates(env_override: Option<OsString>, exe: Option<&Path>) -> Vec<PathBuf> {
    // An explicit choice is the only candidate: silently falling back to another copy would
    // hide a typo in the variable.
    if let Some(path) = env_override.filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    let mut dirs = Vec::new();
    if let Some(exe_dir) = exe.and_then(Path::parent) {
        dirs.push(exe_dir.to_owned());
        // A `cargo test` build leaves the library (a dependency of the host's tests) in
        // `target/<profile>/deps`, next to the test executables but not next to `teamster`.
        dirs.push(exe_dir.join("deps"));
        if let Some(up) = exe_dir.parent() {
            dirs.push(up.to_owned());
            dirs.push(up.join("lib/teamster"));
        }
    }
    dirs.extend(INSTALL_DIRS.iter().map(PathBuf::from));
    dirs.into_iter().map(|dir| dir.join(LIBRARY_NAME)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_is_the_only_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("custom.so");
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(
            search(
                Some(lib.clone().into()),
                Some(Path::new("/nowhere/bin/teamster"))
            )
            .unwrap(),
            lib
        );
        let missing = dir.path().join("missing.so");
        let err = search(Some(missing.clone().into()), None).unwrap_err();
        assert!(
            matches!(err, ClockError::PreloadNotFound { ref searched } if searched == &[missing])
        );
    }

    #[test]
    fn cargo_deps_directories_look_one_level_up() {
        let dir = tempfile::tempdir().unwrap();
        let deps = dir.path().join("debug/deps");
        std::fs::create_dir_all(&deps).unwrap();
        let lib = dir.path().join("debug").join(LIBRARY_NAME);
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(
            search(None, Some(&deps.join("teamster-0123abcd"))).unwrap(),
            lib
        );
    }

    #[test]
    fn the_error_lists_every_place_searched() {
        let err = search(
            None,
            Some(Path::new("/opt/nowhere/target/debug/deps/teamster-0123")),
        )
        .unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"teamster's clock library was not found; looked for /opt/nowhere/target/debug/deps/libteamster_clock.so, /opt/nowhere/target/debug/deps/deps/libteamster_clock.so, /opt/nowhere/target/debug/libteamster_clock.so, /opt/nowhere/target/debug/lib/teamster/libteamster_clock.so, /usr/local/lib/teamster/libteamster_clock.so, /usr/local/lib/libteamster_clock.so, /usr/lib/teamster/libteamster_clock.so, /usr/lib/libteamster_clock.so; build it with `cargo build -p teamster-clock` or set TEAMSTER_CLOCK_LIB to its path");
    }

    #[test]
    fn the_workspace_build_is_found() {
        // This test binary lives in target/debug/deps, next to the workspace's cdylibs.
        let lib = find_preload_library()
            .expect("build the workspace (`cargo build`) so that the preload library exists");
        assert!(lib.ends_with(LIBRARY_NAME));
    }
}
