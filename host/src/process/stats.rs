//! One process's statistics, from `/proc/<pid>/stat` and friends, plus totals over its tree.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::error::ProcessError;
use super::net::{self, ListeningSocket};
use super::tree::descendants;

/// The scheduler state of a process, the third field of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// `R`: running or runnable.
    Running,
    /// `S`: interruptible sleep (waiting for an event).
    Sleeping,
    /// `D`: uninterruptible sleep (usually disk or network filesystem I/O).
    DiskSleep,
    /// `Z`: exited but not yet reaped by its parent.
    Zombie,
    /// `T`: stopped by a signal.
    Stopped,
    /// `t`: stopped by a debugger.
    TracingStop,
    /// `X` or `x`: being torn down.
    Dead,
    /// `I`: an idle kernel thread.
    Idle,
    /// `K`, `W` or `P`: wakekill, waking or parked (rare, kernel-version specific).
    Transient(char),
    /// A letter this code does not know.
    Unknown(char),
}

impl ProcessState {
    fn from_code(code: char) -> Self {
        match code {
            'R' => ProcessState::Running,
            'S' => ProcessState::Sleeping,
            'D' => ProcessState::DiskSleep,
            'Z' => ProcessState::Zombie,
            'T' => ProcessState::Stopped,
            't' => ProcessState::TracingStop,
            'X' | 'x' => ProcessState::Dead,
            'I' => ProcessState::Idle,
            'K' | 'W' | 'P' => ProcessState::Transient(code),
            other => ProcessState::Unknown(other),
        }
    }

    /// Whether the process has exited (zombie or dead): it runs no code any more.
    pub fn has_exited(self) -> bool {
        matches!(self, ProcessState::Zombie | ProcessState::Dead)
    }
}

/// Totals over a process and all its descendants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeTotals {
    /// How many processes were counted (the process itself included).
    pub processes: usize,
    /// Cpu time spent in user mode by the live processes of the tree.
    pub user_cpu: Duration,
    /// Cpu time spent in the kernel by the live processes of the tree.
    pub system_cpu: Duration,
    /// Resident memory of the tree. Pages shared between processes are counted once per
    /// process, so this overstates a forking server's real footprint.
    pub rss_bytes: u64,
}

/// A snapshot of one process and its tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStats {
    /// The process id.
    pub pid: u32,
    /// The parent's pid.
    pub parent: u32,
    /// The process group id.
    pub process_group: u32,
    /// The session id.
    pub session: u32,
    /// The command name (`comm`, at most 15 bytes, set by the program).
    pub name: String,
    /// The scheduler state.
    pub state: ProcessState,
    /// Cpu time spent in user mode by this process (all its threads).
    pub user_cpu: Duration,
    /// Cpu time spent in the kernel by this process (all its threads).
    pub system_cpu: Duration,
    /// Resident memory.
    pub rss_bytes: u64,
    /// Number of threads.
    pub threads: u32,
    /// When the process started; `None` if the boot time is unreadable.
    pub started_at: Option<SystemTime>,
    /// Every descendant's pid, parents before their children.
    pub children: Vec<u32>,
    /// Number of open file descriptors; `None` when not permitted to look.
    pub open_fds: Option<usize>,
    /// Listening TCP sockets (IPv4 and IPv6) held by the process or any descendant, each
    /// socket once, sorted by address.
    pub listening: Vec<ListeningSocket>,
    /// Cpu and memory summed over the process and its descendants.
    pub tree: TreeTotals,
}

impl ProcessStats {
    /// The distinct TCP ports the tree listens on, ascending.
    pub fn listening_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.listening.iter().map(|s| s.addr.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

/// Reads a snapshot of `pid`: its own numbers, its descendants, open files, listening
/// sockets and tree totals.
///
/// Fails with [`ProcessError::NotFound`] if `pid` does not exist. Descendants that vanish
/// while they are read are left out of the totals and socket list.
pub fn stats(pid: u32) -> Result<ProcessStats, ProcessError> {
    let own = read_stat(pid)?;
    let children = descendants(pid);

    let mut tree = own.totals();
    for &child in &children {
        if let Ok(stat) = read_stat(child) {
            let t = stat.totals();
            tree.processes += t.processes;
            tree.user_cpu += t.user_cpu;
            tree.system_cpu += t.system_cpu;
            tree.rss_bytes += t.rss_bytes;
        }
    }

    let mut tree_pids = Vec::with_capacity(children.len() + 1);
    tree_pids.push(pid);
    tree_pids.extend_from_slice(&children);
    let (open_fds, listening) = net::scan(pid, &tree_pids);

    Ok(ProcessStats {
        pid,
        parent: own.ppid,
        process_group: own.pgrp,
        session: own.session,
        name: own.comm.clone(),
        state: own.state,
        user_cpu: ticks(own.utime),
        system_cpu: ticks(own.stime),
        rss_bytes: own.rss_pages.saturating_mul(page_size()),
        threads: own.threads,
        started_at: boot_time().map(|boot| boot + ticks(own.starttime)),
        children,
        open_fds,
        listening,
        tree,
    })
}

/// Whether `pid` is a process that has not exited; zombies count as exited.
pub fn is_alive(pid: u32) -> bool {
    read_stat(pid).is_ok_and(|s| !s.state.has_exited())
}

/// When `pid` started, in clock ticks since boot: with the pid, it names one process
/// for good (a pid alone may be reused). `None` if it is gone.
pub fn start_ticks(pid: u32) -> Option<u64> {
    read_stat(pid)
        .ok()
        .filter(|s| !s.state.has_exited())
        .map(|s| s.starttime)
}

/// The fields of `/proc/<pid>/stat` this module uses, as the kernel reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawStat {
    pub(crate) comm: String,
    pub(crate) state: ProcessState,
    pub(crate) ppid: u32,
    pub(crate) pgrp: u32,
    pub(crate) session: u32,
    /// User cpu time, in clock ticks.
    pub(crate) utime: u64,
    /// System cpu time, in clock ticks.
    pub(crate) stime: u64,
    pub(crate) threads: u32,
    /// Start time, in clock ticks after boot.
    pub(crate) starttime: u64,
    pub(crate) rss_pages: u64,
}

impl RawStat {
    /// This process alone as tree totals; an exited process holds no memory and adds nothing.
    fn totals(&self) -> TreeTotals {
        if self.state.has_exited() {
            return TreeTotals::default();
        }
        TreeTotals {
            processes: 1,
            user_cpu: ticks(self.utime),
            system_cpu: ticks(self.stime),
            rss_bytes: self.rss_pages.saturating_mul(page_size()),
        }
    }
}

/// Reads and parses `/proc/<pid>/stat`.
pub(crate) fn read_stat(pid: u32) -> Result<RawStat, ProcessError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // ESRCH shows up when the process is reaped between open and read.
        Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            return Err(ProcessError::NotFound { pid });
        }
        Err(source) => return Err(ProcessError::Read { path, source }),
    };
    parse_stat(&text).map_err(|what| ProcessError::Parse { path, what })
}

