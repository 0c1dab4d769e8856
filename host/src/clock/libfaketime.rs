//! The libfaketime injector (`clock = "libfaketime"`), for programs that need what only
//! libfaketime fakes.
//!
//! Each travel rewrites `FAKETIME_TIMESTAMP_FILE` with `+N` or `-N` seconds, N being the
//! whole offset from the real clock, absolute travels included. That is the only format
//! in which every process agrees on the time whenever it started; `@date` restarts each
//! process's clock when it notices the change, and a bare date freezes it. The file is
//! replaced atomically because libfaketime treats a missing or empty file as real time.
//!
//! # Caveats (Debian's 0.9.10)
//! - **Lag.** Processes re-read the file at most once per `FAKETIME_CACHE_DURATION`, set
//!   here to 1 second; in practice a running process sees a travel about 2 seconds later
//!   (measured by `cargo bench -p teamster-clock`: median 2.0 s). `FAKETIME_NO_CACHE=1`
//!   would cut that to about a millisecond but makes every clock call about 100× slower
//!   (2.4 µs instead of 23 ns), so it stays off. Callers that travel and then immediately
//!   check a service should poll until it follows.
//! - **Redis deadlocks at startup** (and so does `redis-cli`): jemalloc reads the clock,
//!   libfaketime's first hook calls `dlsym`, which allocates under jemalloc's lock
//!   (upstream issue #130). Use the default preload injector for Redis.
//! - **Python sleeps break.** With the monotonic clock faked, `threading.Event().wait()`
//!   hangs forever; so `FAKETIME_DONT_FAKE_MONOTONIC=1` is set, but then `time.sleep()`
//!   raises `OSError: [Errno 22]` (upstream #426, fixed in 0.9.11), which kills Django's
//!   autoreloader.
//! - It leaves `/dev/shm/faketime_shm_*` files behind when a process is killed.
//! - Offsets are whole seconds, so an absolute travel lands within a second of its target.

use std::path::{Path, PathBuf};

use super::ClockError;

/// The multiarch directories searched for libfaketime, in order.
const SEARCH_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime",
    "/usr/lib/aarch64-linux-gnu/faketime",
    "/usr/lib64/faketime",
    "/usr/lib/faketime",
    "/usr/local/lib/faketime",
];

/// The library's file name.
const LIBRARY_NAME: &str = "libfaketime.so.1";

/// Finds the system's libfaketime.
pub fn find_libfaketime() -> Result<PathBuf, ClockError> {
    let candidates: Vec<PathBuf> = SEARCH_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(LIBRARY_NAME))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ClockError::LibfaketimeNotFound {
            searched: candidates,
        })
}

/// The variables that make libfaketime follow `timestamp_file`, apart from `LD_PRELOAD`.
pub fn env(timestamp_file: &Path) -> Vec<(String, String)> {
    vec![
        (
            "FAKETIME_TIMESTAMP_FILE".to_owned(),
            timestamp_file.display().to_string(),
        ),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
        ("FAKETIME_CACHE_DURATION".to_owned(), "1".to_owned()),
        ("FAKETIME_NO_CACHE".to_owned(), "0".to_owned()),
    ]
}

/// Variables that must be removed from a faked service's environment, because libfaketime
/// lets them override the timestamp file.
pub const OVERRIDING_VARS: &[&str] = &["FAKETIME"];

/// The timestamp file's contents for an offset: `+N` or `-N` whole seconds.
pub fn timestamp_line(offset_secs: i64) -> String {
    if offset_secs < 0 {
        format!("{offset_secs}\n")
    } else {
        format!("+{offset_secs}\n")
    }
}

/// Reads the offset back from a timestamp file written by [`timestamp_line`].
pub fn parse_timestamp_line(text: &str) -> Option<i64> {
    let text = text.trim();
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_signed_whole_seconds() {
        assert_eq!(timestamp_line(2_592_000), "+2592000\n");
        assert_eq!(timestamp_line(-7200), "-7200\n");
        assert_eq!(timestamp_line(0), "+0\n");
        for n in [2_592_000, -7200, 0] {
            assert_eq!(parse_timestamp_line(&timestamp_line(n)), Some(n));
        }
        assert_eq!(parse_timestamp_line("@2027-01-01 00:00:00"), None);
    }

    #[test]
    fn monotonic_stays_real_and_the_cache_is_short() {
        let env = env(Path::new("/run/x/clock.faketime"));
        insta::assert_debug_snapshot!(env, @r#"
            [
                (
                    "FAKETIME_TIMESTAMP_FILE",
                    "/run/x/clock.faketime",
                ),
                (
                    "FAKETIME_DONT_FAKE_MONOTONIC",
                    "1",
                ),
                (
                    "FAKETIME_CACHE_DURATION",
                    "1",
                ),
                (
                    "FAKETIME_NO_CACHE",
                    "0",
                ),
            ]
            "#);
    }
}
