//! The layout of the shared clock file, the one contract between the host and the preload
//! library.
//!
//! This file is compiled twice: as a module of the preload library (`teamster-clock`), which
//! maps the file read-only, and, through `#[path]`, as a module of the host (`teamster`),
//! which creates the file and writes travels into it. Keeping the definition in one file
//! means the two sides cannot drift apart. It therefore uses only `core`, so that the preload
//! library's hooks stay free of allocation.
//!
//! The file is one page long. A travel is a single atomic store of a signed 64-bit offset in
//! nanoseconds; every process that maps the file sees it on its very next clock call,
//! without a system call. A single word needs no seqlock: readers can never see half of it.

use core::sync::atomic::AtomicI64;

/// The variable holding the path of the clock file in a faked service's environment, as a
/// NUL-terminated C string for `getenv` in the preload library.
pub const ENV_VAR_C: &core::ffi::CStr = c"TEAMSTER_CLOCK_FILE";

/// [`ENV_VAR_C`] as a Rust string, for the host.
pub const ENV_VAR: &str = match ENV_VAR_C.to_str() {
    Ok(name) => name,
    Err(_) => panic!("the variable name is ASCII"),
};

/// The first eight bytes of a clock file, `TMSTRCLK` read as a little-endian integer.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TMSTRCLK");

/// The layout version. Readers ignore a file with any other version and keep the real clock.
pub const VERSION: u32 = 1;

/// The length of the file: one page, so that one mapping covers it on every platform.
pub const FILE_LEN: usize = 4096;

/// The start of the clock file, as both sides map it.
///
/// The host writes `magic` and `version` before the file gets its final name (it is created
/// under a temporary name and renamed), so a reader that can open the file always finds
/// them in place.
#[repr(C, align(8))]
#[derive(Debug)]
pub struct ClockPage {
    /// Always [`MAGIC`].
    pub magic: u64,
    /// Always [`VERSION`].
    pub version: u32,
    /// Zero; keeps `offset_ns` on an 8-byte boundary.
    pub reserved: u32,
    /// How far the faked realtime clocks are ahead of the real ones, in nanoseconds
    /// (negative: behind).
    pub offset_ns: AtomicI64,
}

/// Byte offset of [`ClockPage::offset_ns`] in the file.
pub const OFFSET_NS_AT: usize = core::mem::offset_of!(ClockPage, offset_ns);

// The page must fit in the file, and the offset must be naturally aligned so that loads and
// stores of it are single instructions.
const _: () = assert!(core::mem::size_of::<ClockPage>() <= FILE_LEN);
const _: () = assert!(OFFSET_NS_AT.is_multiple_of(8));

/// The bytes a freshly created clock file starts with: the header and a zero offset.
pub fn initial_page(offset_ns: i64) -> [u8; FILE_LEN] {
    let mut page = [0u8; FILE_LEN];
    page[0..8].copy_from_slice(&MAGIC.to_ne_bytes());
    page[8..12].copy_from_slice(&VERSION.to_ne_bytes());
    page[OFFSET_NS_AT..OFFSET_NS_AT + 8].copy_from_slice(&offset_ns.to_ne_bytes());
    page
}

/// Whether a mapped page carries this layout (right magic and version).
pub fn is_valid(page: &ClockPage) -> bool {
    page.magic == MAGIC && page.version == VERSION
}
