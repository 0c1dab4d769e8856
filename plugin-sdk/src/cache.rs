//! Filling the kind's cache directory ([`Service::cache_dir`](crate::Service::cache_dir))
//! safely while other bundles fill it too.
//!
//! The cache outlives runs and is shared by every service of the kind that runs as the
//! same user, so two bundles starting at once may both find an entry missing and both
//! build it. [`entry`] lets them: each builds under a private name, then renames it into
//! place. A rename is atomic, and a rename onto an existing directory fails, so a reader
//! sees a whole entry or none, and the bundle that loses the race throws its copy away and
//! uses the winner's. No lock is held, so a bundle killed halfway blocks nobody; it leaves
//! a `.building-*` directory behind, which [`entry`] removes once it is an hour old.
//!
//! ```no_run
//! # use teamster_plugin_sdk::{cache, Command, Error, NoConfig, Service};
//! # fn setup(svc: &Service<NoConfig>) -> Result<(), Error> {
//! if let Some(dir) = &svc.cache_dir {
//!     // `fill` gets the private path and creates it (here `initdb` does, as the service's
//!     // user, so the files are theirs).
//!     let template = cache::entry(dir, "cluster-16-c-utf8", |tmp| {
//!         Command::new("initdb").arg("-D").arg(tmp).run_checked().map(drop)
//!     })?;
//!     Command::new("cp").args(["-R"]).arg(template.path()).arg(svc.data_path("pgdata")).run_checked()?;
//! }
//! # Ok(()) }
//! ```

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::fs::{io_error, rename_error};

/// A `.building-*` directory older than this is left from a build that never finished.
const ABANDONED: Duration = Duration::from_secs(3600);

/// An entry of the cache, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    path: PathBuf,
    built: bool,
}

impl Entry {
    /// Where the entry is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this call built it (rather than finding it, or losing the race to build it).
    pub fn built(&self) -> bool {
        self.built
    }
}

/// The entry `name` of `cache_dir`, built by `fill` if it is missing.
///
/// `fill` gets a private path next to the entry, which does not exist yet, and must
/// create it there (a file or a directory, as it likes; a helper program run as the
/// service's user may create it, so the files are that user's). Once `fill` returns, the
/// path is renamed to `name`. When another bundle renamed its own copy into place first,
/// this one is removed and the other's used. When `fill` fails, what it left is removed
/// and its error returned.
///
/// `name` is one path component, made of what the entry depends on (a version, a hash of
/// the options).
pub fn entry(
    cache_dir: impl AsRef<Path>,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<(), Error>,
) -> Result<Entry, Error> {
    let cache_dir = cache_dir.as_ref();
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(Error::msg(format!(
            "cache entry name `{name}` must be one path component not starting with `.`"
        )));
    }
    let path = cache_dir.join(name);
    if path.exists() {
        return Ok(Entry { path, built: false });
    }
    remove_abandoned(cache_dir, name);
    let building = cache_dir.join(format!(".building-{name}-{:016x}", unique()));
    let filled = fill(&building);
    if let Err(e) = filled {
        remove(&building);
        return Err(e);
    }
    match std::fs::rename(&building, &path) {
        Ok(()) => Ok(Entry { path, built: true }),
        // Another bundle's copy got there first: a directory cannot be renamed onto it.
        Err(_) if path.exists() => {
            remove(&building);
            Ok(Entry { path, built: false })
        }
        Err(e) => {
            remove(&building);
            Err(rename_error(&building, &path, &e))
        }
    }
}

/// A number no other build of the same entry uses at the same time: the standard
/// library's random hash keys (from `wasi:random`) mixed with a per-instance count.
fn unique() -> u64 {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.finish()
}

/// Removes `.building-<name>-*` directories older than [`ABANDONED`]: a build takes
/// seconds, so those belong to bundles that died building.
fn remove_abandoned(cache_dir: &Path, name: &str) {
    let prefix = format!(".building-{name}-");
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for found in entries.flatten() {
        let old = found
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED);
        if old && found.file_name().to_string_lossy().starts_with(&prefix) {
            remove(&found.path());
        }
    }
}

/// Removes a file or directory, if there is one; a failure only leaves litter behind.
fn remove(path: &Path) {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = removed
        && e.kind() != std::io::ErrorKind::NotFound
    {
        crate::log::warn(io_error("remove", path, &e).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::entry;
    use crate::Error;

    #[test]
    fn builds_once_then_finds() {
        let dir = tempdir();
        let first = entry(&dir, "thing", |tmp| {
            std::fs::create_dir(tmp)?;
            std::fs::write(tmp.join("file"), "one")?;
            Ok(())
        })
        .unwrap();
        assert!(first.built());
        assert_eq!(
            std::fs::read_to_string(first.path().join("file")).unwrap(),
            "one"
        );
        let second = entry(&dir, "thing", |_| panic!("built twice")).unwrap();
        assert!(!second.built());
        assert_eq!(second.path(), first.path());
        assert_eq!(names(&dir), ["thing"]);
    }

    #[test]
    fn the_loser_of_a_race_uses_the_winners_entry() {
        let dir = tempdir();
        let lost = entry(&dir, "thing", |tmp| {
            std::fs::create_dir(tmp)?;
            std::fs::write(tmp.join("file"), "loser")?;
            // Another bundle finishes first, while this one is still building.
            entry(&dir, "thing", |tmp| {
                std::fs::create_dir(tmp)?;
                std::fs::write(tmp.join("file"), "winner")?;
                Ok(())
            })?;
            Ok(())
        })
        .unwrap();
        assert!(!lost.built());
        assert_eq!(
            std::fs::read_to_string(lost.path().join("file")).unwrap(),
            "winner"
        );
        assert_eq!(names(&dir), ["thing"], "the loser's copy is removed");
    }

    #[test]
    fn a_failed_fill_leaves_nothing() {
        let dir = tempdir();
        let err = entry(&dir, "thing", |tmp| {
            std::fs::create_dir(tmp)?;
            Err(Error::msg("initdb failed"))
        })
        .unwrap_err();
        assert_eq!(err.message(), "initdb failed");
        assert!(names(&dir).is_empty());
        assert!(entry(&dir, "../x", |_| Ok(())).is_err());
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "teamster-sdk-cache-{}-{:x}",
            std::process::id(),
            super::unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}
