//! Every program the host starts for a plugin passes the same gate: the service's main
//! program and readiness probes (`configure`), sub-commands (`subcommand`) and helpers
//! (`host.run`, in `misbehave.rs`). Each must be declared and granted, and the host starts
//! the path it resolved.

use serde_json::json;

use super::misbehave::{misbehave, open};
use super::{chain, test_host, which};
use crate::bundle::spec::Readiness;
use crate::plugin::Limits;
use crate::service::hooks::ServiceHooks;

#[test]
fn the_main_program_must_be_declared_and_granted() {
    let (host, _home) = test_host(Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let fine = json!({"mode": "fine"});

    // Installed without grants: `sleep`, its main program, is declared but not granted.
    let plugin = misbehave(&host, &[]);
    let ungranted = open(&plugin, dir.path(), fine.clone(), &[])
        .configure()
        .unwrap_err();
    // The bundle grants it: the host starts the `sleep` it resolved.
    let spec = open(&plugin, dir.path(), fine.clone(), &["sleep"])
        .configure()
        .unwrap();
    assert_eq!(spec.command, [which("sleep"), "100".to_string()]);

    // A plugin cannot make a program it does not declare its service, such as a shell.
    let plugin = misbehave(&host, &["sleep", "echo"]);
    let shell = json!({"mode": "fine", "main": "sh", "main_args": ["-c", "echo pwned"]});
    let undeclared = open(&plugin, dir.path(), shell, &[])
        .configure()
        .unwrap_err();
    // Nor reach a program of a declared name elsewhere than where the host finds it.
    let elsewhere = json!({"mode": "fine", "main": "/tmp/sleep"});
    let moved = open(&plugin, dir.path(), elsewhere, &[])
        .configure()
        .unwrap_err();

    insta::assert_snapshot!(
        "main_program_gates",
        format!(
            "ungranted: {}\nundeclared: {}\nelsewhere: {}\n",
            chain(&ungranted),
            chain(&undeclared),
            chain(&moved).replace(&which("sleep"), "[SLEEP]"),
        )
    );
}

#[test]
fn readiness_probes_must_be_declared_and_granted() {
    let (host, _home) = test_host(Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let plugin = misbehave(&host, &["sleep"]);

    let probe = json!({"mode": "fine", "probe": ["sh", "-c", "true"]});
    let undeclared = open(&plugin, dir.path(), probe, &[])
        .configure()
        .unwrap_err();
    let probe = json!({"mode": "fine", "probe": ["echo", "ok"]});
    let ungranted = open(&plugin, dir.path(), probe.clone(), &[])
        .configure()
        .unwrap_err();
    let spec = open(&plugin, dir.path(), probe, &["echo"])
        .configure()
        .unwrap();
    assert_eq!(
        spec.ready,
        [Readiness::Command {
            argv: vec![which("echo"), "ok".to_string()]
        }]
    );
    insta::assert_snapshot!(
        "probe_gates",
        format!(
            "undeclared: {}\nungranted: {}\n",
            chain(&undeclared),
            chain(&ungranted)
        )
    );
}

#[test]
fn sub_commands_must_be_declared_and_granted() {
    let (host, _home) = test_host(Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let plugin = misbehave(&host, &["sleep"]);
    let with = |program: &str| json!({"mode": "fine", "program": program});

    let svc = open(&plugin, dir.path(), with("cat"), &[]);
    let undeclared = svc
        .subcommand("program", &["/etc/hostname".into()])
        .unwrap_err();
    let svc = open(&plugin, dir.path(), with("echo"), &[]);
    let ungranted = svc.subcommand("program", &["hi".into()]).unwrap_err();
    let svc = open(&plugin, dir.path(), with("echo"), &["echo"]);
    let cmd = svc.subcommand("program", &["hi".into()]).unwrap();
    assert_eq!(cmd.argv, [which("echo"), "hi".to_string()]);
    assert!(!svc.is_poisoned(), "a refusal is no trap");

    insta::assert_snapshot!(
        "subcommand_gates",
        format!(
            "undeclared: {}\nungranted: {}\n",
            chain(&undeclared),
            chain(&ungranted)
        )
    );
}
