//! Port allocation against real sockets, real lock files and real competing processes.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier};

use super::allocator::{default_dir, machine_dir};
use super::lock::{lock_path, prepare_shared_dir, still_linked};
use super::range::{Candidates, default_ranges, ephemeral_range, parse_ephemeral};
use super::*;

/// A narrow range outside Linux's default ephemeral range. Tests that need contention
/// allocate most of it; ports that happen to be in use on the machine are skipped, so the
/// range only has to be mostly free.
const CONTENDED: std::ops::RangeInclusive<u16> = 21_000..=21_399;

/// A private lock directory, on the same memory-backed filesystem as the real one when the
/// machine has it, so that the tests (and the timing) reflect the default configuration.
fn lock_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    }
}

fn allocator(dir: &tempfile::TempDir) -> PortAllocator {
    PortAllocator::with_dir(dir.path()).expect("allocator")
}

/// A port outside the ephemeral range that is free right now, for tests about one port.
fn free_port() -> u16 {
    let dir = lock_dir();
    allocator(&dir).allocate().expect("allocate").port()
}

/// A child process that is killed and reaped on drop, so a failing test leaves nothing.
struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn spawn(cmd: &mut Command) -> Helper {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Helper {
            child,
            stdin,
            stdout,
        }
    }

    /// Reads lines until one starts with `marker`, returning the rest of that line. The
    /// helper exiting first fails the test.
    fn expect_line(&mut self, marker: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read helper");
            assert!(n > 0, "helper exited before printing {marker:?}");
            if let Some(rest) = line.trim_end().strip_prefix(marker) {
                return rest.to_owned();
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write helper");
        stdin.flush().expect("flush helper");
    }

    /// Closes stdin, which the helpers take as the signal to exit, and waits for the exit.
    fn finish(mut self) {
        self.stdin = None;
        let status = self.child.wait().expect("wait helper");
        assert!(status.success(), "helper failed: {status}");
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ephemeral_range_parses_the_sysctl_format() {
    assert_eq!(parse_ephemeral("32768\t60999\n"), Some(32_768..=60_999));
    assert_eq!(parse_ephemeral("1024 65535"), Some(1_024..=65_535));
    assert_eq!(parse_ephemeral("60999\t32768\n"), None);
    assert_eq!(parse_ephemeral("32768"), None);
    assert_eq!(parse_ephemeral("32768 60999 7"), None);
    assert_eq!(parse_ephemeral("low high"), None);
}

#[test]
fn default_ranges_stay_out_of_the_ephemeral_range() {
    assert_eq!(
        default_ranges(32_768..=60_999),
        vec![10_000..=32_767, 61_000..=65_535]
    );
    assert_eq!(default_ranges(40_000..=65_535), vec![10_000..=39_999]);
    assert_eq!(default_ranges(1_024..=20_000), vec![20_001..=65_535]);
    assert_eq!(default_ranges(1_024..=9_000), vec![10_000..=65_535]);
    // No region is left outside: fall back to everything above the floor.
    assert_eq!(default_ranges(1_024..=65_535), vec![10_000..=65_535]);
}

#[test]
fn candidates_index_across_ranges_and_wrap() {
    #[expect(
        clippy::reversed_empty_ranges,
        reason = "an empty range must be dropped"
    )]
    let c = Candidates::new(vec![0..=2, 5..=4, 10..=11]);
    assert_eq!(c.ranges(), &[1..=2, 10..=11]);
    assert_eq!(c.len(), 4);
    let ports: Vec<_> = (0..6).map(|i| c.nth_wrapping(i).expect("port")).collect();
    assert_eq!(ports, [1, 2, 10, 11, 1, 2]);
    assert_eq!(Candidates::new(vec![]).nth_wrapping(3), None);
}

#[test]
fn allocated_ports_avoid_the_ephemeral_range() {
    let dir = lock_dir();
    let ports = allocator(&dir);
    let ephemeral = ephemeral_range();
    let leases: Vec<_> = (0..50)
        .map(|_| ports.allocate().expect("allocate"))
        .collect();
    for lease in &leases {
        assert!(
            lease.port() >= 10_000,
            "port {} below the floor",
            lease.port()
        );
        assert!(
            !ephemeral.contains(&lease.port()),
            "port {} in the ephemeral range {ephemeral:?}",
            lease.port()
        );
    }
}

