//! `examples/demo/bundle.toml`: Postgres, Redis, an SMTP sink and the Django app, up,
//! driven by `examples/demo/drive.py`, and stopped without leaving a process behind.

use std::time::{Duration, Instant};

use super::demo_dir;
use crate::fixture::{Project, alive, eventually};

/// Loads the demo bundle as shipped, with its runs kept in the test's private directory.
pub(super) async fn start_demo(p: &Project) -> teamster::Running {
    let mut spec = teamster::BundleSpec::load(&demo_dir().join("bundle.toml"))
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    spec.run_root = p.path().join(".teamster");
    teamster::Bundle::new(spec).start().await.unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
}

/// The session of a process (field 6 of `/proc/<pid>/stat`).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(3)?.parse().ok()
}

/// Every live process in one of these sessions.
fn members(sessions: &[u32]) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| session_of(*pid).is_some_and(|s| sessions.contains(&s)) && alive(*pid))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_bundle_serves_drive_py_and_leaves_nothing_behind() {
    let p = Project::new();
    let started = Instant::now();
    let running = start_demo(&p).await;
    eprintln!("demo bundle (postgres, redis, smtp-sink, django) started in {:?}", started.elapsed());

    let url = running.connection("web", "url").expect("web url").to_owned();
    let out = std::process::Command::new("python3")
        .arg(demo_dir().join("drive.py"))
        .arg(&url)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "drive.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The signup mail went through the sink.
    let mail = running["mail"]
        .logs()
        .until_json(serde_json::json!({"subject": "Welcome"}), Duration::from_secs(10), 100)
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert_eq!(mail.value["sent_to"], serde_json::json!(["someone@example.test"]));

    let pids: Vec<u32> = running.services().iter().map(|s| s.pid().expect("a running service has a pid")).collect();
    let sessions: Vec<u32> = pids.iter().filter_map(|pid| session_of(*pid)).collect();
    let before = members(&sessions);
    assert!(before.len() > pids.len(), "postgres's helpers are in its session too: {before:?}");
    running.stop().await;
    assert!(
        eventually(Duration::from_secs(5), || members(&sessions).is_empty()).await,
        "left behind: {:?}",
        members(&sessions)
    );
    assert!(pids.iter().all(|pid| !alive(*pid)), "a service outlived stop: {pids:?}");
}
