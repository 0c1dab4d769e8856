//! teamster's clock preload library: `LD_PRELOAD=libteamster_clock.so` shifts a process's
//! realtime clocks by an offset that the teamster host can change at any moment.
//!
//! # Why not libfaketime
//! Debian's libfaketime 0.9.10 deadlocks programs linked with jemalloc (Redis) because its
//! hooks call `dlsym`, which allocates, and it breaks Python's sleeps and timed waits. This
//! library does one thing: it adds an offset to the *realtime* clocks and leaves every other
//! clock, the monotonic ones in particular, untouched, so timers, sleeps and timeouts keep
//! running at real speed after any jump.
//!
//! # How
//! - The offset lives in a one-page file named by `TEAMSTER_CLOCK_FILE` (layout in
//!   [`layout`], shared with the host). The library maps it read-only and `MAP_SHARED`, so
//!   a travel written by the host is seen by the very next clock call of every process,
//!   with no system call and no cache.
//! - The real time comes from the kernel's vDSO, found by walking its ELF symbol table
//!   ([`vdso`]), or from the raw `clock_gettime` system call when there is no vDSO.
//! - Hooks never call `dlsym`, never allocate and never take a lock. Setup runs in an
//!   `.init_array` constructor; a hook that runs before it (another library's constructor
//!   reading the clock) performs the same lock-free setup itself.
//! - Without the variable, or with a missing or foreign file, the clocks are simply real:
//!   a faked program never fails because of this library.
//! - Children inherit `LD_PRELOAD` and the variable, and after `fork` the mapping itself,
//!   so a whole process tree shares one clock.
//!
//! # What is covered
//! - `clock_gettime` (and glibc's exported alias `__clock_gettime`) for `CLOCK_REALTIME`,
//!   `CLOCK_REALTIME_COARSE` and `CLOCK_TAI`; all other clock ids pass through.
//! - `gettimeofday`, `time`, `timespec_get(TIME_UTC)` and `ftime`.
//! - Absolute `CLOCK_REALTIME` deadlines, which a program computes from the faked clock,
//!   are moved back onto the real clock, so that waits last as long as the program meant:
//!   `clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, …)`, `sem_timedwait`,
//!   `pthread_mutex_timedlock`, `pthread_rwlock_timedrdlock`/`timedwrlock` and
//!   `pthread_cond_timedwait` (for condition variables on `CLOCK_REALTIME`; the clock is
//!   read from glibc's `pthread_cond_t`, whose layout is fixed since glibc 2.25). They
//!   forward to glibc 2.30's `*clock*` variants, so glibc 2.30 or later is required.
//!
//! Python's `time.time()` and `datetime.now()`, PostgreSQL's `now()` and coreutils' `date`
//! all go through these entry points.
//!
//! # What is not covered
//! - Calls made *inside* glibc to its own clock functions do not go through the dynamic
//!   linker and cannot be interposed; nor can the `*clock*` wait variants called with
//!   `CLOCK_REALTIME` directly, or realtime `futex` waits made with the raw system call.
//! - Binaries linked against glibc's pre-2002 condition variable ABI (`GLIBC_2.2.5`
//!   `pthread_cond_timedwait`) would get the new one.
//! - Kernel-side realtime: file timestamps (`stat`), `SO_TIMESTAMP`, `timerfd` with
//!   `TFD_TIMER_ABSTIME` on `CLOCK_REALTIME`.
//! - Statically linked programs and pure Go binaries, which ignore `LD_PRELOAD` or read the
//!   vDSO themselves.

// Hooks use `core` and `libc` only. The crate links `std` (a `no_std` cdylib would need its
// own panic machinery), but nothing here calls into it, so no hook can allocate.

pub mod layout;
pub mod vdso;

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicUsize, Ordering};

