//! [`PortAllocator`], which scans for a free port, and [`PortLease`], which holds it.

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::hash::BuildHasher;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::PortError;
use super::lock::{self, Attempt, PortLock};
use super::probe;
use super::range::{self, Candidates};

/// The name of the lock directory shared by every teamster on the machine, whoever runs it.
const DIR_NAME: &str = "teamster-ports";

/// Where the shared lock directory goes: a memory-backed filesystem on every Linux, so that
/// creating and deleting a lock file costs microseconds. On a disk filesystem under load it
/// can cost milliseconds (measured on ext4: about 1 ms to create, 3 ms to delete a file
/// that was written to).
const SHM_ROOT: &str = "/dev/shm";

/// The shared lock directory on systems without [`SHM_ROOT`].
const FALLBACK_DIR: &str = "/tmp/teamster-ports";

/// Overrides the shared lock directory, for machines where processes that share a network
/// do not share `/dev/shm` (one per container, say): point it at a directory they all see.
pub const DIR_ENV: &str = "TEAMSTER_PORTS_DIR";

/// Hands out TCP ports that no other allocator on the machine holds and nothing is bound to.
///
/// One allocator can be shared by any number of threads; separate allocators (in this
/// process or others) that use the same lock directory never hand out the same port while
/// a lease on it lives.
#[derive(Debug)]
pub struct PortAllocator {
    dir: PathBuf,
    candidates: Candidates,
    /// Where the next scan starts, as an index into the candidates that only grows and is
    /// taken modulo their number. It starts at a random place so that allocators in
    /// different processes do not all fight over the same first ports.
    cursor: AtomicU64,
}

/// A reserved port. Other allocators skip it until the lease is dropped.
///
/// The lease does not bind the port: the service it is handed to does. Keep the lease for as
/// long as the service may (re)bind the port, typically as long as the bundle runs.
#[derive(Debug)]
#[must_use = "dropping the lease releases the port at once"]
pub struct PortLease {
    port: u16,
    _lock: PortLock,
}

impl PortLease {
    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl PortAllocator {
    /// An allocator that coordinates with every other teamster on the machine through the
    /// shared lock directory (`$TEAMSTER_PORTS_DIR`, else `/dev/shm/teamster-ports`, else
    /// `/tmp/teamster-ports`; created with mode 1777 when missing), scanning the ports
    /// outside the kernel's ephemeral range.
    pub fn new() -> Result<PortAllocator, PortError> {
        let dir = default_dir(std::env::var_os(DIR_ENV));
        lock::prepare_shared_dir(&dir).map_err(|source| PortError::LockDir {
            path: dir.clone(),
            source,
        })?;
        Ok(PortAllocator::build(dir))
    }

    /// An allocator that coordinates only with allocators using the same `dir`, created with
    /// mode 0700 when missing.
    pub fn with_dir(dir: impl Into<PathBuf>) -> Result<PortAllocator, PortError> {
        let dir = dir.into();
        lock::prepare_private_dir(&dir).map_err(|source| PortError::LockDir {
            path: dir.clone(),
            source,
        })?;
        Ok(PortAllocator::build(dir))
    }

    fn build(dir: PathBuf) -> PortAllocator {
        PortAllocator {
            dir,
            candidates: Candidates::new(range::default_ranges(range::ephemeral_range())),
            cursor: AtomicU64::new(random_start()),
        }
    }

    /// Makes [`allocate`](Self::allocate) scan only `range` instead of the ports outside the
    /// ephemeral range. [`reserve`](Self::reserve) is not affected.
    pub fn with_range(mut self, range: RangeInclusive<u16>) -> PortAllocator {
        self.candidates = Candidates::new(vec![range]);
        self
    }

    /// The lock directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reserves any free port.
    ///
    /// Ports held by other allocators and ports something is bound to are skipped. Fails with
    /// [`PortError::Exhausted`] when every candidate is taken, or with a lock error when the
    /// lock directory is unusable.
    pub fn allocate(&self) -> Result<PortLease, PortError> {
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        for step in 0..self.candidates.len() {
            let i = start.wrapping_add(step);
            let Some(port) = self.candidates.nth_wrapping(i) else {
                break;
            };
            match self.lease(port) {
                Ok(lease) => {
                    // Skip what this scan walked past, so the next allocation does not
                    // retry the same taken ports.
                    self.cursor.fetch_max(i.wrapping_add(1), Ordering::Relaxed);
                    return Ok(lease);
                }
                // Taken, or refused for reasons of its own (a firewall-like sandbox rule):
                // either way, another port will do.
                Err(
                    PortError::InUse { .. } | PortError::Reserved { .. } | PortError::Check { .. },
                ) => {}
                // A lock error comes from the directory, not the port: every other port
                // would fail the same way, so report it rather than scan on.
                Err(e) => return Err(e),
            }
        }
        Err(PortError::Exhausted {
            ranges: self.candidates.ranges().to_vec(),
        })
    }

    /// Reserves `port` itself, for services configured with a fixed port.
    ///
    /// Fails with [`PortError::Reserved`] when another allocator holds it (a lease from this
    /// same allocator counts: two services cannot share a port either), and with
    /// [`PortError::InUse`] when something is bound to it.
    pub fn reserve(&self, port: u16) -> Result<PortLease, PortError> {
        if port == 0 {
            return Err(PortError::PortZero);
        }
        self.lease(port)
    }

    /// Locks `port`, then checks that nothing is bound to it. Checking under the lock means
    /// no other allocator can hand the port out between the check and the lease.
    fn lease(&self, port: u16) -> Result<PortLease, PortError> {
        let attempt = lock::try_lock(&self.dir, port).map_err(|source| PortError::LockFile {
            port,
            path: lock::lock_path(&self.dir, port),
            source,
        })?;
        let lock = match attempt {
            Attempt::Acquired(lock) => lock,
            Attempt::Held { pid } => return Err(PortError::Reserved { port, pid }),
        };
        match probe::check_free(port) {
            Ok(()) => Ok(PortLease { port, _lock: lock }),
            Err(source) if source.kind() == io::ErrorKind::AddrInUse => {
                Err(PortError::InUse { port, source })
            }
            Err(source) => Err(PortError::Check { port, source }),
        }
    }
}

/// The lock directory: `env` when set and not empty, else the machine-wide directory.
pub(crate) fn default_dir(env: Option<OsString>) -> PathBuf {
    env.filter(|v| !v.is_empty())
        .map_or_else(|| machine_dir(Path::new(SHM_ROOT)), PathBuf::from)
}

/// The machine-wide lock directory: under `shm` when that exists, else [`FALLBACK_DIR`].
pub(crate) fn machine_dir(shm: &Path) -> PathBuf {
    if shm.is_dir() {
        shm.join(DIR_NAME)
    } else {
        PathBuf::from(FALLBACK_DIR)
    }
}

/// A random scan start, kept well below `u64::MAX` so the cursor never wraps in practice.
fn random_start() -> u64 {
    // `RandomState` is seeded from the OS once per process and varies per instance, which
    // is all the randomness spreading processes over the range needs.
    RandomState::new().hash_one(std::process::id()) >> 2
}