/// Parses the text of a `stat` file. The command name is in parentheses and may itself
/// contain spaces and parentheses, so the fields are found after the *last* `)`.
fn parse_stat(text: &str) -> Result<RawStat, &'static str> {
    let open = text.find('(').ok_or("no `(` before the command name")?;
    let close = text.rfind(')').ok_or("no `)` after the command name")?;
    if close < open {
        return Err("`)` before `(`");
    }
    let comm = text[open + 1..close].to_owned();
    // Fields from the third (state) on; index 0 here is field 3 in proc(5).
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied().ok_or("too few fields");
    let number = |n: usize| -> Result<u64, &'static str> {
        field(n)?
            .parse()
            .map_err(|_| "a numeric field is not a number")
    };
    let small = |n: usize| -> Result<u32, &'static str> {
        u32::try_from(number(n)?).map_err(|_| "a pid or count field is out of range")
    };
    let state = field(3)?.chars().next().ok_or("empty state field")?;
    Ok(RawStat {
        comm,
        state: ProcessState::from_code(state),
        ppid: small(4)?,
        pgrp: small(5)?,
        session: small(6)?,
        utime: number(14)?,
        stime: number(15)?,
        threads: small(20)?,
        starttime: number(22)?,
        // rss is signed in the kernel's format; a negative value has never been seen.
        rss_pages: field(24)?
            .parse::<i64>()
            .map_err(|_| "rss is not a number")?
            .max(0) as u64,
    })
}

/// Converts clock ticks (`USER_HZ`) to a duration.
fn ticks(n: u64) -> Duration {
    static HZ: OnceLock<u64> = OnceLock::new();
    let hz = *HZ.get_or_init(|| {
        // SAFETY: sysconf only reads a configuration value; it has no memory-safety
        // preconditions.
        let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // USER_HZ is 100 on every Linux architecture; fall back to it if sysconf fails.
        u64::try_from(v).ok().filter(|&v| v > 0).unwrap_or(100)
    });
    Duration::from_secs(n / hz) + Duration::from_nanos((n % hz) * 1_000_000_000 / hz)
}

/// The size of a memory page in bytes.
fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: as above, sysconf has no memory-safety preconditions.
        let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(v).ok().filter(|&v| v > 0).unwrap_or(4096)
    })
}

/// When the machine booted, from the `btime` line of `/proc/stat`; read once.
fn boot_time() -> Option<SystemTime> {
    static BOOT: OnceLock<Option<SystemTime>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let secs = text
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 30 0 0 20 0 3 0 123456 10000000 789 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 2 0 0 0 0 0\n";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            RawStat {
                comm: "my (odd) name".into(),
                state: ProcessState::Sleeping,
                ppid: 1,
                pgrp: 4242,
                session: 4242,
                utime: 250,
                stime: 30,
                threads: 3,
                starttime: 123456,
                rss_pages: 789,
            }
        );
    }

    #[test]
    fn rejects_truncated_stat_lines() {
        assert_eq!(parse_stat("12 (x) R 1 12"), Err("too few fields"));
        assert_eq!(parse_stat("12 x R"), Err("no `(` before the command name"));
    }

    #[test]
    fn converts_ticks() {
        // USER_HZ is 100 on Linux.
        assert_eq!(ticks(250), Duration::from_millis(2500));
    }

    #[test]
    fn state_letters() {
        let states: Vec<ProcessState> = "RSDZTtXIWq".chars().map(ProcessState::from_code).collect();
        assert_eq!(
            states,
            [
                ProcessState::Running,
                ProcessState::Sleeping,
                ProcessState::DiskSleep,
                ProcessState::Zombie,
                ProcessState::Stopped,
                ProcessState::TracingStop,
                ProcessState::Dead,
                ProcessState::Idle,
                ProcessState::Transient('W'),
                ProcessState::Unknown('q'),
            ]
        );
        assert!(ProcessState::Zombie.has_exited());
        assert!(!ProcessState::Stopped.has_exited());
    }
}