use layout::ClockPage;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Stands in for the clock file when there is none: an offset of zero, forever.
static REAL_TIME: ClockPage = ClockPage {
    magic: layout::MAGIC,
    version: layout::VERSION,
    reserved: 0,
    offset_ns: AtomicI64::new(0),
};

/// The mapped clock page, [`REAL_TIME`], or null before setup.
static PAGE: AtomicPtr<ClockPage> = AtomicPtr::new(ptr::null_mut());

/// The address of the real `clock_gettime` (vDSO or system-call fallback), or 0 before
/// setup.
static REAL_GETTIME: AtomicUsize = AtomicUsize::new(0);

/// Runs the setup when the library is loaded, before `main`.
#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = {
    extern "C" fn construct() {
        real_gettime();
        page();
    }
    construct
};

/// The real `clock_gettime`, resolved on first use.
#[inline(always)]
fn real_gettime() -> vdso::VdsoClockGettime {
    let mut addr = REAL_GETTIME.load(Ordering::Relaxed);
    if addr == 0 {
        // Every thread that races here finds the same answer, so the last store wins
        // harmlessly and no lock is needed.
        addr = match vdso::find_clock_gettime() {
            Some(f) => f as usize,
            None => syscall_clock_gettime as vdso::VdsoClockGettime as usize,
        };
        REAL_GETTIME.store(addr, Ordering::Relaxed);
    }
    // SAFETY: `addr` is one of the two functions of this signature stored above.
    unsafe { core::mem::transmute::<usize, vdso::VdsoClockGettime>(addr) }
}

/// The raw system call, with the vDSO's convention of returning `-errno`.
unsafe extern "C" fn syscall_clock_gettime(
    clock: libc::clockid_t,
    ts: *mut libc::timespec,
) -> c_int {
    // SAFETY: the caller passes its own arguments through unchanged.
    let r = unsafe { libc::syscall(libc::SYS_clock_gettime, clock, ts) };
    if r == -1 { -errno() } else { r as c_int }
}

/// The clock page, mapped on first use.
#[inline(always)]
fn page() -> &'static ClockPage {
    let mut p = PAGE.load(Ordering::Acquire);
    if p.is_null() {
        let saved = errno();
        let mapped = map_page();
        p = match PAGE.compare_exchange(
            ptr::null_mut(),
            mapped,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => mapped,
            Err(winner) => {
                // Another thread mapped the file first; keep its mapping and drop ours.
                if !ptr::eq(mapped, &REAL_TIME) {
                    // SAFETY: `mapped` is our own mapping of FILE_LEN bytes, unused elsewhere.
                    unsafe { libc::munmap(mapped.cast(), layout::FILE_LEN) };
                }
                winner
            }
        };
        set_errno(saved);
    }
    // SAFETY: `p` is either REAL_TIME or a mapping that is never unmapped once published.
    unsafe { &*p }
}

