//! What the benchmarks share: loading a bundle, the process's memory, medians. Each
//! benchmark includes it with `mod support;`; not every one uses every item.
#![allow(dead_code, reason = "each benchmark uses only some of these")]

use std::path::Path;

use teamster::Bundle;

/// Writes `toml` as `dir/bundle.toml` and loads it; a bad bundle panics with its chain.
pub fn bundle(dir: &Path, toml: &str) -> Bundle {
    let path = dir.join("bundle.toml");
    std::fs::write(&path, toml).expect("write bundle");
    Bundle::load(&path).unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
}

/// A `kB` figure of `/proc/self/status` (`VmRSS`, `VmHWM`, …), in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// The process's resident set size now, in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// The process's peak resident set size, in KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// The median of `samples` (the upper one of an even count).
pub fn median<T: PartialOrd + Copy>(samples: &[T]) -> T {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable samples, no NaN"));
    sorted[sorted.len() / 2]
}
