//! The clock with real processes: Python, coreutils `date`, and both injectors.
//!
//! These tests need `libteamster_clock.so`, which a workspace build (`cargo build` or
//! `cargo test --workspace` at the root) puts next to this test binary's directory.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};

use super::*;

/// How long any single answer from a child process may take.
const ANSWER_DEADLINE: StdDuration = StdDuration::from_secs(30);

/// A long-running Python process that answers one command per line on stdin.
const PY_SERVER: &str = r#"
import asyncio, datetime, subprocess, sys, threading, time

def timed(f):
    start = time.monotonic()
    f()
    return time.monotonic() - start

for line in sys.stdin:
    cmd = line.strip()
    if cmd == "now":
        print(time.time(), datetime.datetime.now(datetime.timezone.utc).timestamp(), flush=True)
    elif cmd == "child":
        out = subprocess.run([sys.executable, "-c", "import time; print(time.time())"],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(out, flush=True)
    elif cmd == "sleeps":
        print(timed(lambda: time.sleep(0.2)),
              timed(lambda: threading.Event().wait(0.2)),
              timed(lambda: asyncio.run(asyncio.sleep(0.2))), flush=True)
    else:
        print("unknown", cmd, flush=True)
"#;

struct Py {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Py {
    fn spawn(env: &[(String, String)]) -> Py {
        let mut child = Command::new("python3")
            .args(["-u", "-c", PY_SERVER])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Py {
            child,
            stdin,
            lines,
        }
    }

    fn ask(&mut self, cmd: &str) -> Vec<f64> {
        writeln!(self.stdin, "{cmd}").unwrap();
        let line = self
            .lines
            .recv_timeout(ANSWER_DEADLINE)
            .unwrap_or_else(|e| panic!("python `{cmd}`: {e}"));
        line.split_whitespace()
            .map(|w| w.parse().unwrap_or_else(|_| panic!("{line}")))
            .collect()
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

/// Asserts that a clock reading taken by a faked process is `offset` ahead of the real
/// time, within `slack` seconds (process start-up and scheduling included).
fn assert_offset(seen: f64, offset: Duration, slack: f64, what: &str) {
    let expected = secs(Utc::now() + offset);
    assert!(
        (seen - expected).abs() < slack,
        "{what}: saw {seen}, expected {expected} ± {slack} (offset {})",
        format_offset(offset)
    );
}

fn preload_clock(dir: &Path) -> Clock {
    Clock::create(dir, ClockKind::Preload)
        .expect("the workspace build provides libteamster_clock.so")
}

#[test]
fn a_running_python_sees_a_travel_at_once_and_so_do_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    let mut py = Py::spawn(&clock.env());
    let before = py.ask("now");
    assert_offset(before[0], Duration::zero(), 2.0, "time.time() before");
    assert_offset(before[1], Duration::zero(), 2.0, "datetime.now() before");

    let report = clock.travel(Travel::parse("+30d").unwrap()).unwrap();
    assert_eq!(report.offset, Duration::days(30));
    // The very next call, with no wait, already sees the new time.
    let after = py.ask("now");
    assert_offset(after[0], Duration::days(30), 2.0, "time.time() after");
    assert_offset(after[1], Duration::days(30), 2.0, "datetime.now() after");
    assert_offset(
        py.ask("child")[0],
        Duration::days(30),
        5.0,
        "a child's time.time()",
    );
    assert_offset(secs(clock.now()), Duration::days(30), 0.5, "Clock::now()");
}

#[test]
fn sleeps_keep_real_durations_across_jumps() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    let mut py = Py::spawn(&clock.env());
    for jump in ["+2h", "-2h", "-2h"] {
        clock.travel(Travel::parse(jump).unwrap()).unwrap();
        let took = py.ask("sleeps");
        for (what, t) in ["time.sleep", "Event.wait", "asyncio.sleep"]
            .iter()
            .zip(took)
        {
            assert!(
                (0.19..2.0).contains(&t),
                "{what}(0.2) took {t} s after {jump}"
            );
        }
    }
    assert_eq!(clock.offset(), -Duration::hours(2));
}

#[test]
fn an_absolute_travel_lands_on_its_instant() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    clock.travel(Travel::parse("-3d").unwrap()).unwrap();
    let mut py = Py::spawn(&clock.env());
    let target = Travel::to_rfc3339("2027-01-01T09:00:00+01:00").unwrap();
    let travelled = Instant::now();
    let report = clock.travel(target).unwrap();
    let seen = py.ask("now")[0];
    let since = travelled.elapsed().as_secs_f64();
    // The faked clock keeps running after it lands, so the reading may be later than the
    // target by the time the answer took, and by no more than that (plus a second).
    let target_secs = 1_798_790_400.0;
    assert!(
        (target_secs - 1.0..target_secs + since + 1.0).contains(&seen),
        "python saw {seen}, wanted {target_secs} (+{since} s)"
    );
    let now = secs(clock.now());
    let since = travelled.elapsed().as_secs_f64();
    assert!(
        (target_secs - 1.0..target_secs + since + 1.0).contains(&now),
        "now() is {now}"
    );
    assert_eq!(
        report.now.format("%Y-%m-%d %H:%M %:z").to_string(),
        "2027-01-01 09:00 +01:00"
    );
}

fn date_s(env: &[(String, String)]) -> i64 {
    let out = Command::new("date")
        .arg("+%s")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(out.status.success(), "date failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn coreutils_date_follows_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    clock.travel(Travel::parse("+1d2h30m").unwrap()).unwrap();
    assert_offset(date_s(&clock.env()) as f64, clock.offset(), 2.0, "date +%s");
    clock.travel(Travel::parse("-10d").unwrap()).unwrap();
    assert_offset(
        date_s(&clock.env()) as f64,
        clock.offset(),
        2.0,
        "date +%s after a second travel",
    );
}

#[test]
fn a_missing_clock_file_means_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    let mut env = clock.env();
    for (key, value) in &mut env {
        if key == CLOCK_FILE_ENV {
            *value = dir.path().join("gone").display().to_string();
        }
    }
    clock.travel(Travel::parse("+30d").unwrap()).unwrap();
    assert_offset(
        date_s(&env) as f64,
        Duration::zero(),
        2.0,
        "date with a missing clock file",
    );
}

#[test]
fn a_second_handle_moves_the_same_clock() {
    let dir = tempfile::tempdir().unwrap();
    let first = preload_clock(dir.path());
    first.travel(Travel::parse("+1h").unwrap()).unwrap();
    let second = Clock::open(dir.path(), ClockKind::Preload).unwrap();
    assert_eq!(second.offset(), Duration::hours(1));
    second.travel(Travel::parse("+1h").unwrap()).unwrap();
    assert_eq!(first.offset(), Duration::hours(2));
}

#[test]
fn travel_reports_read_well() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    let report = clock.travel(Travel::parse("+30d").unwrap()).unwrap();
    // The instant depends on when the test runs; the shape does not.
    let shown = report.to_string();
    assert!(
        shown.starts_with("Time travelling to ") && shown.ends_with(" UTC (+30d)"),
        "{shown}"
    );
    let fixed = TravelReport {
        now: DateTime::parse_from_rfc3339("2026-12-21T10:00:00Z").unwrap(),
        offset: Duration::days(30),
        moved_by: Duration::days(30),
    };
    let absolute = TravelReport {
        now: DateTime::parse_from_rfc3339("2027-01-01T09:00:00+01:00").unwrap(),
        offset: Duration::days(40)
            + Duration::hours(9)
            + Duration::minutes(21)
            + Duration::seconds(4),
        moved_by: Duration::days(10),
    };
    let back = TravelReport {
        now: DateTime::parse_from_rfc3339("2026-11-21T21:00:00Z").unwrap(),
        offset: -Duration::hours(2),
        moved_by: -Duration::hours(2),
    };
    insta::assert_snapshot!(format!("{fixed}\n{absolute}\n{back}"), @r#"
        Time travelling to 2026-12-21 10:00:00 UTC (+30d)
        Time travelling to 2027-01-01 09:00:00 +01:00 (+40d 9h 21m 4s)
        Time travelling to 2026-11-21 21:00:00 UTC (-2h)
        "#);
}

#[test]
fn travels_out_of_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    clock.travel(Travel::By(Duration::days(100_000))).unwrap();
    let err = clock
        .travel(Travel::By(Duration::days(100_000)))
        .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"cannot travel that far: the clock would be +200000d away from the real time");
    assert_eq!(
        clock.offset(),
        Duration::days(100_000),
        "a refused travel leaves the clock alone"
    );
}

