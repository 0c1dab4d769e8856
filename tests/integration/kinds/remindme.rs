//! `examples/remindme`: the whole stack of hitchserve's tutorial (PostgreSQL, Redis,
//! Django, a Celery worker with beat, an SMTP sink, chromedriver with Chromium), driven by
//! its `drive.py` through a real browser, across a time travel that makes beat's periodic
//! task mail a reminder, and stopped without leaving a process behind.

use std::path::PathBuf;

use crate::fixture::{Project, assert_all_gone, service_trees};

fn remindme_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/remindme")
        .canonicalize()
        .expect("examples/remindme")
}

fn drive(running: &teamster::Running, step: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg(remindme_dir().join("drive.py"))
        .arg(step)
        .env("REMINDME_RUN_DIR", running.run_dir())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "drive.py {step} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_saved_in_the_browser_is_mailed_after_the_travel_and_nothing_is_left() {
    let p = Project::new();
    let mut spec = teamster::BundleSpec::load(&remindme_dir().join("bundle.toml"))
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    spec.run_root = p.path().join(".teamster");
    let running = teamster::Bundle::new(spec)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));

    let saved = drive(&running, "form");
    assert!(saved.contains("Saved: Renew the passport"), "{saved}");
    drive(&running, "no-mail");

    running
        .time_travel(teamster::Travel::parse("+31d").expect("a travel"))
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    let mailed = drive(&running, "await-mail");
    assert!(mailed.contains("alice@example.test"), "{mailed}");

    let all = service_trees(&running);
    running.stop().await;
    assert_all_gone(&all).await;
}