/// Maps the file named by `TEAMSTER_CLOCK_FILE`, or returns [`REAL_TIME`] when there is no
/// usable file. Uses only system calls and `getenv`, none of which allocate.
fn map_page() -> *mut ClockPage {
    let real = ptr::from_ref(&REAL_TIME).cast_mut();
    // SAFETY: getenv reads the environment and returns a pointer into it, or null.
    let path = unsafe { libc::getenv(layout::ENV_VAR_C.as_ptr()) };
    if path.is_null() {
        return real;
    }
    // SAFETY: `path` is a NUL-terminated string from the environment.
    let fd = unsafe { libc::open(path, libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return real;
    }
    // SAFETY: `st` is a plain struct that fstat fills in.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fd is open and `st` is ours.
    let long_enough =
        unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_size >= layout::FILE_LEN as i64;
    let map = if long_enough {
        // SAFETY: a fresh read-only shared mapping of a file at least FILE_LEN long.
        unsafe {
            libc::mmap(
                ptr::null_mut(),
                layout::FILE_LEN,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        }
    } else {
        libc::MAP_FAILED
    };
    // SAFETY: fd is ours; the mapping outlives it.
    unsafe { libc::close(fd) };
    if map == libc::MAP_FAILED {
        return real;
    }
    let mapped = map.cast::<ClockPage>();
    // SAFETY: the mapping is FILE_LEN bytes, page-aligned, and ClockPage fits in it.
    if layout::is_valid(unsafe { &*mapped }) {
        mapped
    } else {
        // SAFETY: our own mapping, not published anywhere.
        unsafe { libc::munmap(map, layout::FILE_LEN) };
        real
    }
}

fn errno() -> c_int {
    // SAFETY: glibc's errno location is valid for the calling thread.
    unsafe { *libc::__errno_location() }
}

fn set_errno(value: c_int) {
    // SAFETY: glibc's errno location is valid for the calling thread.
    unsafe { *libc::__errno_location() = value }
}

/// Whether `clock` is one of the clocks this library shifts.
#[inline(always)]
fn is_shifted(clock: libc::clockid_t) -> bool {
    matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_TAI
    )
}

/// Adds `offset_ns` to `ts`, keeping `tv_nsec` in `0..1e9`.
#[inline(always)]
#[cfg_attr(
    target_pointer_width = "64",
    expect(
        clippy::useless_conversion,
        reason = "time_t and long are 32 bits wide on 32-bit targets"
    )
)]
fn shift(ts: &mut libc::timespec, offset_ns: i64) {
    let mut sec = i64::from(ts.tv_sec) + offset_ns.div_euclid(NANOS_PER_SEC);
    let mut nsec = i64::from(ts.tv_nsec) + offset_ns.rem_euclid(NANOS_PER_SEC);
    if nsec >= NANOS_PER_SEC {
        nsec -= NANOS_PER_SEC;
        sec += 1;
    }
    ts.tv_sec = sec as libc::time_t;
    ts.tv_nsec = nsec as _;
}

/// The real time of `clock` with libc's conventions (`-1` and `errno` on failure).
#[inline(always)]
unsafe fn real_clock(clock: libc::clockid_t, ts: *mut libc::timespec) -> c_int {
    // SAFETY: the caller passes its own arguments through unchanged.
    let r = unsafe { real_gettime()(clock, ts) };
    if r < 0 {
        set_errno(-r);
        return -1;
    }
    r
}

/// The faked `CLOCK_REALTIME`, which never fails.
#[inline(always)]
fn faked_realtime() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is ours. CLOCK_REALTIME cannot fail with a valid pointer.
    unsafe { real_clock(libc::CLOCK_REALTIME, &mut ts) };
    shift(&mut ts, page().offset_ns.load(Ordering::Relaxed));
    ts
}

/// `clock_gettime(2)`: realtime clocks shifted, everything else passed through.
///
/// # Safety
/// `ts` must be valid for writing one `timespec`, as for the libc function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn clock_gettime(clock: libc::clockid_t, ts: *mut libc::timespec) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    let r = unsafe { real_clock(clock, ts) };
    if r == 0 && is_shifted(clock) {
        // SAFETY: the call succeeded, so `ts` is a valid, written timespec.
        shift(
            unsafe { &mut *ts },
            page().offset_ns.load(Ordering::Relaxed),
        );
    }
    r
}

/// glibc's exported alias of `clock_gettime`, used by some of its sibling libraries.
///
/// # Safety
/// As [`clock_gettime`].
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn __clock_gettime(clock: libc::clockid_t, ts: *mut libc::timespec) -> c_int {
    // SAFETY: the caller's arguments, passed through.
    unsafe { clock_gettime(clock, ts) }
}

