//! Every misbehaving plugin gives its own clear error, poisons only its own instance, and
//! leaves the host able to serve other services.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use teamster_plugin_artifacts::testing::MISBEHAVE;

use super::{artifact_path, chain, context, redact, run_env, test_host, which};
use crate::logs::Stream;
use crate::plugin::{CallLimits, Limits, Plugin, PluginHost, PluginService};
use crate::service::hooks::ServiceHooks;

/// Installs the misbehaving plugin into `host` with `grants` (at install time) and
/// resolves it.
pub(super) fn misbehave(host: &PluginHost, grants: &[&str]) -> Arc<Plugin> {
    let grants: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
    host.install(&artifact_path(&MISBEHAVE), &grants)
        .expect("install misbehave");
    host.resolve("misbehave").expect("resolve misbehave")
}

/// Opens a service of `plugin` with `config` and the bundle's `grants`.
pub(super) fn open(
    plugin: &Arc<Plugin>,
    dir: &std::path::Path,
    config: serde_json::Value,
    grants: &[&str],
) -> PluginService {
    let grants: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
    plugin
        .instantiate(context("svc", dir, 1, config), run_env(dir), &grants)
        .expect("instantiate")
}

/// Limits with effectively unlimited fuel, so the deadline is what stops a loop.
fn deadline_only(deadline: Duration) -> CallLimits {
    CallLimits {
        deadline,
        fuel: u64::MAX / 4,
    }
}

#[test]
fn endless_ready_check_hits_its_deadline_and_poisons_only_its_store() {
    let limits = Limits {
        ready_check: deadline_only(Duration::from_millis(100)),
        ..Limits::default()
    };
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = open(&plugin, dir.path(), json!({"mode": "loop-ready"}), &[]);

    // The snapshot names the limit that ended the call: the deadline, not the fuel.
    let err = bad.ready_check(Stream::Out, "anything").unwrap_err();
    insta::assert_snapshot!("ready_check_deadline", chain(&err));
    assert!(bad.is_poisoned());
    let again = bad.ready_check(Stream::Out, "anything").unwrap_err();
    insta::assert_snapshot!("ready_check_poisoned", chain(&again));

    // The same plugin keeps serving other services.
    let good = open(&plugin, dir.path(), json!({"mode": "fine"}), &[]);
    assert!(!good.ready_check(Stream::Out, "starting").unwrap());
    assert!(good.ready_check(Stream::Err, "now ready").unwrap());
}

#[test]
fn endless_ready_check_runs_out_of_fuel() {
    let limits = Limits {
        ready_check: CallLimits {
            deadline: Duration::from_secs(30),
            fuel: 5_000_000,
        },
        ..Limits::default()
    };
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = open(&plugin, dir.path(), json!({"mode": "loop-ready"}), &[]);
    let err = bad.ready_check(Stream::Out, "anything").unwrap_err();
    insta::assert_snapshot!("ready_check_fuel", chain(&err));
}

#[test]
fn endless_setup_hits_its_deadline() {
    let limits = Limits {
        lifecycle: deadline_only(Duration::from_millis(300)),
        ..Limits::default()
    };
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = open(&plugin, dir.path(), json!({"mode": "loop-setup"}), &[]);
    // The snapshot names the limit that ended the call: the deadline, not the fuel.
    let err = bad.setup().unwrap_err();
    insta::assert_snapshot!("setup_deadline", chain(&err));
}

#[test]
fn time_in_run_does_not_count_against_the_deadline() {
    let limits = Limits {
        lifecycle: deadline_only(Duration::from_millis(100)),
        ..Limits::default()
    };
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &["sleep"]);
    let dir = tempfile::tempdir().unwrap();
    let svc = open(&plugin, dir.path(), json!({"mode": "run-slow"}), &[]);
    let started = Instant::now();
    svc.setup()
        .expect("the 400 ms in `sleep` are the host's, not the plugin's 100 ms");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(
        svc.recent_logs()
            .iter()
            .any(|log| log.message == "slept, then made 1000 words")
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = open(&plugin, dir.path(), json!({"mode": "memory-bomb"}), &[]);
    let err = bad.setup().unwrap_err();
    insta::assert_snapshot!("memory_bomb", chain(&err));
}

#[test]
fn log_spam_hits_the_log_budget() {
    let mut limits = Limits::default();
    limits.budgets.log_bytes = 4096;
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = open(&plugin, dir.path(), json!({"mode": "log-spam"}), &[]);
    let err = bad.setup().unwrap_err();
    insta::assert_snapshot!("log_spam", chain(&err));
    let logged: usize = bad.recent_logs().iter().map(|l| l.message.len()).sum();
    assert!(logged > 0 && logged <= 4096, "logged {logged} bytes");
}

