//! Statistics of real processes spawned by the tests.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::tree::descendants_by_scan;
use super::*;

/// Generous bound for things that normally take milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// A spawned process tree in its own process group, killed and reaped on drop.
struct Tree(Child);

impl Tree {
    fn spawn(cmd: &mut Command) -> Tree {
        Tree(cmd.process_group(0).spawn().expect("spawn test process"))
    }

    fn sh(script: &str) -> Tree {
        Tree::spawn(Command::new("sh").args(["-c", script]).stdin(Stdio::null()))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// Polls `probe` until it returns `Some`, failing the test after [`DEADLINE`].
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn descendants_include_every_background_child() {
    let tree = Tree::sh("sleep 30 & sleep 30 & wait");
    // The children are forks of the shell until they exec `sleep`.
    let kids = eventually("two sleeping children", || {
        let kids = descendants(tree.pid());
        let all_sleep = kids
            .iter()
            .all(|&k| stats(k).is_ok_and(|s| s.name == "sleep"));
        (kids.len() == 2 && all_sleep).then_some(kids)
    });
    for &kid in &kids {
        let s = stats(kid).unwrap();
        assert_eq!(s.name, "sleep");
        assert_eq!(s.parent, tree.pid());
        assert_eq!(s.process_group, tree.pid());
    }
    let mut by_scan = descendants_by_scan(tree.pid());
    let mut sorted = kids.clone();
    by_scan.sort_unstable();
    sorted.sort_unstable();
    assert_eq!(by_scan, sorted);
    assert_eq!(stats(tree.pid()).unwrap().children, kids);
}

#[test]
fn descendants_reach_grandchildren_parents_first() {
    let tree = Tree::sh("sh -c 'sleep 30 & wait' & wait");
    let kids = eventually("a child and a grandchild", || {
        let kids = descendants(tree.pid());
        (kids.len() == 2).then_some(kids)
    });
    assert_eq!(children(tree.pid()), [kids[0]]);
    assert_eq!(children(kids[0]), [kids[1]]);
    assert_eq!(stats(kids[1]).unwrap().parent, kids[0]);
    let s = stats(tree.pid()).unwrap();
    assert_eq!(s.tree.processes, 3);
    assert!(s.tree.rss_bytes > s.rss_bytes);
}

#[test]
fn a_process_without_children_has_no_descendants() {
    let tree = Tree::spawn(Command::new("sleep").arg("30"));
    assert!(descendants(tree.pid()).is_empty());
    assert!(descendants_by_scan(tree.pid()).is_empty());
}

#[test]
fn finds_the_listening_port_of_a_grandchild() {
    let script = "import socket, sys, time\n\
                  s = socket.socket()\n\
                  s.bind(('127.0.0.1', 0))\n\
                  s.listen()\n\
                  print(s.getsockname()[1], flush=True)\n\
                  time.sleep(30)\n";
    let mut tree = Tree::spawn(
        Command::new("sh")
            .args(["-c", "python3 -c \"$0\"; :", script])
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(tree.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("python printed its port");

    let s = stats(tree.pid()).unwrap();
    assert_eq!(s.listening_ports(), [port]);
    let python = s.children[0];
    assert_eq!(
        s.listening,
        [ListeningSocket {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            pid: python,
        }]
    );
    // The socket belongs to the python process, so its own stats list it too.
    assert_eq!(stats(python).unwrap().listening_ports(), [port]);
}

#[test]
fn finds_our_own_ipv4_and_ipv6_listeners() {
    let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let v4_addr = v4.local_addr().unwrap();
    // Containers without IPv6 cannot bind ::1; the IPv4 half of the test still runs.
    let v6 = std::net::TcpListener::bind("[::1]:0").ok();
    let s = stats(std::process::id()).unwrap();
    let pid = std::process::id();
    assert!(
        s.listening
            .contains(&ListeningSocket { addr: v4_addr, pid })
    );
    if let Some(v6) = &v6 {
        let v6_addr = v6.local_addr().unwrap();
        assert!(
            s.listening
                .contains(&ListeningSocket { addr: v6_addr, pid })
        );
    }
    // A connected socket is not a listening one.
    let client = std::net::TcpStream::connect(v4_addr).unwrap();
    let local = client.local_addr().unwrap();
    let s = stats(pid).unwrap();
    assert!(!s.listening.iter().any(|l| l.addr == local));
}

#[test]
fn own_stats_are_sane() {
    let before = stats(std::process::id()).unwrap();
    assert_eq!(before.pid, std::process::id());
    // The state shown for a process is its main thread's, which in the test harness waits
    // for the test threads.
    assert!(
        matches!(before.state, ProcessState::Running | ProcessState::Sleeping),
        "{:?}",
        before.state
    );
    assert!(before.threads >= 1);
    assert!(before.rss_bytes > 1024 * 1024, "rss {}", before.rss_bytes);
    assert!(before.rss_bytes < 64 * 1024 * 1024 * 1024);
    let started = before.started_at.expect("boot time is readable");
    assert!(started <= SystemTime::now());
    assert!(SystemTime::now().duration_since(started).unwrap() < Duration::from_secs(3600));
    // stdin, stdout and stderr at least, plus the directory handle used to count them.
    assert!(before.open_fds.unwrap() >= 3);
    // Other tests spawn and reap children concurrently, so some may vanish mid-count.
    assert!(before.tree.processes <= 1 + before.children.len());

    // Burn some cpu and check that user time grows.
    let spin_until = Instant::now() + Duration::from_millis(100);
    let mut x = 0u64;
    while Instant::now() < spin_until {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    let after = stats(std::process::id()).unwrap();
    assert!(after.user_cpu + after.system_cpu > before.user_cpu + before.system_cpu);
}

#[test]
fn counts_open_file_descriptors() {
    // Python counts its own descriptors after opening five more; the directory handle it
    // uses to count is closed again, so it is left out.
    let script = "import os, time\n\
                  extra = [os.open('/dev/null', os.O_RDONLY) for _ in range(5)]\n\
                  print(len(os.listdir('/proc/self/fd')) - 1, flush=True)\n\
                  time.sleep(30)\n";
    let mut tree = Tree::spawn(
        Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(tree.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let counted_by_python: usize = line.trim().parse().unwrap();
    assert!(counted_by_python >= 8);
    assert_eq!(stats(tree.pid()).unwrap().open_fds, Some(counted_by_python));
}

#[test]
fn vanished_pid_is_not_found() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let err = stats(pid).unwrap_err();
    assert!(matches!(err, ProcessError::NotFound { pid: p } if p == pid));
    let message = err.to_string().replace(&pid.to_string(), "PID");
    insta::assert_snapshot!(message, @"no process with pid PID");
    assert!(!is_alive(pid));
    assert!(descendants(pid).is_empty());
    assert!(children(pid).is_empty());
}

#[test]
fn zombies_are_not_alive() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    // Until it is reaped, the exited child stays a zombie.
    let state = eventually("the child to exit", || {
        let state = stats(pid).unwrap().state;
        state.has_exited().then_some(state)
    });
    assert_eq!(state, ProcessState::Zombie);
    assert!(!is_alive(pid));
    child.wait().unwrap();
}

#[test]
fn running_and_stopped_processes_are_alive() {
    let tree = Tree::spawn(Command::new("sleep").arg("30"));
    assert!(is_alive(tree.pid()));
    assert!(is_alive(std::process::id()));
    nix::sys::signal::kill(Pid::from_raw(tree.pid() as i32), Signal::SIGSTOP).unwrap();
    eventually("the process to stop", || {
        (stats(tree.pid()).unwrap().state == ProcessState::Stopped).then_some(())
    });
    assert!(is_alive(tree.pid()));
}
