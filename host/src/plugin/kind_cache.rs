//! The per-kind cache directory (`service-context.cache-dir`): where a kind keeps what
//! depends only on itself, its version and its options, across runs and bundles (the
//! postgres kind's initialised template clusters).
//!
//! It belongs to the user the service runs as, because that user's helper programs
//! (`initdb`) write it and its server reads what they wrote: `<root>/<kind>/<version>`,
//! where the root is, in order,
//! 1. `$XDG_CACHE_HOME/teamster/kinds` of the service's environment, when set;
//! 2. `~/.cache/teamster/kinds` of the service's user, when the host (as root) runs the
//!    service as another user: the host's own cache (say under `/root`) is not theirs to
//!    read;
//! 3. the host's [`PluginHostConfig::kind_cache_dir`](super::PluginHostConfig), which
//!    follows `TEAMSTER_HOME` and `XDG_CACHE_HOME` as the compile cache does.
//!
//! The host creates the directory and, running as root for another user, hands every
//! directory it created to that user. Filling it safely while other bundles fill it too is
//! the plugin's business (the SDK's `cache::entry` builds under a private name and renames).

use std::path::{Path, PathBuf};

use super::run::RunEnv;
use super::service_user::ServiceUser;

/// The cache directory of `kind` at `version` for a service running in `run_env` as
/// `user`, created (and owned by `user`) if missing. `fallback_root` is the host's own
/// root (case 3 above).
pub(crate) fn prepare(
    fallback_root: &Path,
    kind: &str,
    version: &str,
    run_env: &RunEnv,
    user: &ServiceUser,
) -> std::io::Result<PathBuf> {
    let root = root(fallback_root, run_env, user)?;
    let dir = root.join(kind).join(path_safe(version));
    let created = create(&dir)?;
    if user.host_is_root && user.is_other_than_host() {
        let account = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(user.uid))
            .map_err(std::io::Error::from)?
            .ok_or_else(|| std::io::Error::other(format!("user `{}` vanished", user.name)))?;
        for path in &created {
            nix::unistd::chown(path, Some(account.uid), Some(account.gid))
                .map_err(std::io::Error::from)?;
        }
    }
    Ok(dir)
}

fn root(fallback: &Path, run_env: &RunEnv, user: &ServiceUser) -> std::io::Result<PathBuf> {
    if let Some(xdg) = run_env
        .var("XDG_CACHE_HOME")
        .map(Path::new)
        .filter(|p| p.is_absolute())
    {
        return Ok(xdg.join("teamster/kinds"));
    }
    if user.host_is_root && user.is_other_than_host() {
        let account = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(user.uid))
            .map_err(std::io::Error::from)?
            .ok_or_else(|| std::io::Error::other(format!("user `{}` vanished", user.name)))?;
        if !account.dir.is_dir() {
            return Err(std::io::Error::other(format!(
                "the home directory `{}` of user `{}` does not exist",
                account.dir.display(),
                user.name
            )));
        }
        return Ok(account.dir.join(".cache/teamster/kinds"));
    }
    Ok(fallback.to_path_buf())
}

/// Creates `dir` and its missing parents; returns the directories it created, outermost
/// first. Another process creating the same directories at once is not an error.
fn create(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    missing.reverse();
    let mut created = Vec::new();
    for path in missing {
        match std::fs::create_dir(&path) {
            Ok(()) => created.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// A version string as one path component: anything but `[A-Za-z0-9._+-]` becomes `_`,
/// and nothing that names a directory of its own (`.`, `..`, empty) survives.
fn path_safe(version: &str) -> String {
    let safe: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.trim_matches('.').is_empty() {
        format!("_{safe}")
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::path_safe;

    #[test]
    fn versions_become_one_path_component() {
        assert_eq!(path_safe("0.1.0"), "0.1.0");
        assert_eq!(path_safe("1.0.0-rc.1+build.5"), "1.0.0-rc.1+build.5");
        assert_eq!(path_safe("../../etc"), ".._.._etc");
        assert_eq!(path_safe(".."), "_..");
        assert_eq!(path_safe(""), "_");
        assert_eq!(path_safe("a b/c"), "a_b_c");
    }
}