#[test]
fn concurrent_threads_never_share_a_port() {
    const THREADS: usize = 8;
    const EACH: usize = 40;
    let dir = lock_dir();
    let shared = Arc::new(allocator(&dir).with_range(CONTENDED));
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            // Half the threads share one allocator; the others each have their own, as
            // separate bundles in one test binary would.
            let ports = if t % 2 == 0 {
                Arc::clone(&shared)
            } else {
                Arc::new(allocator(&dir).with_range(CONTENDED))
            };
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..EACH)
                    .map(|_| ports.allocate().expect("allocate"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let leases: Vec<PortLease> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    let unique: HashSet<u16> = leases.iter().map(PortLease::port).collect();
    assert_eq!(unique.len(), THREADS * EACH, "a port was handed out twice");
    assert!(unique.iter().all(|p| CONTENDED.contains(p)));
}

/// Not a test: the allocator in another process, run by
/// [`separate_processes_never_share_a_port`]. It prints `ready`, waits for `go`, allocates,
/// prints every port, then holds the leases until its stdin closes.
#[test]
#[ignore = "helper process, spawned by separate_processes_never_share_a_port"]
fn helper_process_allocator() {
    let (Ok(dir), Ok(count)) = (
        std::env::var("TEAMSTER_PORTS_TEST_DIR"),
        std::env::var("TEAMSTER_PORTS_TEST_COUNT"),
    ) else {
        return;
    };
    let ports = PortAllocator::with_dir(dir)
        .expect("allocator")
        .with_range(CONTENDED);
    // A leading newline keeps the markers off libtest's "test ... " line.
    println!("\n@ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("read go");
    let count: usize = count.parse().expect("count");
    let leases: Vec<_> = (0..count)
        .map(|_| ports.allocate().expect("allocate"))
        .collect();
    for lease in &leases {
        println!("\n@port {}", lease.port());
    }
    println!("\n@done");
    std::io::stdin().read_line(&mut line).expect("wait for eof");
}

#[test]
fn separate_processes_never_share_a_port() {
    const CHILDREN: usize = 3;
    const EACH: usize = 60;
    let dir = lock_dir();
    let exe = std::env::current_exe().expect("test binary");
    let mut helpers: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Helper::spawn(
                Command::new(&exe)
                    .args(["--exact", "ports::tests::helper_process_allocator"])
                    .args(["--ignored", "--nocapture", "--test-threads=1"])
                    .env("TEAMSTER_PORTS_TEST_DIR", dir.path())
                    .env("TEAMSTER_PORTS_TEST_COUNT", EACH.to_string()),
            )
        })
        .collect();
    for h in &mut helpers {
        h.expect_line("@ready");
    }
    for h in &mut helpers {
        h.send("go");
    }
    // This process competes too, at the same moment.
    let ports = allocator(&dir).with_range(CONTENDED);
    let mine: Vec<_> = (0..EACH)
        .map(|_| ports.allocate().expect("allocate"))
        .collect();

    let mut seen: HashSet<u16> = mine.iter().map(PortLease::port).collect();
    for h in &mut helpers {
        for _ in 0..EACH {
            let port: u16 = h.expect_line("@port ").parse().expect("port number");
            assert!(seen.insert(port), "port {port} was handed out twice");
        }
        h.expect_line("@done");
    }
    assert_eq!(seen.len(), (CHILDREN + 1) * EACH);
    for h in helpers {
        h.finish();
    }
}

/// A python process that flocks a lock file the way another bundle would, records its pid,
/// prints `locked` and holds the lock until its stdin closes.
fn python_locker(path: &Path) -> Helper {
    const SCRIPT: &str = "import fcntl, os, sys
f = open(sys.argv[1], 'a+')
fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
f.truncate(0)
f.write(f'{os.getpid()}\\n')
f.flush()
print('locked', flush=True)
sys.stdin.read()
";
    let mut h = Helper::spawn(Command::new("python3").args(["-c", SCRIPT]).arg(path));
    h.expect_line("locked");
    h
}

