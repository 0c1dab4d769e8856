//! Putting a child's signal state back to the defaults before `exec`.
//!
//! Handlers do not survive `exec`, but ignored signals and the signal mask do: whoever
//! started teamster (`nohup`, a `&` job of a script, which ignores SIGINT and SIGQUIT, a CI
//! runner) would pass its ignores on to every process teamster starts, and a thread that
//! blocked signals (the supervisor blocks the ones it reads from a signalfd) would pass its
//! mask on. A service whose stop signal is SIGINT (PostgreSQL's fast shutdown, a shell's
//! `trap ... INT`, which cannot even trap a signal ignored at its start) would then never
//! see it and be killed at the end of its grace; a probe or sub-command would not die of the
//! Ctrl-C meant for it. As systemd does for its services, every child starts with every
//! disposition at its default and nothing blocked.
//!
//! The standard library restores only SIGPIPE (which Rust programs ignore) in its children.
//! The C library's `posix_spawn` ignores its own reserved real-time signals (32 and 33 with
//! glibc) in every child it starts, so almost every process inherits those ignored; a C
//! library installs its own handling of them, so they matter to nobody, but they are reset
//! with the rest whenever a child runs code before `exec` anyway.

/// Whether this process ignores a signal other than SIGPIPE and the C library's reserved
/// ones, or the calling thread blocks one: then a child needs [`reset`] before `exec`.
pub(crate) fn needs_reset() -> bool {
    // SAFETY: querying (not changing) dispositions and the mask, into zeroed out-parameters.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        for signal in 1..=libc::SIGRTMAX() {
            if libc::sigismember(&mask, signal) == 1 {
                return true;
            }
            let reserved =
                (libc::SIGRTMIN() - 2..libc::SIGRTMIN()).contains(&signal) && signal > libc::SIGSYS;
            if signal == libc::SIGPIPE || reserved {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut action) == 0
                && action.sa_sigaction == libc::SIG_IGN
            {
                return true;
            }
        }
    }
    false
}

/// Empties the signal mask and puts every signal back to its default disposition.
///
/// The dispositions are set with the raw system call: the C library refuses to touch its
/// reserved signals, which its `posix_spawn` left ignored.
///
/// # Safety
///
/// Only between `fork` and `exec`: it would undo the caller's own signal handling. Calls
/// nothing but `sigprocmask` and `rt_sigaction`, which are async-signal-safe.
pub(crate) unsafe fn reset() -> std::io::Result<()> {
    /// The kernel's `struct sigaction`, all zero: `SIG_DFL`, no flags, no restorer, an empty
    /// mask (the field order differs between architectures; zero is zero in all of them).
    const KERNEL_SIGACTION: [u64; 4] = [0; 4];
    /// The kernel's signal set size, in bytes (64 signals).
    const KERNEL_SIGSET: usize = 8;
    // SAFETY: an empty set is a valid mask; the kernel reads a zeroed struct of the size it
    // expects and rejects SIGKILL and SIGSTOP, which are left as they are, as wanted.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for signal in 1..=64 {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                KERNEL_SIGACTION.as_ptr(),
                std::ptr::null_mut::<libc::c_void>(),
                KERNEL_SIGSET,
            );
        }
    }
    Ok(())
}