#[test]
fn panic_becomes_a_trap_quoting_the_panic_message() {
    let (host, _home) = test_host(Limits::default());
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let bad = open(&plugin, dir.path(), json!({"mode": "panic"}), &[]);
    let err = bad.configure().unwrap_err();
    insta::assert_snapshot!("panic", chain(&err));
}

#[test]
fn run_needs_a_declared_and_granted_program() {
    let (host, _home) = test_host(Limits::default());
    let dir = tempfile::tempdir().unwrap();

    // `cat` is not declared: refused whatever the grants say.
    let plugin = misbehave(&host, &["echo"]);
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "run", "program": "cat"}),
        &[],
    );
    let undeclared = svc.setup().unwrap_err();
    // `echo` is declared and granted at install time: it runs.
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "run", "program": "echo"}),
        &[],
    );
    svc.setup().expect("granted run");
    assert!(
        svc.recent_logs()
            .iter()
            .any(|l| l.message == "echo said hello from run"),
        "{:?}",
        svc.recent_logs()
    );
    // An absolute path is accepted only where the name resolves.
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "run", "program": "/nonexistent/echo"}),
        &[],
    );
    let elsewhere = chain(&svc.setup().unwrap_err()).replace(&which("echo"), "[ECHO]");

    // Installed without grants: `echo` is declared but not granted...
    let plugin = misbehave(&host, &[]);
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "run", "program": "echo"}),
        &[],
    );
    let ungranted = svc.setup().unwrap_err();
    assert!(
        !svc.is_poisoned(),
        "a refused run is an error the plugin returns"
    );
    // ...until the bundle grants it.
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "run", "program": "echo"}),
        &["echo"],
    );
    svc.setup().expect("bundle grant");
    // A bundle cannot grant what the plugin does not declare.
    let bad_grant = plugin
        .instantiate(
            super::context("svc", dir.path(), 1, json!({"mode": "fine"})),
            run_env(dir.path()),
            &["cat".into()],
        )
        .unwrap_err();

    insta::assert_snapshot!(
        "run_gates",
        format!(
            "undeclared: {}\nungranted: {}\nelsewhere: {}\nbad grant: {}\n",
            chain(&undeclared),
            chain(&ungranted),
            elsewhere,
            chain(&bad_grant)
        )
    );
}

#[test]
fn files_outside_the_data_dir_are_invisible() {
    let (host, home) = test_host(Limits::default());
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "read-outside", "path": "/etc/hostname"}),
        &[],
    );
    let outside = svc.setup().unwrap_err();
    // `..` out of the data directory is outside too.
    let escape = dir.path().join("data/svc/../other/secret");
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "read-outside", "path": escape.to_str().unwrap()}),
        &[],
    );
    let escaped = svc.setup().unwrap_err();
    // A missing file inside is just missing.
    let missing = dir.path().join("data/svc/nope.txt");
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "read-outside", "path": missing.to_str().unwrap()}),
        &[],
    );
    let absent = svc.setup().unwrap_err();
    insta::assert_snapshot!(
        "read_outside",
        redact(
            &format!(
                "outside: {}
escaped: {}
missing: {}
",
                chain(&outside),
                chain(&escaped),
                chain(&absent)
            ),
            dir.path(),
            "[DIR]"
        )
        .replace(&home.path().display().to_string(), "[HOME]")
    );

    let inside = dir.path().join("data/svc/seed.txt");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::write(&inside, "12345").unwrap();
    let svc = open(
        &plugin,
        dir.path(),
        json!({"mode": "read-outside", "path": inside.to_str().unwrap()}),
        &[],
    );
    svc.setup().expect("the data dir is readable");
    assert!(
        svc.recent_logs()
            .iter()
            .any(|l| l.message.starts_with("read 5 bytes")),
        "{:?}",
        svc.recent_logs()
    );
}

/// Instances come from a fixed pool: past its size, opening a service fails with an error
/// that says so, and a slot freed by a dropped service is used again.
#[test]
fn a_full_instance_pool_is_a_clear_error_and_slots_are_reused() {
    let limits = Limits {
        instances: 2,
        ..Limits::default()
    };
    let (host, _home) = test_host(limits);
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    let first = open(&plugin, dir.path(), json!({"mode": "fine"}), &[]);
    let second = open(&plugin, dir.path(), json!({"mode": "fine"}), &[]);
    let err = plugin
        .instantiate(
            context("third", dir.path(), 1, json!({"mode": "fine"})),
            run_env(dir.path()),
            &[],
        )
        .unwrap_err();
    insta::assert_snapshot!("pool_full", chain(&err));
    drop(first);
    let again = open(&plugin, dir.path(), json!({"mode": "fine"}), &[]);
    assert!(!again.is_poisoned() && !second.is_poisoned());
}
