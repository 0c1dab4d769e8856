//! Timings of the plugin platform: a cold compile, a warm host start, instantiation per
//! service, and a `ready-check` call on a typical log line.
//!
//! Run with `cargo bench -p teamster --bench plugin`. Plain loops with `Instant` keep the
//! harness dependency-free; each figure is the median of several rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use teamster::logs::Stream;
use teamster::plugin::{PluginHost, PluginHostConfig, RunEnv, ServiceContext};
use teamster::service::hooks::ServiceHooks;

mod support;

fn per_iter(rounds: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    let samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    support::median(&samples)
}

fn main() {
    let home = tempfile::tempdir().expect("temp dir");
    let config = PluginHostConfig::in_dir(home.path());

    let start = Instant::now();
    let host = PluginHost::new(config.clone()).expect("host");
    let plugin = host.resolve("generic").expect("generic");
    assert!(!plugin.loaded_from_cache());
    println!(
        "first compile of `generic` (engine + compile + describe): {:?}",
        start.elapsed()
    );

    // `PLUGIN_BENCH_FOCUS=instantiate` or `=ready-check` runs only that part, for long
    // enough to profile it (`perf record`).
    let focus = std::env::var("PLUGIN_BENCH_FOCUS").unwrap_or_default();
    if focus.is_empty() {
        warm_start(&config);
    }

    let project = tempfile::tempdir().expect("temp dir");
    let ctx = ServiceContext {
        name: "web".into(),
        project_dir: project.path().to_path_buf(),
        data_dir: project.path().join("data/web"),
        ports: vec![("main".into(), 8080)],
        config: json!({"command": "exec my-server --port {port}", "ready_line": "Listening on"}),
    };
    let run_env = RunEnv {
        cwd: project.path().to_path_buf(),
        ..RunEnv::default()
    };
    if focus == "instantiate" {
        for _ in 0..100_000 {
            black_box(
                plugin
                    .instantiate(ctx.clone(), run_env.clone(), &[])
                    .expect("instantiate"),
            );
        }
        return;
    }
    let instantiate = per_iter(5, 200, || {
        black_box(
            plugin
                .instantiate(ctx.clone(), run_env.clone(), &[])
                .expect("instantiate"),
        );
    });
    println!("instantiate per service (store + instance + open): {instantiate:?}");

    let svc = plugin.instantiate(ctx, run_env, &[]).expect("instantiate");
    let line = "2024-05-01 12:00:00.123 INFO  [main] server: Listening on http://127.0.0.1:8080 (pid 4242)";
    if focus == "ready-check" {
        for _ in 0..10_000_000 {
            black_box(
                svc.ready_check(Stream::Out, black_box(line))
                    .expect("ready-check"),
            );
        }
        return;
    }
    let ready = per_iter(7, 20_000, || {
        black_box(
            svc.ready_check(Stream::Out, black_box(line))
                .expect("ready-check"),
        );
    });
    println!("ready-check on a typical log line: {ready:?}");
}

/// Host start (engine only) and plugin load with a warm cache.
fn warm_start(config: &PluginHostConfig) {
    let engine = per_iter(5, 20, || {
        black_box(PluginHost::new(config.clone()).expect("host"));
    });
    println!("host start, engine only (PluginHost::new, once per process): {engine:?}");

    let hosts: Vec<PluginHost> = (0..100)
        .map(|_| PluginHost::new(config.clone()).expect("host"))
        .collect();
    let mut next = hosts.iter();
    let warm = per_iter(5, 20, || {
        let plugin = next
            .next()
            .expect("enough hosts")
            .resolve("generic")
            .expect("generic");
        assert!(plugin.loaded_from_cache());
        black_box(plugin);
    });
    drop(hosts);
    println!("plugin load with a warm cache (resolve: map + link + describe): {warm:?}");
}