#[test]
fn a_port_locked_by_another_process_is_skipped_and_names_its_pid() {
    let dir = lock_dir();
    let port = free_port();
    let ports = allocator(&dir);
    let other = python_locker(&lock_path(dir.path(), port));

    match ports.reserve(port) {
        Err(PortError::Reserved { port: p, pid }) => {
            assert_eq!(p, port);
            assert_eq!(pid, Some(other.child.id()));
        }
        other => panic!("expected Reserved, got {other:?}"),
    }
    let only_that_port = allocator(&dir).with_range(port..=port);
    assert!(matches!(
        only_that_port.allocate(),
        Err(PortError::Exhausted { .. })
    ));

    // Its lock dies with it; the file it leaves behind reserves nothing.
    other.finish();
    assert!(lock_path(dir.path(), port).exists());
    let lease = ports
        .reserve(port)
        .expect("reserve after the other process exited");
    assert_eq!(lease.port(), port);
}

#[test]
fn reserve_fails_when_a_process_listens_on_loopback() {
    let dir = lock_dir();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    match allocator(&dir).reserve(port) {
        Err(PortError::InUse { port: p, source }) => {
            assert_eq!(p, port);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    // The failed reservation released its lock and removed its file.
    assert!(!lock_path(dir.path(), port).exists());
}

#[test]
fn reserve_fails_when_a_process_listens_on_ipv6_loopback() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine; nothing can listen there");
        return;
    };
    let dir = lock_dir();
    let port = listener.local_addr().expect("addr").port();
    assert!(matches!(
        allocator(&dir).reserve(port),
        Err(PortError::InUse { port: p, .. }) if p == port
    ));
}

#[test]
fn allocate_skips_a_port_in_use() {
    let dir = lock_dir();
    let port = free_port();
    let _listener = TcpListener::bind(("127.0.0.1", port)).expect("listen on the free port");
    let ports = allocator(&dir).with_range(port..=port);
    match ports.allocate() {
        Err(PortError::Exhausted { ranges }) => assert_eq!(ranges, vec![port..=port]),
        other => panic!("expected Exhausted, got {other:?}"),
    }
}

#[test]
fn dropping_a_lease_frees_the_port_for_the_next_allocation() {
    let dir = lock_dir();
    let port = free_port();
    let ports = allocator(&dir).with_range(port..=port);

    let lease = ports.allocate().expect("first allocation");
    assert_eq!(lease.port(), port);
    assert_eq!(
        std::fs::read_to_string(lock_path(dir.path(), port)).expect("lock file"),
        format!("{}\n", std::process::id())
    );
    assert!(matches!(ports.allocate(), Err(PortError::Exhausted { .. })));
    assert!(matches!(
        ports.reserve(port),
        Err(PortError::Reserved { pid: Some(pid), .. }) if pid == std::process::id()
    ));

    drop(lease);
    assert!(
        !lock_path(dir.path(), port).exists(),
        "lock file left behind"
    );
    assert_eq!(ports.allocate().expect("after the drop").port(), port);
}

#[test]
fn an_acquirer_that_locks_a_released_file_notices_it_was_deleted() {
    let dir = lock_dir();
    let port = free_port();
    let ports = allocator(&dir);
    let path = lock_path(dir.path(), port);
    let lease = ports.reserve(port).expect("reserve");
    // Another allocator opens the file just before the holder releases it...
    let late = std::fs::File::open(&path).expect("open the held file");
    drop(lease);
    // ...so its lock succeeds, but on an inode that no longer reserves anything.
    let late = nix::fcntl::Flock::lock(late, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .expect("lock the released inode");
    assert!(!still_linked(&late, &path).expect("compare inodes"));
    // A new holder creates a fresh file; the orphaned inode lock does not keep it out.
    let fresh = ports.reserve(port).expect("reserve again");
    assert!(still_linked(&std::fs::File::open(&path).expect("open"), &path).expect("compare"));
    assert!(!still_linked(&late, &path).expect("compare inodes"));
    drop(fresh);
}

#[test]
fn a_stale_lock_file_from_a_dead_process_is_reused() {
    let dir = lock_dir();
    let port = free_port();
    std::fs::write(lock_path(dir.path(), port), "4194304\n").expect("stale file");
    let lease = allocator(&dir).reserve(port).expect("reserve");
    assert_eq!(lease.port(), port);
    assert_eq!(
        std::fs::read_to_string(lock_path(dir.path(), port)).expect("lock file"),
        format!("{}\n", std::process::id())
    );
}

#[test]
fn reserve_refuses_port_zero() {
    let dir = lock_dir();
    assert!(matches!(
        allocator(&dir).reserve(0),
        Err(PortError::PortZero)
    ));
}

#[test]
fn the_shared_directory_is_sticky_and_world_writable() {
    let dir = lock_dir();
    let shared = dir.path().join("teamster-ports");
    prepare_shared_dir(&shared).expect("prepare");
    let mode = std::fs::metadata(&shared)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1777);
    // Preparing it again (another process, another user) keeps it as it is.
    prepare_shared_dir(&shared).expect("prepare again");
}