#[test]
fn ld_preload_is_merged_with_ours_first() {
    assert_eq!(merge_ld_preload("/a/ours.so", None), "/a/ours.so");
    assert_eq!(merge_ld_preload("/a/ours.so", Some("")), "/a/ours.so");
    assert_eq!(
        merge_ld_preload("/a/ours.so", Some("/x.so /y.so")),
        "/a/ours.so:/x.so:/y.so"
    );
    assert_eq!(
        merge_ld_preload("/a/ours.so", Some("/x.so:/a/ours.so")),
        "/a/ours.so:/x.so"
    );
}

/// libfaketime's library, when the machine has it; these tests say so and pass vacuously
/// otherwise only if `TEAMSTER_SKIP_LIBFAKETIME` is set, so a CI without it is explicit.
fn libfaketime_clock(dir: &Path) -> Option<Clock> {
    match Clock::create(dir, ClockKind::Libfaketime) {
        Ok(clock) => Some(clock),
        Err(err @ ClockError::LibfaketimeNotFound { .. })
            if std::env::var_os("TEAMSTER_SKIP_LIBFAKETIME").is_some() =>
        {
            eprintln!("skipped: {err}");
            None
        }
        Err(err) => panic!("{err}"),
    }
}

/// Polls `read` until it is within `slack` of the clock's offset or the deadline passes:
/// libfaketime re-reads its file at most once per cache period.
fn eventually_offset(clock: &Clock, what: &str, mut read: impl FnMut() -> f64) {
    let deadline = Instant::now() + StdDuration::from_secs(10);
    loop {
        let seen = read();
        let expected = secs(clock.now());
        if (seen - expected).abs() < 2.0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: saw {seen}, expected {expected}"
        );
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

#[test]
fn libfaketime_moves_date_and_python() {
    let dir = tempfile::tempdir().unwrap();
    let Some(clock) = libfaketime_clock(dir.path()) else {
        return;
    };
    let env = clock.env();
    clock.travel(Travel::parse("+30d").unwrap()).unwrap();
    eventually_offset(&clock, "date +%s", || date_s(&env) as f64);
    let mut py = Py::spawn(&env);
    eventually_offset(&clock, "python time.time()", || py.ask("now")[0]);
    // A running process follows a later travel once its cache expires.
    clock
        .travel(Travel::to_rfc3339("2027-01-01T09:00:00+01:00").unwrap())
        .unwrap();
    assert!((secs(clock.now()) - 1_798_790_400.0).abs() < 1.0);
    eventually_offset(
        &clock,
        "python time.time() after an absolute travel",
        || py.ask("now")[0],
    );
    let text = std::fs::read_to_string(dir.path().join(FAKETIME_FILE_NAME)).unwrap();
    assert_eq!(
        libfaketime::parse_timestamp_line(&text),
        Some(clock.offset().num_seconds())
    );
}

/// Calls every hooked entry point through ctypes, which resolves symbols the way a C
/// program's dynamic linking does, so the preload library's definitions win.
const PY_ENTRY_POINTS: &str = r#"
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)

class timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
class timeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]
class timeb(ctypes.Structure):
    _fields_ = [("time", ctypes.c_long), ("millitm", ctypes.c_ushort),
                ("timezone", ctypes.c_short), ("dstflag", ctypes.c_short)]

def clock(clk):
    ts = timespec()
    assert libc.clock_gettime(clk, ctypes.byref(ts)) == 0
    return ts.sec + ts.nsec / 1e9

tv = timeval(); assert libc.gettimeofday(ctypes.byref(tv), None) == 0
ts = timespec(); assert libc.timespec_get(ctypes.byref(ts), 1) == 1
tb = timeb(); assert libc.ftime(ctypes.byref(tb)) == 0
bad = timespec(); assert libc.clock_gettime(12345, ctypes.byref(bad)) == -1 and ctypes.get_errno() == 22
print("realtime", clock(0))
print("realtime_coarse", clock(5))
print("tai", clock(11) - 37)
print("gettimeofday", tv.sec + tv.usec / 1e6)
print("time", libc.time(None))
print("timespec_get", ts.sec + ts.nsec / 1e9)
print("ftime", tb.time + tb.millitm / 1e3)
print("monotonic_vs_python", clock(1) - time.monotonic())
# An absolute realtime sleep 0.2 s past the faked now must last 0.2 s.
deadline = clock(0) + 0.2
target = timespec(int(deadline), int((deadline % 1) * 1e9))
start = time.monotonic()
assert libc.clock_nanosleep(0, 1, ctypes.byref(target), None) == 0
print("abs_sleep", time.monotonic() - start)
"#;