/// `gettimeofday(2)`: the faked realtime clock in microseconds. The obsolete time zone
/// argument is filled by the kernel, as glibc does.
///
/// # Safety
/// `tv` and `tz` must each be null or valid for writing, as for the libc function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn gettimeofday(tv: *mut libc::timeval, tz: *mut c_void) -> c_int {
    if !tz.is_null() {
        // SAFETY: the caller's time zone buffer, passed through.
        if unsafe { libc::syscall(libc::SYS_gettimeofday, ptr::null_mut::<libc::timeval>(), tz) }
            != 0
        {
            return -1;
        }
    }
    if !tv.is_null() {
        let ts = faked_realtime();
        // SAFETY: the caller guarantees `tv` is writable.
        unsafe {
            (*tv).tv_sec = ts.tv_sec;
            (*tv).tv_usec = (ts.tv_nsec / 1000) as libc::suseconds_t;
        }
    }
    0
}

/// `time(2)`: the faked realtime clock in whole seconds.
///
/// # Safety
/// `t` must be null or valid for writing one `time_t`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn time(t: *mut libc::time_t) -> libc::time_t {
    let now = faked_realtime().tv_sec;
    if !t.is_null() {
        // SAFETY: the caller guarantees `t` is writable.
        unsafe { *t = now };
    }
    now
}

/// C11 `TIME_UTC`.
const TIME_UTC: c_int = 1;
/// C23 bases that glibc 2.41+ accepts, mapped to the clocks glibc maps them to.
const TIME_MONOTONIC: c_int = 2;
const TIME_ACTIVE: c_int = 3;
const TIME_THREAD_ACTIVE: c_int = 4;

/// `timespec_get(3)`: `TIME_UTC` is the faked realtime clock; the other bases pass through.
///
/// # Safety
/// `ts` must be valid for writing one `timespec`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn timespec_get(ts: *mut libc::timespec, base: c_int) -> c_int {
    let clock = match base {
        TIME_UTC => {
            // SAFETY: the caller guarantees `ts` is writable.
            unsafe { *ts = faked_realtime() };
            return base;
        }
        TIME_MONOTONIC => libc::CLOCK_MONOTONIC,
        TIME_ACTIVE => libc::CLOCK_PROCESS_CPUTIME_ID,
        TIME_THREAD_ACTIVE => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return 0,
    };
    // SAFETY: the caller guarantees `ts` is writable.
    if unsafe { real_clock(clock, ts) } == 0 {
        base
    } else {
        0
    }
}

/// `struct timeb` from `<sys/timeb.h>`.
#[repr(C)]
#[derive(Debug)]
pub struct Timeb {
    /// Seconds since the epoch.
    pub time: libc::time_t,
    /// Milliseconds.
    pub millitm: u16,
    /// Minutes west of UTC; glibc always reports 0.
    pub timezone: i16,
    /// Daylight saving flag; glibc always reports 0.
    pub dstflag: i16,
}

/// `ftime(3)`: the faked realtime clock in milliseconds.
///
/// # Safety
/// `tp` must be valid for writing one `struct timeb`.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn ftime(tp: *mut Timeb) -> c_int {
    let ts = faked_realtime();
    // SAFETY: the caller guarantees `tp` is writable.
    unsafe {
        *tp = Timeb {
            time: ts.tv_sec,
            millitm: (ts.tv_nsec / 1_000_000) as u16,
            timezone: 0,
            dstflag: 0,
        };
    }
    0
}

/// `clock_nanosleep(2)`: an absolute `CLOCK_REALTIME` deadline was computed from the faked
/// clock, so it is moved back by the offset before the kernel sees it. Everything else
/// passes through. Like the libc function, it returns an error number rather than setting
/// `errno`.
///
/// # Safety
/// `request` must be valid for reading and `remain` null or valid for writing.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    request: *const libc::timespec,
    remain: *mut libc::timespec,
) -> c_int {
    let mut deadline;
    let mut request = request;
    if clock == libc::CLOCK_REALTIME && flags & libc::TIMER_ABSTIME != 0 && !request.is_null() {
        // SAFETY: the caller guarantees `request` is readable.
        deadline = unsafe { *request };
        shift(&mut deadline, -page().offset_ns.load(Ordering::Relaxed));
        request = &deadline;
    }
    // SAFETY: the caller's arguments (or our shifted copy), passed through.
    let r = unsafe { libc::syscall(libc::SYS_clock_nanosleep, clock, flags, request, remain) };
    if r == -1 { errno() } else { 0 }
}

