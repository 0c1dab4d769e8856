//! The library as a user's test calls it: from a current-thread runtime, from plain
//! blocking code, and in one step from a builder.

use std::time::Duration;

use teamster::{BundleSpec, ServiceSpec};

use crate::fixture::Project;

/// A service that writes far more than a pipe holds before its marker line: it finishes
/// only if the host drains its output while the test's own thread does something else.
const CHATTY: &str = r#"
[services.chatty]
command = ["python3", "-c", "import sys\nfor i in range(20000): print('filler line', i)\nprint('marker', flush=True)\nimport time; time.sleep(600)"]
connection = { url = "http://127.0.0.1:1/" }
"#;

// `#[tokio::test]` is a current-thread runtime: the one a user's test gets by default.
#[tokio::test]
async fn a_current_thread_runtime_starts_a_kind_and_runs_its_subcommand() {
    let p = Project::new();
    let running = p
        .start(&format!("{CHATTY}\n[services.cache]\nkind = \"redis\"\n"))
        .await;
    let out = running["cache"]
        .subcommand("cli", ["PING"])
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
    running["chatty"]
        .logs()
        .until("marker", Duration::from_secs(30))
        .lines_back(usize::MAX)
        .await
        .expect("the chatty service's output was drained");
    running.stop().await;
}

#[test]
fn the_blocking_api_keeps_supervising_between_calls() {
    let p = Project::new();
    let bundle = teamster::Bundle::load(p.bundle_file(CHATTY))
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
        .start_blocking()
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    // The test thread does not call into the bundle while the service writes its filler.
    let line = bundle
        .wait_for_line("chatty", "marker", Duration::from_secs(30))
        .expect("the marker line");
    assert_eq!(line.text, "marker");
    // The bundle and the handle agree on connection values.
    assert_eq!(
        bundle.connection("chatty", "url"),
        Some("http://127.0.0.1:1/")
    );
    assert_eq!(
        bundle.service("chatty").expect("chatty").connection("url"),
        Some("http://127.0.0.1:1/")
    );
    let pid = bundle.service("chatty").and_then(|s| s.pid()).expect("pid");
    // Dropping the handle stops the bundle and returns once the tree is gone.
    drop(bundle);
    assert!(
        !crate::fixture::alive(pid),
        "{pid} outlived the dropped bundle"
    );
}

#[tokio::test]
async fn a_builder_starts_in_one_step() {
    let p = Project::new();
    let running = BundleSpec::builder(p.path())
        .service(ServiceSpec::builder("one").command(["sleep", "600"]))
        .service(
            ServiceSpec::builder("two")
                .command(["sleep", "600"])
                .needs("one"),
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert_eq!(running.services().len(), 2);
    assert!(running["two"].pid().is_some());
    running.stop().await;
}

#[tokio::test]
async fn a_builder_error_is_a_start_error() {
    let p = Project::new();
    let err = BundleSpec::builder(p.path())
        .service(
            ServiceSpec::builder("one")
                .command(["sleep", "600"])
                .needs("nobody"),
        )
        .start()
        .await
        .map(|_| ())
        .expect_err("an unknown need is refused");
    assert!(matches!(err, teamster::StartError::Invalid(_)), "{err:?}");
    assert!(
        teamster::error_chain(&err).contains("nobody"),
        "{}",
        teamster::error_chain(&err)
    );
}

/// `Subcommand::spawn` hands over stdio like `command`, with a handle that takes the
/// sub-command's whole process group along when it drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_subcommand_takes_its_whole_group_when_dropped() {
    let p = Project::new();
    let pid_file = p.file("background.pid");
    let running = p
        .start(&format!(
            r#"
[services.app]
kind = "generic"
[services.app.config]
command = "echo up; exec sleep 600"
ready_line = "up"
subcommands = {{ background = "sleep 600 & echo $! > '{}'; wait; true" }}
"#,
            pid_file.display()
        ))
        .await;
    let child = running["app"]
        .subcommand("background", &[] as &[&str])
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
        .spawn(
            std::process::Stdio::null(),
            std::process::Stdio::null(),
            std::process::Stdio::null(),
        )
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    let background = crate::fixture::read_pid(&pid_file).await;
    assert!(crate::fixture::alive(background));
    drop(child);
    assert!(
        crate::fixture::eventually(Duration::from_secs(5), || !crate::fixture::alive(
            background
        ))
        .await,
        "the sub-command's background process outlived the handle"
    );
    running.stop().await;
}