#[test]
fn every_hooked_entry_point_is_shifted_and_other_clocks_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    clock.travel(Travel::parse("+30d").unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-c", PY_ENTRY_POINTS])
        .envs(clock.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in stdout.lines() {
        let (name, value) = line.split_once(' ').unwrap();
        let value: f64 = value.parse().unwrap();
        match name {
            // The kernel's TAI-UTC difference is 0 unless something set it, and the script
            // takes 37 s off, so accept either.
            "tai" => assert!(
                (value - secs(clock.now())).abs() < 3.0
                    || (value + 37.0 - secs(clock.now())).abs() < 3.0,
                "{line}"
            ),
            "monotonic_vs_python" => assert!(value.abs() < 1.0, "{line}"),
            "abs_sleep" => assert!((0.19..2.0).contains(&value), "{line}"),
            _ => assert_offset(value, Duration::days(30), 3.0, name),
        }
    }
    assert_eq!(stdout.lines().count(), 9, "{stdout}");
}

#[test]
fn jemalloc_programs_start_under_the_preload() {
    // libfaketime deadlocks here (jemalloc → clock → dlsym → malloc); this library must not.
    let jemalloc = Path::new("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
    if !jemalloc.exists() && std::env::var_os("TEAMSTER_SKIP_JEMALLOC").is_some() {
        eprintln!("skipped: {} is not installed", jemalloc.display());
        return;
    }
    assert!(
        jemalloc.exists(),
        "install libjemalloc2 or set TEAMSTER_SKIP_JEMALLOC"
    );
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    clock.travel(Travel::parse("+30d").unwrap()).unwrap();
    let mut env = clock.env();
    for (key, value) in &mut env {
        if key == "LD_PRELOAD" {
            *value = merge_ld_preload(value, Some(&jemalloc.display().to_string()));
        }
    }
    env.push((
        "MALLOC_CONF".to_owned(),
        "background_thread:true".to_owned(),
    ));
    let mut child = Command::new("date")
        .arg("+%s")
        .envs(env)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("date under jemalloc and the clock library hung");
        }
        std::thread::sleep(StdDuration::from_millis(20));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_offset(
        out.trim().parse().unwrap(),
        Duration::days(30),
        2.0,
        "date under jemalloc",
    );
}

/// Runs each timed wait with a `CLOCK_REALTIME` deadline 0.2 s past the faked now (and a
/// condition variable on `CLOCK_MONOTONIC` with a monotonic deadline) and prints how long
/// each took. Without the hooks, a +30d clock makes the realtime ones wait 30 days.
const PY_TIMED_WAITS: &str = r#"
import ctypes, threading, time
libc = ctypes.CDLL(None, use_errno=True)

class timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]

