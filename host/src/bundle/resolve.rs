//! Turning the relative paths of a bundle into absolute ones.
//!
//! Services run in their own directories and probes may run anywhere, so a relative path
//! means nothing once the bundle is handed on. Both front doors therefore resolve paths in
//! the same way, once: the project directory against the bundle file's directory (or the
//! current directory for the builder), everything else against the project directory, and
//! readiness paths against their service's directory.

use std::path::{Component, Path, PathBuf};

use super::error::{BundleError, Location};
use super::spec::{BundleSpec, Readiness};

/// `path` made absolute against the current directory, without `.` components.
pub(crate) fn absolute(path: &Path, at: impl FnOnce() -> Location) -> Result<PathBuf, BundleError> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::path::absolute(path)
        .map(|p| clean(&p))
        .map_err(|source| BundleError::Absolute {
            at: at(),
            path: path.to_owned(),
            source,
        })
}

/// `path` against `base` (an absolute `path` stays as it is), without `.` components.
///
/// `..` is kept: removing it lexically would be wrong when the directory before it is a
/// symbolic link.
pub(crate) fn against(base: &Path, path: &Path) -> PathBuf {
    clean(&base.join(path))
}

fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Resolves the run root, every service directory (defaulting to the project directory)
/// and relative readiness paths. `spec.project_dir` must already be absolute.
pub(crate) fn resolve_paths(spec: &mut BundleSpec) {
    let project = spec.project_dir.clone();
    spec.run_root = against(&project, &spec.run_root);
    for service in &mut spec.services {
        let directory = match &service.directory {
            Some(dir) => against(&project, dir),
            None => project.clone(),
        };
        for ready in &mut service.ready {
            if let Readiness::Socket { path } | Readiness::File { path } = ready
                && !path.as_os_str().is_empty()
            {
                *path = against(&directory, path);
            }
        }
        service.directory = Some(directory);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_drops_dot_components_but_keeps_parents() {
        assert_eq!(
            against(Path::new("/p"), Path::new("./app/./run")),
            PathBuf::from("/p/app/run")
        );
        assert_eq!(
            against(Path::new("/p"), Path::new("../up")),
            PathBuf::from("/p/../up")
        );
        assert_eq!(
            against(Path::new("/p"), Path::new("/abs")),
            PathBuf::from("/abs")
        );
        assert_eq!(
            against(Path::new("/p/."), Path::new(".")),
            PathBuf::from("/p")
        );
    }

    #[test]
    fn relative_paths_become_absolute_against_the_current_directory() {
        let cwd = std::env::current_dir().expect("current dir");
        let resolved = absolute(Path::new("sub/./dir"), || Location::Code).expect("absolute");
        assert_eq!(resolved, cwd.join("sub/dir"));
        assert_eq!(
            absolute(Path::new(""), || Location::Code).expect("absolute"),
            clean(&cwd)
        );
    }
}
