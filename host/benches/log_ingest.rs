//! Ingestion throughput of the log pipeline: splitter, numbering, files and window.
//!
//! Feeds `LINES` (default 5 000 000) lines of about 100 bytes through a [`LineSplitter`]
//! and a quiet [`LogHub`] sink, in 64 KiB reads that cut lines anywhere as a pipe would,
//! and prints lines per second and the peak resident memory. The peak is printed at half
//! time and at the end: equal figures show memory stays flat however much is ingested.
//!
//! Run with `cargo bench --bench log_ingest` (set `LINES=10000000` for about 1 GB).

use std::time::Instant;

use teamster::logs::{ConsoleMode, LogConfig, LogHub, Stream};

mod support;
use support::peak_rss_kib;

/// Size of one simulated pipe read.
const READ_SIZE: usize = 64 * 1024;

fn main() {
    let lines: usize = std::env::var("LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = LogConfig {
        console: ConsoleMode::Quiet,
        ..LogConfig::new(dir.path())
    };
    let hub = LogHub::new(config, &["web", "db"]).expect("log hub");
    let sink = hub.sink("web").expect("declared service");
    let mut splitter = hub.splitter();

    // One block of distinct lines, fed over and over; the block's length is not a multiple
    // of the read size, so reads end in the middle of lines.
    let block: Vec<u8> = (0..10_007)
        .flat_map(|i| format!("{i:>8} GET /api/v1/items?page={i} 200 OK in 1.{i:03}ms user=someone@example.com agent=test\n").into_bytes())
        .collect();
    let per_block = 10_007;
    let bytes_per_line = block.len() as f64 / per_block as f64;

    let start = Instant::now();
    let mut pushed = 0usize;
    let mut half_hwm = None;
    while pushed < lines {
        for chunk in block.chunks(READ_SIZE) {
            splitter.feed(chunk, |line| {
                sink.push(Stream::Out, line);
                pushed += 1;
            });
        }
        if half_hwm.is_none() && pushed >= lines / 2 {
            half_hwm = Some(peak_rss_kib());
        }
    }
    splitter.finish(|line| {
        sink.push(Stream::Out, line);
        pushed += 1;
    });
    hub.flush().expect("flush");
    let elapsed = start.elapsed();

    let on_disk = std::fs::metadata(dir.path().join("web.out"))
        .expect("web.out")
        .len();
    println!(
        "log_ingest: {pushed} lines of ~{bytes_per_line:.0} bytes ({:.0} MB) in {elapsed:.2?}",
        on_disk as f64 / 1e6
    );
    println!(
        "log_ingest: {:.2} M lines/s, {:.0} MB/s",
        pushed as f64 / elapsed.as_secs_f64() / 1e6,
        on_disk as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "log_ingest: peak RSS {} KiB at half time, {} KiB at the end",
        half_hwm.unwrap_or(0),
        peak_rss_kib()
    );
    log_matcher_per_line();
}

/// What a `ready = { log = … }` condition costs per line that does not match: readiness
/// is decided within about 1 ms end to end, so this must stay a negligible part of it.
fn log_matcher_per_line() {
    use teamster::bundle::spec::{LinePattern, LogReady, StreamFilter};
    use teamster::ready::LogMatcher;
    let line = "2024-01-01 00:00:00.000 UTC [42] LOG:  checkpoint starting: time, wal 0 bytes";
    for (name, pattern) in [
        (
            "contains",
            LinePattern::Contains("ready to accept connections".into()),
        ),
        (
            "regex",
            LinePattern::Regex(regex::Regex::new(r"ready to accept connections on \d+").unwrap()),
        ),
    ] {
        let mut matcher = LogMatcher::new(LogReady {
            pattern,
            stream: StreamFilter::Any,
            nth: 1,
        });
        let lines = 1_000_000u32;
        let start = Instant::now();
        for _ in 0..lines {
            assert!(!matcher.feed(Stream::Err, line));
        }
        let per_line = start.elapsed() / lines;
        println!("log_matcher: {name}: {per_line:?} per non-matching line");
    }
}