#[test]
fn a_symlink_in_place_of_the_shared_directory_is_refused() {
    let dir = lock_dir();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let shared = dir.path().join("teamster-ports");
    std::os::unix::fs::symlink(&elsewhere, &shared).expect("symlink");
    let err = prepare_shared_dir(&shared).expect_err("a symlink must be refused");
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
}

#[test]
fn a_file_in_place_of_the_lock_directory_is_reported() {
    let dir = lock_dir();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").expect("write");
    match PortAllocator::with_dir(&file) {
        Err(PortError::LockDir { path, .. }) => assert_eq!(path, file),
        other => panic!("expected LockDir, got {other:?}"),
    }
}

#[test]
fn the_lock_directory_can_be_overridden_from_the_environment() {
    assert_eq!(
        default_dir(Some("/run/ci/ports".into())),
        Path::new("/run/ci/ports")
    );
    let machine = machine_dir(Path::new("/dev/shm"));
    assert_eq!(default_dir(None), machine);
    assert_eq!(default_dir(Some("".into())), machine);
}

#[test]
fn the_default_allocator_coordinates_through_the_machine_wide_directory() {
    let ports = PortAllocator::new().expect("default allocator");
    let meta = std::fs::symlink_metadata(ports.dir()).expect("stat lock directory");
    assert!(meta.is_dir());
    let lease = ports.allocate().expect("allocate");
    assert!(lock_path(ports.dir(), lease.port()).exists());
    let other = PortAllocator::new().expect("second allocator");
    assert!(matches!(
        other.reserve(lease.port()),
        Err(PortError::Reserved { port, .. }) if port == lease.port()
    ));
}

#[test]
fn the_machine_wide_directory_prefers_shared_memory() {
    let shm = lock_dir();
    assert_eq!(machine_dir(shm.path()), shm.path().join("teamster-ports"));
    assert_eq!(
        machine_dir(&shm.path().join("missing")),
        Path::new("/tmp/teamster-ports")
    );
}

#[test]
fn error_messages() {
    let in_use = || std::io::Error::from_raw_os_error(libc::EADDRINUSE);
    let errors = [
        PortError::InUse {
            port: 5432,
            source: in_use(),
        },
        PortError::Reserved {
            port: 5432,
            pid: Some(4242),
        },
        PortError::Reserved {
            port: 5432,
            pid: None,
        },
        PortError::Check {
            port: 80,
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        },
        PortError::Exhausted {
            ranges: vec![10_000..=32_767, 61_000..=65_535],
        },
        PortError::Exhausted {
            ranges: vec![21_000..=21_000],
        },
        PortError::PortZero,
        PortError::LockDir {
            path: "/tmp/teamster-ports".into(),
            source: std::io::ErrorKind::NotADirectory.into(),
        },
        PortError::LockFile {
            port: 5432,
            path: "/tmp/teamster-ports/5432.lock".into(),
            source: std::io::Error::from_raw_os_error(libc::EROFS),
        },
    ];
    let text: Vec<_> = errors.iter().map(|e| crate::error_chain(e)).collect();
    insta::assert_snapshot!(text.join("\n"), @r"
    port 5432 is already in use by another process: Address already in use (os error 98)
    port 5432 is reserved by another teamster bundle (pid 4242)
    port 5432 is reserved by another teamster bundle
    cannot check whether port 80 is free: Permission denied (os error 13)
    no free port in 10000-32767, 61000-65535: every candidate is in use or reserved by another bundle
    no free port in 21000: every candidate is in use or reserved by another bundle
    port 0 cannot be reserved: allocate a free port instead
    cannot use /tmp/teamster-ports as the port lock directory: not a directory
    cannot lock /tmp/teamster-ports/5432.lock to reserve port 5432: Read-only file system (os error 30)
    ");
}