/// Moves an absolute `CLOCK_REALTIME` deadline computed from the faked clock back onto the
/// real clock, in `store`. Null and malformed deadlines are passed on untouched, so that
/// libc reports them exactly as it would have.
#[inline(always)]
fn real_deadline(
    deadline: *const libc::timespec,
    store: &mut libc::timespec,
) -> *const libc::timespec {
    if deadline.is_null() {
        return deadline;
    }
    // SAFETY: the caller's deadline, which libc would read too.
    let wanted = unsafe { *deadline };
    if !(0..NANOS_PER_SEC as libc::c_long).contains(&wanted.tv_nsec) {
        return deadline;
    }
    *store = wanted;
    shift(store, -page().offset_ns.load(Ordering::Relaxed));
    store
}

// glibc 2.30 added a `clock` variant of every timed wait. Forwarding to it with the moved
// deadline reaches the real implementation without `dlsym`.
unsafe extern "C" {
    fn sem_clockwait(
        sem: *mut libc::sem_t,
        clock: libc::clockid_t,
        deadline: *const libc::timespec,
    ) -> c_int;
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        deadline: *const libc::timespec,
    ) -> c_int;
    fn pthread_rwlock_clockrdlock(
        lock: *mut libc::pthread_rwlock_t,
        clock: libc::clockid_t,
        deadline: *const libc::timespec,
    ) -> c_int;
    fn pthread_rwlock_clockwrlock(
        lock: *mut libc::pthread_rwlock_t,
        clock: libc::clockid_t,
        deadline: *const libc::timespec,
    ) -> c_int;
    fn pthread_cond_clockwait(
        cond: *mut libc::pthread_cond_t,
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        deadline: *const libc::timespec,
    ) -> c_int;
}

/// `sem_timedwait(3)`: the `CLOCK_REALTIME` deadline moved onto the real clock.
///
/// # Safety
/// As for the libc function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn sem_timedwait(
    sem: *mut libc::sem_t,
    deadline: *const libc::timespec,
) -> c_int {
    let mut store = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let deadline = real_deadline(deadline, &mut store);
    // SAFETY: the caller's semaphore and our (or its) deadline.
    unsafe { sem_clockwait(sem, libc::CLOCK_REALTIME, deadline) }
}

/// `pthread_mutex_timedlock(3)`: the `CLOCK_REALTIME` deadline moved onto the real clock.
///
/// # Safety
/// As for the libc function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn pthread_mutex_timedlock(
    mutex: *mut libc::pthread_mutex_t,
    deadline: *const libc::timespec,
) -> c_int {
    let mut store = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let deadline = real_deadline(deadline, &mut store);
    // SAFETY: the caller's mutex and our (or its) deadline.
    unsafe { pthread_mutex_clocklock(mutex, libc::CLOCK_REALTIME, deadline) }
}

/// `pthread_rwlock_timedrdlock(3)`: the `CLOCK_REALTIME` deadline moved onto the real
/// clock.
///
/// # Safety
/// As for the libc function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(
    lock: *mut libc::pthread_rwlock_t,
    deadline: *const libc::timespec,
) -> c_int {
    let mut store = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let deadline = real_deadline(deadline, &mut store);
    // SAFETY: the caller's lock and our (or its) deadline.
    unsafe { pthread_rwlock_clockrdlock(lock, libc::CLOCK_REALTIME, deadline) }
}

