//! `examples/demo/bundle.toml`: Postgres, Redis, an SMTP sink and the Django app, up,
//! driven by `examples/demo/drive.py`, and stopped without leaving a process behind.

use std::time::{Duration, Instant};

use super::demo_dir;
use crate::fixture::{Project, assert_all_gone, service_trees};

/// Loads the demo bundle as shipped, with its runs kept in the test's private directory.
pub(super) async fn start_demo(p: &Project) -> teamster::Running {
    let mut spec = teamster::BundleSpec::load(&demo_dir().join("bundle.toml"))
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    spec.run_root = p.path().join(".teamster");
    teamster::Bundle::new(spec)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_bundle_serves_drive_py_and_leaves_nothing_behind() {
    let p = Project::new();
    let started = Instant::now();
    let running = start_demo(&p).await;
    eprintln!(
        "demo bundle (postgres, redis, smtp-sink, django) started in {:?}",
        started.elapsed()
    );

    let url = running
        .connection("web", "url")
        .expect("web url")
        .to_owned();
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
        .until_json(
            serde_json::json!({"subject": "Welcome"}),
            Duration::from_secs(10),
        )
        .lines_back(100)
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert_eq!(
        mail.value["sent_to"],
        serde_json::json!(["someone@example.test"])
    );

    let services = running.services().len();
    let all = service_trees(&running);
    assert!(
        all.len() > services + 3,
        "postgres's helper processes are counted too: {all:?}"
    );
    running.stop().await;
    assert_all_gone(&all).await;
}
