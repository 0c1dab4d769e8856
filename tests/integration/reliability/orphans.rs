//! The orphan matrix: whatever is killed, and however, nothing of the bundle is left, by
//! pid and by process group.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::fixture::{
    Project, alive, members_of_group, parent_of, quiet_up, signal, teamster_bin, teamster_up,
    wait_for, wait_for_pid, wait_within,
};

/// What happens to the host and its supervisors.
#[derive(Debug, Clone, Copy)]
enum Blow {
    Host(Signal),
    Supervisors,
    HostAndSupervisors,
    FailureDuringStart,
}

fn bundle(p: &Project, fail: bool) -> String {
    let f = |name: &str| p.file(name).display().to_string();
    let mut toml = format!(
        r#"
[services.plain]
command = ["sh", "-c", "echo $$ > {plain}; sleep 1000 & echo up; wait"]
ready = {{ log = "up" }}

[services.daemon]
command = ["sh", "-c", "echo $$ > {daemon}; setsid sh -c 'echo $$ > {child}; exec sleep 1000' & echo up; exec sleep 1000"]
ready = {{ log = "up" }}

[services.stubborn]
command = ["sh", "-c", "trap '' TERM; echo $$ > {stubborn}; echo up; exec sleep 1000"]
ready = {{ log = "up" }}
shutdown_timeout = "1s"
"#,
        plain = f("plain.pid"),
        daemon = f("daemon.pid"),
        child = f("daemon.child"),
        stubborn = f("stubborn.pid"),
    );
    if fail {
        toml.push_str(
            r#"
[services.late]
command = ["sh", "-c", "sleep 0.3; echo no luck >&2; exit 1"]
ready = { log = "never" }
needs = ["plain", "daemon", "stubborn"]
"#,
        );
    }
    toml
}

fn run(blow: Blow) {
    let p = Project::new();
    p.bundle_file(&bundle(&p, matches!(blow, Blow::FailureDuringStart)));
    // Blown once it is up: a blow during the start is a failed start (exit code 4).
    let mut host = match blow {
        Blow::FailureDuringStart => quiet_up(&p),
        _ => teamster_up(&p, &[]).0,
    };
    let mains = [
        wait_for_pid(&p.file("plain.pid")),
        wait_for_pid(&p.file("daemon.pid")),
        wait_for_pid(&p.file("stubborn.pid")),
    ];
    let daemon_child = wait_for_pid(&p.file("daemon.child"));
    let supervisors: Vec<u32> = mains.iter().map(|&m| parent_of(m)).collect();
    match blow {
        Blow::Host(sig) => signal(host.id(), sig),
        Blow::Supervisors => {
            for s in &supervisors {
                signal(*s, Signal::SIGKILL);
            }
        }
        Blow::HostAndSupervisors => {
            signal(host.id(), Signal::SIGKILL);
            for s in &supervisors {
                signal(*s, Signal::SIGKILL);
            }
        }
        Blow::FailureDuringStart => {}
    }
    let code = wait_within(&mut host, Duration::from_secs(30));
    match blow {
        Blow::Host(Signal::SIGKILL) | Blow::HostAndSupervisors => assert_eq!(code, Some(137)),
        Blow::Host(_) => assert_eq!(code, Some(0), "{blow:?}"),
        Blow::Supervisors => assert_eq!(code, Some(5), "{blow:?}"),
        Blow::FailureDuringStart => assert_eq!(code, Some(4), "{blow:?}"),
    }
    if matches!(blow, Blow::HostAndSupervisors) {
        // No supervisor and no host is left to stop anything: the next command reaps.
        let status = Command::new(teamster_bin())
            .arg("status")
            .current_dir(p.path())
            .output()
            .unwrap();
        assert_eq!(status.status.code(), Some(6));
    }
    let cgroups = std::fs::read_to_string(p.path().join(".teamster/current/run.json"))
        .unwrap_or_default()
        .contains("\"cgroup\"");
    let mut must_go: Vec<u32> = mains.to_vec();
    must_go.extend(&supervisors);
    // A daemon that left its group is reachable through the supervisor (a subreaper) or,
    // once that is gone, only through a cgroup.
    let daemon_reachable = cgroups || matches!(blow, Blow::Host(_) | Blow::FailureDuringStart);
    if daemon_reachable {
        must_go.push(daemon_child);
    }
    for pid in &must_go {
        assert!(
            wait_for(Duration::from_secs(15), || !alive(*pid)),
            "{blow:?}: pid {pid} outlived the bundle (cgroups: {cgroups})"
        );
    }
    for group in mains {
        let left = members_of_group(group);
        assert!(
            left.is_empty(),
            "{blow:?}: process group {group} still has {left:?}"
        );
    }
    if !daemon_reachable {
        signal(daemon_child, Signal::SIGKILL);
    }
}

#[test]
fn sigint_of_the_host() {
    run(Blow::Host(Signal::SIGINT));
}

#[test]
fn sigterm_of_the_host() {
    run(Blow::Host(Signal::SIGTERM));
}

#[test]
fn sighup_of_the_host() {
    run(Blow::Host(Signal::SIGHUP));
}

#[test]
fn sigkill_of_the_host() {
    run(Blow::Host(Signal::SIGKILL));
}

#[test]
fn sigkill_of_every_supervisor() {
    run(Blow::Supervisors);
}

#[test]
fn sigkill_of_the_host_and_every_supervisor() {
    run(Blow::HostAndSupervisors);
}

#[test]
fn a_failure_during_start() {
    run(Blow::FailureDuringStart);
}