/// `pthread_rwlock_timedwrlock(3)`: the `CLOCK_REALTIME` deadline moved onto the real
/// clock.
///
/// # Safety
/// As for the libc function.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(
    lock: *mut libc::pthread_rwlock_t,
    deadline: *const libc::timespec,
) -> c_int {
    let mut store = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let deadline = real_deadline(deadline, &mut store);
    // SAFETY: the caller's lock and our (or its) deadline.
    unsafe { pthread_rwlock_clockwrlock(lock, libc::CLOCK_REALTIME, deadline) }
}

/// Where glibc (2.25 and later) keeps a condition variable's flags: `__wrefs`, the 32-bit
/// word after `__wseq`, `__g1_start`, `__g_refs[2]`, `__g_size[2]` and `__g1_orig_size`.
/// Its bit 1 is set when the variable waits on `CLOCK_MONOTONIC`.
const COND_WREFS_AT: usize = 36;
const COND_CLOCK_MONOTONIC: u32 = 2;

/// `pthread_cond_timedwait(3)`: the deadline is on the condition variable's clock, so only
/// a `CLOCK_REALTIME` one is moved onto the real clock; a monotonic one passes through.
///
/// # Safety
/// As for the libc function.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn pthread_cond_timedwait(
    cond: *mut libc::pthread_cond_t,
    mutex: *mut libc::pthread_mutex_t,
    deadline: *const libc::timespec,
) -> c_int {
    // SAFETY: `cond` is an initialised glibc condition variable, 48 bytes long; glibc
    // itself reads this word with a relaxed atomic load, as here.
    let flags = unsafe {
        (*cond
            .cast::<u8>()
            .add(COND_WREFS_AT)
            .cast::<core::sync::atomic::AtomicU32>())
        .load(Ordering::Relaxed)
    };
    let mut store = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let (clock, deadline) = if flags & COND_CLOCK_MONOTONIC != 0 {
        (libc::CLOCK_MONOTONIC, deadline)
    } else {
        (libc::CLOCK_REALTIME, real_deadline(deadline, &mut store))
    };
    // SAFETY: the caller's condition variable and mutex, and our (or its) deadline.
    unsafe { pthread_cond_clockwait(cond, mutex, clock, deadline) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(sec: i64, nsec: i64) -> libc::timespec {
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }
    }

    #[test]
    fn shift_carries_nanoseconds_both_ways() {
        let cases = [
            (ts(10, 900_000_000), 200_000_000, (11, 100_000_000)),
            (ts(10, 100_000_000), -200_000_000, (9, 900_000_000)),
            (ts(10, 0), -1, (9, 999_999_999)),
            (
                ts(10, 5),
                30 * 86_400 * NANOS_PER_SEC,
                (10 + 30 * 86_400, 5),
            ),
            (ts(10, 5), 0, (10, 5)),
        ];
        for (mut t, offset, want) in cases {
            shift(&mut t, offset);
            assert_eq!((t.tv_sec, t.tv_nsec), want, "offset {offset}");
        }
    }

    #[test]
    fn only_the_realtime_clocks_are_shifted() {
        assert!(is_shifted(libc::CLOCK_REALTIME));
        assert!(is_shifted(libc::CLOCK_REALTIME_COARSE));
        assert!(is_shifted(libc::CLOCK_TAI));
        for clock in [
            libc::CLOCK_MONOTONIC,
            libc::CLOCK_MONOTONIC_RAW,
            libc::CLOCK_MONOTONIC_COARSE,
            libc::CLOCK_BOOTTIME,
            libc::CLOCK_PROCESS_CPUTIME_ID,
            libc::CLOCK_THREAD_CPUTIME_ID,
            -2,
        ] {
            assert!(!is_shifted(clock), "clock {clock}");
        }
    }

    #[test]
    fn without_a_clock_file_the_offset_is_zero() {
        // The test harness does not set TEAMSTER_CLOCK_FILE.
        assert!(std::env::var_os(layout::ENV_VAR).is_none());
        assert!(ptr::eq(page(), &REAL_TIME));
        assert_eq!(page().offset_ns.load(Ordering::Relaxed), 0);
    }
}
