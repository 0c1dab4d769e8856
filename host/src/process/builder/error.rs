//! Why a process could not be started.

use std::path::PathBuf;

/// A process the [`ProcessBuilder`](super::ProcessBuilder) could not start.
///
/// The variants that say everything in their message (a missing program, a missing working
/// directory) carry no source; the others chain the operating system's error.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The command has no program.
    #[error("empty command")]
    Empty,
    /// The user to run as is not in the passwd database.
    #[error("user `{user}` does not exist")]
    NoUser {
        /// The user's name.
        user: String,
    },
    /// The passwd database could not be read.
    #[error("cannot look up user `{user}`")]
    LookupUser {
        /// The user's name.
        user: String,
        /// The error of the lookup.
        #[source]
        source: nix::errno::Errno,
    },
    /// The working directory does not exist.
    #[error("working directory `{}` does not exist", cwd.display())]
    NoDirectory {
        /// The directory.
        cwd: PathBuf,
    },
    /// The program is not on the child's PATH (or, as a path, does not exist).
    #[error("program `{program}` not found")]
    NotFound {
        /// The program as given.
        program: String,
    },
    /// The program exists but may not be executed.
    #[error("program `{program}` is not executable")]
    NotExecutable {
        /// The program as given.
        program: String,
        /// The error of `exec`.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of `fork` or `exec`.
    #[error("cannot start `{program}`")]
    Spawn {
        /// The program as given.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl SpawnError {
    /// Names the failure of spawning `program` in `cwd` by what the user must fix.
    pub(crate) fn classify(
        program: &str,
        cwd: Option<&std::path::Path>,
        source: std::io::Error,
    ) -> SpawnError {
        let program = program.to_owned();
        match source.kind() {
            std::io::ErrorKind::NotFound => match cwd {
                Some(cwd) if !cwd.is_dir() => SpawnError::NoDirectory {
                    cwd: cwd.to_owned(),
                },
                _ => SpawnError::NotFound { program },
            },
            std::io::ErrorKind::PermissionDenied => SpawnError::NotExecutable { program, source },
            _ => SpawnError::Spawn { program, source },
        }
    }
}
