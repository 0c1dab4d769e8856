//! The `generic` kind's `fail_line`: a plugin's `ready-check` failing a start through the
//! orchestrator, as a user sees it.

use crate::fixture::Project;

/// A line that says the service will never get ready fails the start at once, with the
/// plugin's message naming the service and the plugin, instead of running out the
/// startup timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_line_fails_the_start_with_the_plugins_message() {
    let p = Project::new();
    let err = p
        .bundle(
            r#"startup_timeout = "60s"
[services.web]
kind = "generic"
[services.web.config]
command = "echo booting; echo 'bind: Address already in use' >&2; exec sleep 60"
ready_line = "listening"
fail_line = "Address already in use"
"#,
        )
        .start()
        .await
        .expect_err("the fail line ends the start");
    // The verdict ended the start, not the startup timeout: the message is the plugin's.
    assert!(
        !matches!(err, teamster::StartError::Timeout { .. }),
        "{err:?}"
    );
    let text = teamster::error_chain(&err);
    eprintln!("{text}");
    assert!(
        text.contains(
            "plugin `generic` failed in `ready-check`: it printed `bind: Address already in use`"
        ),
        "{text}"
    );
    assert!(text.contains("`web`"), "the service is named: {text}");
}
