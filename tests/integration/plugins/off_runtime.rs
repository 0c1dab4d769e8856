//! Plugin calls run off the async runtime: a `ready-check` that spins for most of its
//! deadline does not hold up another service of the bundle, even on a current-thread
//! runtime, where a call made on the runtime's thread would stop everything else.
//!
//! Made on the runtime's thread, the call would hold up `plain` until it returned, or (as
//! the plugin's sleep between turns then needs the runtime) fail outright; either way
//! `plain` is not reported ready while `stall`'s call still runs, and the test fails.
//! Nothing is compared with a fixed time: the plugin's own markers tell whether the call
//! was over when `plain` was reported ready.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use teamster::{Bundle, BundleSpec, Event};
use teamster_plugin_artifacts::testing::MISBEHAVE;
use tokio_stream::StreamExt as _;

use crate::fixture::{Project, teamster_bin};

/// Set in the copy of the test binary that runs the bundle.
const CHILD: &str = "TEAMSTER_TEST_SPIN_CHILD";

/// `stall` prints one line; its plugin's `ready-check` spins on it for 700 ms (of the 1 s
/// deadline) and marks the start and the end of the spin in its data directory. `plain`
/// prints its ready line only once the spin has begun, so its readiness falls inside the
/// call.
fn bundle_toml(project: &Path) -> String {
    let marker = project.join(".teamster/runs/*/data/stall/spinning");
    format!(
        r#"startup_timeout = "30s"

[services.stall]
kind = "misbehave"
grants = ["echo"]
config = {{ mode = "spin-ready", spin_ms = 700, main = "echo", main_args = ["spinning"] }}

[services.plain]
command = ["sh", "-c", "until [ -e {marker} ]; do sleep 0.01; done; echo ready; exec sleep 600"]
ready = {{ log = "ready" }}
"#,
        marker = marker.display()
    )
}

/// The data directory of `service` in the project's only run.
fn data_dir(project: &Path, service: &str) -> Option<PathBuf> {
    let runs = std::fs::read_dir(project.join(".teamster/runs")).ok()?;
    runs.flatten()
        .map(|run| run.path().join("data").join(service))
        .find(|dir| dir.is_dir())
}

/// The plugin host is one per process and reads its plugin registry from `TEAMSTER_HOME`
/// when it is first used, so the bundle runs in a copy of this test binary whose
/// `TEAMSTER_HOME` holds the installed test plugin.
#[test]
fn a_spinning_ready_check_does_not_delay_another_service() {
    if std::env::var_os(CHILD).is_some() {
        return in_child();
    }
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(teamster_bin())
        .args(["plugin", "install", MISBEHAVE.path])
        .env("TEAMSTER_HOME", home.path())
        .output()
        .expect("run teamster plugin install");
    assert!(out.status.success(), "{out:?}");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "plugins::off_runtime::a_spinning_ready_check_does_not_delay_another_service",
            "--test-threads",
            "1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("TEAMSTER_HOME", home.path())
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the event reader saw when `plain` was reported ready.
#[derive(Debug, Default)]
struct AtPlainReady {
    /// The spin had begun.
    spinning: bool,
    /// The spin had ended: the `ready-check` call was over.
    spun: bool,
}

fn in_child() {
    // A current-thread runtime: a plugin call on the runtime's thread would stop every
    // other task, the event reader below included, until it returned.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let p = Project::new();
        let file = p.bundle_file(&bundle_toml(p.path()));
        let spec =
            BundleSpec::load(&file).unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
        let bundle = Bundle::new(spec);
        let mut events = bundle.events();
        let project = p.path().to_owned();
        let reader = tokio::spawn(async move {
            let mut seen = None;
            while let Some(event) = events.next().await {
                match event {
                    Event::Ready { service, .. } if service == "plain" => {
                        let dir = data_dir(&project, "stall").expect("stall's data dir");
                        seen = Some(AtPlainReady {
                            spinning: dir.join("spinning").exists(),
                            spun: dir.join("spun").exists(),
                        });
                    }
                    Event::Exited { service, .. } | Event::Failed { service, .. }
                        if service == "stall" =>
                    {
                        break;
                    }
                    _ => {}
                }
            }
            seen
        });
        // `stall` never gets ready: its plugin answers "not yet" and `echo` exits.
        let Err(err) = bundle.start().await else {
            panic!("the start succeeded");
        };
        let message = teamster::error_chain(&err);
        assert!(message.contains("stall"), "{message}");
        let seen = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("the event reader saw `stall` end")
            .expect("event reader");
        let seen = seen.unwrap_or_else(|| panic!("`plain` was never ready: {message}"));
        assert!(seen.spinning, "{seen:?}");
        assert!(
            !seen.spun,
            "`plain` was reported ready only after `stall`'s ready-check call had ended: \
             the call held up the runtime"
        );
        let dir = data_dir(p.path(), "stall").expect("stall's data dir");
        assert!(
            dir.join("spun").exists(),
            "the spin did not finish: {message}"
        );
    });
}
