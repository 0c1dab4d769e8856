//! Soak: many start/stop cycles of a three-service bundle in one host process, to show
//! that nothing grows or leaks: per-cycle time, the host's open descriptors and resident
//! memory, and processes left behind, for the first and the last 50 cycles.
//!
//! `cargo bench -p teamster --bench soak [cycles]` (default 500). Figures go to
//! BENCHMARKS.md. A leftover process fails the run.

use std::time::Instant;

use teamster::Bundle;

mod support;
use support::{median, rss_kib};

const BUNDLE: &str = r#"
keep_runs = 3

[services.a]
command = ["sh", "-c", "echo a up; exec sleep 1000"]
ready = { log = "a up" }

[services.b]
command = ["sh", "-c", "sleep 1000 & echo b up; wait"]
ready = { log = "b up" }
needs = ["a"]

[services.c]
command = ["sh", "-c", "echo c up; exec sleep 1000"]
ready = { log = "c up" }
needs = ["a"]
"#;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn main() {
    let cycles: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle.toml");
    std::fs::write(&path, BUNDLE).expect("write bundle");
    let mut times = Vec::with_capacity(cycles);
    let mut fds = Vec::with_capacity(cycles);
    let mut rss = Vec::with_capacity(cycles);
    let mut leftovers = 0usize;
    rt.block_on(async {
        for _ in 0..cycles {
            let started = Instant::now();
            let bundle =
                Bundle::load(&path).unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
            let running = bundle
                .start()
                .await
                .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
            running.stop().await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            // The spawner stays (one per host process); anything else is a leftover.
            let left: Vec<u32> = teamster::process::descendants(std::process::id())
                .into_iter()
                .filter(|&pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| !c.contains("__spawner"))
                })
                .collect();
            leftovers += left.len();
            fds.push(open_fds());
            rss.push(rss_kib());
        }
    });
    let window = 50.min(cycles);
    let first = 0..window;
    let last = cycles - window..cycles;
    let part = |r: std::ops::Range<usize>| {
        serde_json::json!({
            "cycle_ms_median": (median(&times[r.clone()]) * 100.0).round() / 100.0,
            "cycle_ms_max": (times[r.clone()].iter().cloned().fold(0.0, f64::max) * 100.0).round() / 100.0,
            "host_fds_max": fds[r.clone()].iter().max(),
            "host_rss_kib_max": rss[r].iter().max(),
        })
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "cycles": cycles,
            "first_50": part(first),
            "last_50": part(last),
            "leftover_processes": leftovers,
        }))
        .expect("json")
    );
    assert_eq!(leftovers, 0, "processes were left behind");
}
