//! The lock-file protocol that makes a reservation visible to every allocator on the machine.
//!
//! A port is reserved by holding an exclusive `flock` on `<dir>/<port>.lock` through an open
//! file descriptor. The kernel drops the lock when the descriptor is closed, including when
//! the process dies, so a crashed bundle never keeps a port: its file stays behind, unlocked,
//! and the next allocator simply locks it.
//!
//! A releasing holder deletes its file while it still holds the lock. That is safe only
//! because every acquirer, after locking, checks that the path still names the inode it
//! locked: an allocator that opened the file just before it was deleted ends up locking an
//! orphaned inode, notices, and starts over with a fresh file. Without that check, two
//! allocators could each hold a lock on a different inode for the same port.
//!
//! The default directory is shared by all users (mode 1777, like `/tmp`), because ports are
//! shared by all users. Files are therefore opened with `O_NOFOLLOW`, another user's file is
//! opened read-only (`flock` works on a read-only descriptor), and the holder's pid is written
//! only into a regular file with a single link that this user owns, so a planted link cannot
//! make us overwrite anything else.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How often an acquirer starts over because the file it locked was deleted under it before
/// it concludes that the port is too busy to take.
const MAX_ATTEMPTS: usize = 16;

/// The lock file of `port` in `dir`.
pub(crate) fn lock_path(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("{port}.lock"))
}

/// The outcome of trying to lock a port.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The lock is ours until the [`PortLock`] is dropped.
    Acquired(PortLock),
    /// Another allocator holds the lock.
    Held {
        /// The pid its holder recorded, when it could be read.
        pid: Option<u32>,
    },
}

/// A held lock on a port's lock file. Dropping it deletes the file and releases the lock.
#[derive(Debug)]
pub(crate) struct PortLock {
    path: PathBuf,
    // `Drop::drop` below runs before this field is dropped, so the file is deleted while the
    // lock is still held, which is what the inode check of acquirers relies on.
    _file: Flock<File>,
}

impl Drop for PortLock {
    fn drop(&mut self) {
        // Deleting keeps the shared directory small. Failure (another user's file in a sticky
        // directory) is harmless: an unlocked file reserves nothing.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether an opened lock file may be written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// Tries to take the lock of `port` in `dir` without blocking.
pub(crate) fn try_lock(dir: &Path, port: u16) -> io::Result<Attempt> {
    let path = lock_path(dir, port);
    for _ in 0..MAX_ATTEMPTS {
        let Some((file, access)) = open_lock_file(&path)? else {
            continue;
        };
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => file,
            Err((file, Errno::EWOULDBLOCK)) => {
                return Ok(Attempt::Held {
                    pid: read_pid(&file),
                });
            }
            Err((_, errno)) => return Err(errno.into()),
        };
        if !still_linked(&file, &path)? {
            continue;
        }
        if access == Access::ReadWrite {
            // The pid only improves error messages for other bundles; a failure to record
            // it must not fail the reservation.
            let _ = record_pid(&file);
        }
        return Ok(Attempt::Acquired(PortLock { path, _file: file }));
    }
    // Other allocators keep taking and releasing this very port: treat it as taken.
    Ok(Attempt::Held { pid: None })
}

/// Opens (creating if needed) the lock file, or `None` when it vanished or appeared between
/// two steps and the caller should start over.
fn open_lock_file(path: &Path) -> io::Result<Option<(File, Access)>> {
    // Opening without `O_CREAT` first matters: with `fs.protected_regular`, an `O_CREAT` open
    // of another user's file in a sticky directory fails even when its mode allows it.
    let open = |access: Access| {
        OpenOptions::new()
            .read(true)
            .write(access == Access::ReadWrite)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    };
    match open(Access::ReadWrite) {
        Ok(file) => Ok(Some((file, Access::ReadWrite))),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Ok(Some((open(Access::ReadOnly)?, Access::ReadOnly)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let created = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path);
            match created {
                Ok(file) => {
                    // Undo a restrictive umask so that other users can lock the file too.
                    file.set_permissions(fs::Permissions::from_mode(0o644))?;
                    Ok(Some((file, Access::ReadWrite)))
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether `path` still names the inode that `file` has open.
pub(super) fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes this process's pid into the locked file, if it is a plain file of ours.
fn record_pid(file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() != 1 || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Ok(());
    }
    file.set_len(0)?;
    file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)
}

/// Reads the pid a holder recorded. The holder may be between truncating and writing, or
/// may not have been allowed to write, so a missing or garbled pid is normal.
fn read_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 16];
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// Prepares a directory shared by every user on the machine: created with mode 1777 (world
/// writable, sticky) when missing, and refused when it is a symlink or not a directory.
pub(crate) fn prepare_shared_dir(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(0o700).create(path) {
        // Set the mode only on a directory we created, and after creating it, so a
        // restrictive umask cannot keep other users out.
        Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(0o1777)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => ensure_real_dir(path),
        Err(e) => Err(e),
    }
}

/// Prepares a directory chosen by the caller: created with mode 0700 (with its parents) when
/// missing, and refused when it is not a directory. Unlike the shared directory, it may be
/// reached through a symlink: the caller picked it.
pub(crate) fn prepare_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    if fs::metadata(path)?.is_dir() {
        Ok(())
    } else {
        Err(io::ErrorKind::NotADirectory.into())
    }
}

/// Fails unless `path` is a directory itself rather than a file or a symlink to one.
fn ensure_real_dir(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        Ok(())
    } else {
        Err(io::ErrorKind::NotADirectory.into())
    }
}
