//! Why a port could not be allocated or reserved.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// An error allocating or reserving a TCP port.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The directory that holds the lock files could not be created or is not a directory.
    #[error("cannot use {} as the port lock directory", path.display())]
    LockDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The lock file of a port could not be opened or locked.
    #[error("cannot lock {} to reserve port {port}", path.display())]
    LockFile {
        /// The port being reserved.
        port: u16,
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Something outside teamster is bound to the port.
    #[error("port {port} is already in use by another process")]
    InUse {
        /// The port asked for.
        port: u16,
        /// The error of the test bind.
        #[source]
        source: std::io::Error,
    },
    /// Another allocator (another bundle, in this process or another) holds the port's lock.
    #[error("port {port} is reserved by another teamster bundle{}", Holder(*pid))]
    Reserved {
        /// The port asked for.
        port: u16,
        /// The pid recorded in the lock file by the holder, when it could be read.
        pid: Option<u32>,
    },
    /// The test bind failed for a reason other than the port being in use, such as a
    /// privileged port without the privilege to bind it.
    #[error("cannot check whether port {port} is free")]
    Check {
        /// The port asked for.
        port: u16,
        /// The error of the test bind.
        #[source]
        source: std::io::Error,
    },
    /// Every candidate port is in use or reserved.
    #[error(
        "no free port in {}: every candidate is in use or reserved by another bundle",
        Ranges(ranges)
    )]
    Exhausted {
        /// The ranges that were scanned.
        ranges: Vec<RangeInclusive<u16>>,
    },
    /// Port 0 means "any port" to the kernel, so it cannot be reserved as a fixed port.
    #[error("port 0 cannot be reserved: allocate a free port instead")]
    PortZero,
}

/// Formats the optional holder pid of [`PortError::Reserved`].
struct Holder(Option<u32>);

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pid) => write!(f, " (pid {pid})"),
            None => Ok(()),
        }
    }
}

/// Formats scanned ranges as `10000-32767, 61000-65535`.
struct Ranges<'a>(&'a [RangeInclusive<u16>]);

impl fmt::Display for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("an empty port range");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}
