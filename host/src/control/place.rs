//! Where a running bundle can be found: its socket, `host.json` and the project's lock.
//!
//! A unix socket path holds at most 107 bytes, so the socket cannot live in the project (a
//! CI checkout is easily deeper than that). It lives in a private per-user directory under
//! a short name, and `<run_root>/host.json` says where. The run root's `host.lock`, held
//! with `flock` for the host's whole life, is what makes "one bundle per project" hold: the
//! kernel drops it when the host dies, however it dies, so a stale `host.json` can never
//! pass for a live host.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The file of the run root that points at the live host.
pub const HOST_FILE: &str = "host.json";
/// The lock file a host holds while it runs.
pub const LOCK_FILE: &str = "host.lock";
/// The lock file `teamster up -d` holds while it starts a host, so that concurrent starts
/// (every pytest-xdist worker at once) start one host and attach to it.
pub const START_LOCK_FILE: &str = "start.lock";

/// Why the socket's place could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The private directory could not be made.
    #[error("cannot create the private socket directory {}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory exists but others could use it.
    #[error(
        "the socket directory {} is not private (owner uid {owner}, mode {mode:o}); remove it or fix its owner and mode (0700)",
        path.display()
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its mode bits.
        mode: u32,
    },
    /// The run root's files could not be written or locked.
    #[error("cannot use {}", path.display())]
    RunRoot {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What `host.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostRecord {
    /// The host's pid.
    pub pid: u32,
    /// Its control socket.
    pub socket: PathBuf,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The bundle's hash (see [`spec_hash`]).
    pub spec_hash: String,
    /// Whether the host was started with `up -d`.
    pub detached: bool,
    /// Start time, RFC 3339.
    pub started: String,
}

/// The private directory sockets live in: `$XDG_RUNTIME_DIR/teamster` when that is the
/// user's, else `/tmp/teamster-<uid>`. Created 0700; refused if anyone else could enter.
pub fn socket_dir() -> Result<PathBuf, PlaceError> {
    let uid = nix::unistd::Uid::effective().as_raw();
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| {
            d.is_absolute() && std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.uid() == uid)
        });
    let dir = match base {
        Some(base) => base.join("teamster"),
        None => std::env::temp_dir().join(format!("teamster-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(PlaceError::Create { path: dir, source }),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|source| PlaceError::Create {
        path: dir.clone(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_dir() || meta.uid() != uid || mode & 0o077 != 0 {
        return Err(PlaceError::NotPrivate {
            path: dir,
            owner: meta.uid(),
            mode,
        });
    }
    Ok(dir)
}

/// A socket path for a host of `run_root`: short whatever the project's path, and unique
/// per host process.
pub fn socket_path(run_root: &Path) -> Result<PathBuf, PlaceError> {
    let mut hash = sha2::Sha256::new();
    hash.update(run_root.as_os_str().as_encoded_bytes());
    hash.update(std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hash.update(nanos.to_le_bytes());
    let digest = hash.finalize();
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(socket_dir()?.join(format!("{name}.sock")))
}

/// The bundle's identity: teamster's version, the bundle's path and its text. Two starts
/// with the same hash run the same bundle, so the second may attach to the first.
pub fn spec_hash(source: Option<&Path>, text: &str) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION").as_bytes());
    hash.update([0]);
    if let Some(path) = source {
        hash.update(path.as_os_str().as_encoded_bytes());
    }
    hash.update([0]);
    hash.update(text.as_bytes());
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An exclusive `flock` on a file of the run root, released when dropped or when the
/// process dies.
#[derive(Debug)]
pub struct RootLock {
    _file: nix::fcntl::Flock<std::fs::File>,
    path: PathBuf,
}

impl RootLock {
    fn open(run_root: &Path, name: &str) -> Result<(std::fs::File, PathBuf), PlaceError> {
        let path = run_root.join(name);
        std::fs::create_dir_all(run_root).map_err(|source| PlaceError::RunRoot {
            path: run_root.to_owned(),
            source,
        })?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| PlaceError::RunRoot {
                path: path.clone(),
                source,
            })?;
        Ok((file, path))
    }

    /// Takes the lock `name` of `run_root` if it is free; `None` if another process holds it.
    pub fn try_take(run_root: &Path, name: &str) -> Result<Option<RootLock>, PlaceError> {
        let (file, path) = Self::open(run_root, name)?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(file) => Ok(Some(RootLock { _file: file, path })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(PlaceError::RunRoot {
                path,
                source: errno.into(),
            }),
        }
    }

    /// Waits for the lock `name` of `run_root`, polling, for at most `timeout`.
    pub fn take_within(
        run_root: &Path,
        name: &str,
        timeout: std::time::Duration,
    ) -> Result<Option<RootLock>, PlaceError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            if let Some(lock) = Self::try_take(run_root, name)? {
                return Ok(Some(lock));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether some process holds the host lock of `run_root` (a host runs there).
pub fn host_running(run_root: &Path) -> bool {
    let path = run_root.join(LOCK_FILE);
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
        return false;
    };
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err()
}

/// Writes `host.json` atomically.
pub fn write_record(run_root: &Path, record: &HostRecord) -> Result<(), PlaceError> {
    let path = run_root.join(HOST_FILE);
    let tmp = run_root.join(format!(".{HOST_FILE}.{}", std::process::id()));
    let err = |source| PlaceError::RunRoot {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(&serde_json::to_vec_pretty(record).expect("serializable"))
        .map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

/// Reads `host.json`, if there is one that parses.
pub fn read_record(run_root: &Path) -> Option<HostRecord> {
    let bytes = std::fs::read(run_root.join(HOST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Removes `host.json` if it is this host's.
pub fn remove_record(run_root: &Path, pid: u32) {
    if read_record(run_root).is_some_and(|r| r.pid == pid) {
        let _ = std::fs::remove_file(run_root.join(HOST_FILE));
    }
}