def deadline(clk):
    ts = timespec()
    assert libc.clock_gettime(clk, ctypes.byref(ts)) == 0
    t = ts.sec + ts.nsec / 1e9 + 0.2
    return timespec(int(t), int((t % 1) * 1e9))

def timed(name, f, clk=0):
    d = deadline(clk)
    start = time.monotonic()
    r = f(ctypes.byref(d))
    print(name, r, time.monotonic() - start, flush=True)

def buf():
    return ctypes.create_string_buffer(128)

def held_by_another_thread(lock):
    t = threading.Thread(target=lock)
    t.start()
    t.join()

sem = buf(); assert libc.sem_init(sem, 0, 0) == 0
timed("sem_timedwait", lambda d: -ctypes.get_errno() if libc.sem_timedwait(sem, d) else 0)

m = buf(); assert libc.pthread_mutex_init(m, None) == 0
held_by_another_thread(lambda: libc.pthread_mutex_lock(m))
timed("pthread_mutex_timedlock", lambda d: libc.pthread_mutex_timedlock(m, d))

rw = buf(); assert libc.pthread_rwlock_init(rw, None) == 0
held_by_another_thread(lambda: libc.pthread_rwlock_wrlock(rw))
timed("pthread_rwlock_timedrdlock", lambda d: libc.pthread_rwlock_timedrdlock(rw, d))
timed("pthread_rwlock_timedwrlock", lambda d: libc.pthread_rwlock_timedwrlock(rw, d))

cm = buf(); assert libc.pthread_mutex_init(cm, None) == 0
cond = buf(); assert libc.pthread_cond_init(cond, None) == 0
assert libc.pthread_mutex_lock(cm) == 0
timed("pthread_cond_timedwait", lambda d: libc.pthread_cond_timedwait(cond, cm, d))
attr = buf(); assert libc.pthread_condattr_init(attr) == 0
assert libc.pthread_condattr_setclock(attr, 1) == 0
mono = buf(); assert libc.pthread_cond_init(mono, attr) == 0
timed("pthread_cond_timedwait_monotonic", lambda d: libc.pthread_cond_timedwait(mono, cm, d), clk=1)
"#;

#[test]
fn realtime_deadlines_of_timed_waits_keep_their_length() {
    const ETIMEDOUT: i64 = 110;
    let dir = tempfile::tempdir().unwrap();
    let clock = preload_clock(dir.path());
    for jump in ["+30d", "-60d"] {
        clock.travel(Travel::parse(jump).unwrap()).unwrap();
        let mut child = Command::new("python3")
            .args(["-c", PY_TIMED_WAITS])
            .envs(clock.env())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines {
                let _ = tx.send(line.unwrap());
            }
        });
        let mut seen = Vec::new();
        for _ in 0..6 {
            let Ok(line) = rx.recv_timeout(ANSWER_DEADLINE) else {
                let _ = child.kill();
                panic!("a timed wait hung after {jump}; finished: {seen:?}");
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            let (result, took): (i64, f64) = (words[1].parse().unwrap(), words[2].parse().unwrap());
            let expected = if words[0] == "sem_timedwait" {
                -ETIMEDOUT
            } else {
                ETIMEDOUT
            };
            assert_eq!(result, expected, "{line} after {jump}");
            assert!((0.19..2.0).contains(&took), "{line} after {jump}");
            seen.push(words[0].to_owned());
        }
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn a_clock_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + 'static>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(preload_clock(dir.path()));
    shareable(&clock);
    let travellers: Vec<_> = (0..8)
        .map(|_| {
            let clock = clock.clone();
            std::thread::spawn(move || clock.travel(Travel::parse("+1h").unwrap()).unwrap())
        })
        .collect();
    for t in travellers {
        t.join().unwrap();
    }
    assert_eq!(
        clock.offset(),
        Duration::hours(8),
        "concurrent relative travels add up"
    );
}
