//! Host-core benchmarks: readiness latency, per-service overhead, log ingestion.
//!
//! Run with `cargo bench -p teamster --bench host_core`. Figures go to BENCHMARKS.md.
//! Each figure is measured on real processes, the same way the library is used.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use teamster::Event;
use tokio_stream::StreamExt;

mod support;
use support::{bundle, peak_rss_kib};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

/// From the child writing its ready line to the host reporting the service ready.
async fn readiness_latency(runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lat = Vec::new();
    for _ in 0..runs {
        let b = bundle(
            dir.path(),
            r#"
[services.s]
command = ["python3", "-c", "import sys, time\nt = time.time_ns()\nsys.stdout.write(f'ready {t}\\n'); sys.stdout.flush(); time.sleep(600)"]
ready = { log = "ready" }
"#,
        );
        let mut events = b.events();
        let r = b.start().await.expect("start");
        let mut at = None;
        while let Some(e) = events.next().await {
            if let Event::Ready { .. } = e {
                at = Some(now_ns());
                break;
            }
        }
        let line = r["s"]
            .logs()
            .tail(1)
            .expect("tail")
            .pop()
            .expect("line")
            .text;
        let wrote: u128 = line
            .trim_start_matches("ready ")
            .parse()
            .expect("timestamp");
        lat.push((at.expect("ready") - wrote) as f64 / 1e6);
        r.stop().await;
    }
    let med = support::median(&lat);
    let max = lat.last().copied().unwrap_or(0.0);
    println!(
        "readiness latency: median {med:.3} ms, max {max:.3} ms over {runs} runs (goal: median <= 1 ms)"
    );
}

/// Start and stop of many trivial services, against spawning and killing them directly.
async fn many_services(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut toml = String::new();
    for i in 0..n {
        toml.push_str(&format!(
            "[services.s{i}]\ncommand = [\"sleep\", \"600\"]\n"
        ));
    }
    let b = bundle(dir.path(), &toml);
    let t = Instant::now();
    let r = b.start().await.expect("start");
    let started = t.elapsed();
    r.stop().await;
    let total = t.elapsed();

    // Baseline: the same processes spawned and SIGKILLed directly, no supervision.
    let t = Instant::now();
    let mut children: Vec<_> = (0..n)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in &mut children {
        c.kill().expect("kill");
    }
    for c in &mut children {
        c.wait().expect("wait");
    }
    let bare = t.elapsed();
    println!(
        "{n} trivial services: start {:.1} ms, start+stop {:.1} ms = {:.2} ms/service (bare spawn+kill {:.2} ms/service; host overhead {:.2} ms/service; goal <= 2 ms)",
        started.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3 / n as f64,
        bare.as_secs_f64() * 1e3 / n as f64,
        (total.saturating_sub(bare)).as_secs_f64() * 1e3 / n as f64,
    );
}

/// One service printing 1 GiB of 100-byte lines, ingested into files with a bounded window.
async fn log_ingestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: u64 = 1 << 30 >> 7; // 128-byte lines (127 + newline): 8 Mi lines = 1 GiB
    let b = bundle(
        dir.path(),
        &format!(
            r#"
startup_timeout = "600s"
[services.loud]
command = ["sh", "-c", "yes {} | head -n {lines}; echo done >&2; exec sleep 600"]
ready = {{ log = {{ contains = "done", stream = "stderr" }} }}
"#,
            "x".repeat(127)
        ),
    );
    let rss_before = peak_rss_kib();
    let t = Instant::now();
    let r = b.start().await.expect("start");
    let took = t.elapsed();
    let out = r.run_dir().join("logs/loud.out");
    r.stop().await;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "log ingestion: {lines} lines ({:.2} GiB) in {:.2} s = {:.2} M lines/s, {:.0} MiB/s; peak RSS {} MiB before, {} MiB after (goal >= 1 M lines/s, flat memory)",
        size as f64 / (1u64 << 30) as f64,
        took.as_secs_f64(),
        lines as f64 / took.as_secs_f64() / 1e6,
        size as f64 / took.as_secs_f64() / (1 << 20) as f64,
        rss_before / 1024,
        peak_rss_kib() / 1024,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    rt.block_on(async {
        if want("latency") {
            readiness_latency(30).await;
        }
        if want("services") {
            many_services(200).await;
        }
        if want("ingest") {
            log_ingestion().await;
        }
    });
    if want("ports") {
        port_allocation(500);
    }
}

/// Leasing and releasing free ports: a lock file and a bind check per port. A regression
/// to scanning or sleeping shows as milliseconds per port.
fn port_allocation(n: u32) {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let ports = teamster::ports::PortAllocator::with_dir(dir.path()).expect("allocator");
    let start = Instant::now();
    let leases: Vec<_> = (0..n)
        .map(|_| ports.allocate().expect("allocate"))
        .collect();
    let allocating = start.elapsed();
    let start = Instant::now();
    drop(leases);
    let releasing = start.elapsed();
    println!(
        "ports: {n} leases: {:?} per allocation, {:?} per release",
        allocating / n,
        releasing / n
    );
}
