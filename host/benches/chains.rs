//! Dependency chains and wide bundles: is the host's cost per service flat in bundle size?
//!
//! Run with `cargo bench -p teamster --bench chains [-- SIZES…]` (default `20 200 2000`).
//! For each size it starts a chain (`s{i}` needs `s{i-1}`, so every step waits for the one
//! before) and a wide bundle (no needs) of trivial services, and prints the time per
//! service over the first and the last tenth of the start. A flat host keeps both equal
//! and the same at every size; a host that rescans the bundle on every event shows the
//! last tenth slower than the first, and larger bundles slower per step.

use std::path::Path;
use std::time::{Duration, Instant};

use teamster::{Bundle, Event};
use tokio_stream::StreamExt;

fn bundle(dir: &Path, toml: &str) -> Bundle {
    let path = dir.join("bundle.toml");
    std::fs::write(&path, toml).expect("write bundle");
    Bundle::load(&path).unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
}

fn toml(n: usize, chain: bool) -> String {
    let mut t = format!("startup_timeout = \"{}s\"\n", 60 + n / 5);
    for i in 0..n {
        t.push_str(&format!(
            "[services.s{i}]\ncommand = [\"sleep\", \"600\"]\n"
        ));
        if chain && i > 0 {
            t.push_str(&format!("needs = [\"s{}\"]\n", i - 1));
        }
    }
    t
}

/// Milliseconds per service between the `from`-th and `to`-th ready event.
fn per_service(ready: &[Duration], from: usize, to: usize) -> f64 {
    (ready[to] - ready[from]).as_secs_f64() * 1e3 / (to - from) as f64
}

async fn one(n: usize, chain: bool) {
    assert!(n >= 2, "a size of at least 2 services");
    let dir = tempfile::tempdir().expect("tempdir");
    let b = bundle(dir.path(), &toml(n, chain));
    let mut events = b.events();
    let t = Instant::now();
    // A chain's events come one step at a time, so the collector keeps up with them; a
    // wide bundle's arrive all at once and may overflow the event channel, so it reports
    // the whole start only.
    let collect = tokio::spawn(async move {
        let mut ready = Vec::with_capacity(n);
        while let Some(e) = events.next().await {
            if let Event::Ready { .. } = e {
                ready.push(t.elapsed());
                if ready.len() == n {
                    break;
                }
            }
        }
        ready
    });
    let r = b.start().await.expect("start");
    let started = t.elapsed();
    let steps = if chain {
        let ready = collect.await.expect("events");
        let tenth = (n / 10).max(1);
        format!(
            "; first tenth {:.2} ms/service, last tenth {:.2} ms/service",
            per_service(&ready, 0, tenth),
            per_service(&ready, n - 1 - tenth, n - 1),
        )
    } else {
        collect.abort();
        String::new()
    };
    let stop = Instant::now();
    r.stop().await;
    let stopped = stop.elapsed();
    println!(
        "{:>5} {:<5}: all ready {:>8.1} ms = {:.2} ms/service{steps}; stop {:.1} ms",
        n,
        if chain { "chain" } else { "wide" },
        started.as_secs_f64() * 1e3,
        started.as_secs_f64() * 1e3 / n as f64,
        stopped.as_secs_f64() * 1e3,
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![20, 200, 2000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for &n in &sizes {
            one(n, true).await;
            one(n, false).await;
        }
    });
}
