//! The writer side of the shared clock file read by `libteamster_clock.so`.
//!
//! The file is created complete under a temporary name and renamed into place, so a
//! process that opens it never sees a half-written header. The host then keeps a shared,
//! writable mapping and a travel is one atomic store into it: every faked process, whatever
//! its age, sees the new offset on its next clock call. The layout lives in
//! `clock/src/layout.rs`, compiled into both this crate and the preload library.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, Ordering};

use super::layout;

/// A mapped clock file, open for writing travels.
#[derive(Debug)]
pub struct ClockFile {
    path: PathBuf,
    page: NonNull<layout::ClockPage>,
}

// SAFETY: the mapping is owned by this value and only touched through the atomic offset;
// the header is written before the mapping exists and never changes.
unsafe impl Send for ClockFile {}
// SAFETY: as above; concurrent access goes through `AtomicI64`.
unsafe impl Sync for ClockFile {}

impl ClockFile {
    /// Creates (or replaces) the clock file at `path` with the given offset, then maps it.
    pub fn create(path: &Path, offset_ns: i64) -> io::Result<ClockFile> {
        replace_atomically(path, &layout::initial_page(offset_ns))?;
        ClockFile::open(path)
    }

    /// Maps an existing clock file, for example one created by another teamster process for
    /// the same run. Fails with `InvalidData` if it is not a clock file of this layout.
    pub fn open(path: &Path) -> io::Result<ClockFile> {
        let file = fs::OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() < layout::FILE_LEN as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "clock file is too short",
            ));
        }
        // SAFETY: a fresh shared mapping of FILE_LEN bytes of a file at least that long.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout::FILE_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let page = NonNull::new(map.cast::<layout::ClockPage>())
            .expect("mmap never returns null on success");
        let clock = ClockFile {
            path: path.to_owned(),
            page,
        };
        if !layout::is_valid(clock.page()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a teamster clock file",
            ));
        }
        Ok(clock)
    }

    /// The file's path, as faked processes must be told in `TEAMSTER_CLOCK_FILE`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current offset in nanoseconds.
    pub fn offset_ns(&self) -> i64 {
        self.offset_cell().load(Ordering::Acquire)
    }

    /// Publishes a new offset; every faked process sees it on its next clock call.
    pub fn set_offset_ns(&self, offset_ns: i64) {
        self.offset_cell().store(offset_ns, Ordering::Release);
    }

    fn page(&self) -> &layout::ClockPage {
        // SAFETY: the mapping is valid, aligned and FILE_LEN long for the life of `self`.
        unsafe { self.page.as_ref() }
    }

    fn offset_cell(&self) -> &AtomicI64 {
        &self.page().offset_ns
    }
}

/// Replaces `path` with a file holding `bytes`, so that readers find either the old file or
/// the complete new one, never a partial write: the bytes go to a temporary file in the same
/// directory, which is then renamed over `path`.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // The temporary file is ours and useless now; a failure to remove it changes nothing.
        let _ = fs::remove_file(&tmp);
    }
    written
}

impl Drop for ClockFile {
    fn drop(&mut self) {
        // SAFETY: our own mapping of FILE_LEN bytes, unused after this.
        unsafe { libc::munmap(self.page.as_ptr().cast(), layout::FILE_LEN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_file_has_the_layout_the_preload_library_expects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let clock = ClockFile::create(&path, -5).unwrap();
        clock.set_offset_ns(0x0102_0304_0506_0708);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), layout::FILE_LEN);
        assert_eq!(&bytes[0..8], b"TMSTRCLK");
        assert_eq!(&bytes[8..12], &1u32.to_ne_bytes());
        assert_eq!(layout::OFFSET_NS_AT, 16);
        assert_eq!(&bytes[16..24], &0x0102_0304_0506_0708i64.to_ne_bytes());
    }

    #[test]
    fn a_second_mapping_sees_every_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let writer = ClockFile::create(&path, 7).unwrap();
        let reader = ClockFile::open(&path).unwrap();
        assert_eq!(reader.offset_ns(), 7);
        writer.set_offset_ns(-86_400_000_000_000);
        assert_eq!(reader.offset_ns(), -86_400_000_000_000);
    }

    #[test]
    fn foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        fs::write(&short, b"TMSTRCLK").unwrap();
        assert_eq!(
            ClockFile::open(&short).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let foreign = dir.path().join("foreign");
        fs::write(&foreign, vec![b'x'; layout::FILE_LEN]).unwrap();
        assert_eq!(
            ClockFile::open(&foreign).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
