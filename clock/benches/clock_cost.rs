//! What faking the clock costs: `cargo bench -p teamster-clock`.
//!
//! 1. The cost of one `clock_gettime(CLOCK_REALTIME)` with no preload, with
//!    `libteamster_clock.so`, and with libfaketime (`FAKETIME_NO_CACHE=1`, the setting that
//!    would make it follow travels at once, and its 1-second cache as teamster configures it).
//! 2. The latency from a travel being written to a running process seeing it.
//!
//! Each measurement runs in a fresh copy of this program started with the variant's
//! environment, because a preload library can only be injected at exec time. The copies
//! are told what to do through `CLOCK_COST_ROLE`.

#[path = "../src/layout.rs"]
#[expect(dead_code, reason = "the bench uses only part of the shared layout")]
mod layout;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const ROLE: &str = "CLOCK_COST_ROLE";
const CALLS: u64 = 5_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("cost") => cost_child(),
        Ok("watch") => watch_child(),
        _ => parent(),
    }
}

fn realtime() -> i64 {
    clock(libc::CLOCK_REALTIME)
}

fn monotonic() -> i64 {
    clock(libc::CLOCK_MONOTONIC)
}

fn clock(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is ours. The call goes through the PLT, so a preload library sees it.
    unsafe { libc::clock_gettime(std::hint::black_box(id), &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Prints the mean cost of one realtime clock call, in nanoseconds.
fn cost_child() {
    let calls = if std::env::var_os("FAKETIME_NO_CACHE").is_some() {
        CALLS / 20
    } else {
        CALLS
    };
    // Warm up: the first call may run the preload library's setup.
    std::hint::black_box(realtime());
    let start = monotonic();
    for _ in 0..calls {
        std::hint::black_box(realtime());
    }
    let elapsed = monotonic() - start;
    println!("{:.1}", elapsed as f64 / calls as f64);
}

/// Prints the monotonic time whenever the realtime clock jumps by more than an hour
/// relative to the monotonic one, until stdin closes.
fn watch_child() {
    let mut baseline = realtime() - monotonic();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let stdin_closed = std::thread::spawn(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
    });
    while !stdin_closed.is_finished() {
        let gap = realtime() - monotonic();
        if (gap - baseline).abs() > DAY_NS / 24 {
            println!("{}", monotonic());
            std::io::stdout().flush().unwrap();
            baseline = gap;
        }
    }
}

fn parent() {
    let exe = std::env::current_exe().unwrap();
    let ours = find_ours(&exe);
    let faketime = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    let dir = std::env::temp_dir().join(format!("teamster-clock-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clock_file = dir.join("clock");
    std::fs::write(&clock_file, layout::initial_page(0)).unwrap();
    let faketime_file = dir.join("clock.faketime");
    std::fs::write(&faketime_file, "+0\n").unwrap();

    let ours_env = vec![
        ("LD_PRELOAD".to_owned(), ours.display().to_string()),
        (layout::ENV_VAR.to_owned(), clock_file.display().to_string()),
    ];
    let faketime_env = |extra: &[(&str, &str)]| {
        let mut env = vec![
            (
                "LD_PRELOAD".to_owned(),
                faketime.as_ref().unwrap().display().to_string(),
            ),
            (
                "FAKETIME_TIMESTAMP_FILE".to_owned(),
                faketime_file.display().to_string(),
            ),
            ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };

    println!("clock_gettime(CLOCK_REALTIME), mean ns per call (best of 5 runs)");
    let baseline = cost(&exe, &[]);
    println!("  no preload                       {baseline:8.1}");
    let with_ours = cost(&exe, &ours_env);
    println!(
        "  libteamster_clock.so             {with_ours:8.1}  ({:.2}x)",
        with_ours / baseline
    );
    if faketime.is_some() {
        let cached = cost(&exe, &faketime_env(&[("FAKETIME_CACHE_DURATION", "1")]));
        println!(
            "  libfaketime, 1 s cache           {cached:8.1}  ({:.2}x)",
            cached / baseline
        );
        let no_cache = cost(&exe, &faketime_env(&[("FAKETIME_NO_CACHE", "1")]));
        println!(
            "  libfaketime, FAKETIME_NO_CACHE=1 {no_cache:8.1}  ({:.2}x)",
            no_cache / baseline
        );
    } else {
        println!("  (libfaketime is not installed)");
    }

    println!("latency from writing a travel to a running process seeing it");
    let page = map_rw(&clock_file);
    let ours_latency = latency(&exe, &ours_env, 200, |n| {
        page.store(
            if n.is_multiple_of(2) { DAY_NS } else { 0 },
            Ordering::Release,
        )
    });
    report("libteamster_clock.so", &ours_latency);
    if faketime.is_some() {
        let write = |n: usize| {
            let tmp = dir.join(".clock.faketime.tmp");
            std::fs::write(
                &tmp,
                if n.is_multiple_of(2) {
                    "+86400\n"
                } else {
                    "+0\n"
                },
            )
            .unwrap();
            std::fs::rename(&tmp, &faketime_file).unwrap();
        };
        let cached = latency(
            &exe,
            &faketime_env(&[("FAKETIME_CACHE_DURATION", "1")]),
            6,
            write,
        );
        report("libfaketime, 1 s cache", &cached);
        let no_cache = latency(
            &exe,
            &faketime_env(&[("FAKETIME_NO_CACHE", "1")]),
            20,
            write,
        );
        report("libfaketime, FAKETIME_NO_CACHE=1", &no_cache);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn find_ours(exe: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("TEAMSTER_CLOCK_LIB") {
        return path.into();
    }
    // Benches run from target/<profile>/deps; the cdylib is there or one level up.
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|dir| dir.join("libteamster_clock.so"))
        .find(|path| path.is_file())
        .expect("libteamster_clock.so is built along with this bench")
}

fn cost(exe: &Path, env: &[(String, String)]) -> f64 {
    (0..5)
        .map(|_| {
            let out = Command::new(exe)
                .env(ROLE, "cost")
                .envs(env.iter().cloned())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse::<f64>()
                .unwrap()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Runs a watcher and makes `rounds` travels with `travel(round)`, returning each latency.
fn latency(
    exe: &Path,
    env: &[(String, String)],
    rounds: usize,
    travel: impl Fn(usize),
) -> Vec<Duration> {
    let mut child = Command::new(exe)
        .env(ROLE, "watch")
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mut latencies = Vec::new();
    for round in 0..rounds {
        let written = monotonic();
        travel(round);
        let seen: i64 = lines.next().unwrap().unwrap().parse().unwrap();
        latencies.push(Duration::from_nanos((seen - written).max(0) as u64));
    }
    drop(child.stdin.take());
    child.wait().unwrap();
    latencies
}

fn report(what: &str, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    println!(
        "  {what:<32} median {:?}, max {:?} ({} travels)",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

/// Maps the clock file writable and returns its offset word, as the host does.
fn map_rw(path: &Path) -> &'static AtomicI64 {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    // SAFETY: a shared mapping of the whole one-page file, kept for the life of the bench.
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
    assert_ne!(map, libc::MAP_FAILED);
    // SAFETY: the offset word is 8-aligned inside the mapping, which is never unmapped.
    unsafe {
        &*(map
            .cast::<u8>()
            .add(layout::OFFSET_NS_AT)
            .cast::<AtomicI64>())
    }
}
