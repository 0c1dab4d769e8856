//! Nothing lost and nothing left, whatever happens to the host's console, its supervisors
//! or the host itself.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fixture::{
    Project, WatchedUp, alive, lines_of, log_file, parent_of, quiet_up, signal, teamster_bin,
    wait_for, wait_for_pid, wait_within,
};

mod binary;
mod corpus;
mod doc_examples;
mod orphans;

#[test]
fn a_console_that_never_reads_neither_blocks_logging_nor_stopping() {
    let p = Project::new();
    p.bundle_file(
        r#"
[services.chatty]
command = ["sh", "-c", "i=0; while :; do echo line-$i; i=$((i+1)); done"]
"#,
    );
    // stdout is a pipe nobody reads: it fills after 64 KiB.
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut host = Command::new(teamster_bin())
        .arg("up")
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let out = log_file(&p, "chatty", "out");
    // Logging goes on long past what the pipe holds (~2,200 lines).
    assert!(
        wait_for(Duration::from_secs(30), || lines_of(&out).len() > 20_000),
        "the log file stopped at {} lines",
        lines_of(&out).len()
    );
    signal(host.id(), Signal::SIGINT);
    assert_eq!(
        wait_within(&mut host, Duration::from_secs(20)),
        Some(0),
        "Ctrl-C stops the host although its console is blocked"
    );
    drop(reader);
    // The file has every line, in order, with no gap.
    let lines = lines_of(&out);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("line-{i}"), "line {i} of {}", lines.len());
    }
}

#[test]
fn every_line_shown_on_the_console_is_in_the_files_when_the_host_is_sigkilled() {
    let p = Project::new();
    p.bundle_file(
        r#"
[services.a]
command = ["sh", "-c", "for i in 1 2 3 4 5; do echo a-$i; done; echo 'a ready'; exec sleep 1000"]
ready = { log = "a ready" }
[services.b]
command = ["sh", "-c", "for i in 1 2 3 4 5; do echo b-$i >&2; done; echo 'b ready'; exec sleep 1000"]
ready = { log = "b ready" }
"#,
    );
    for _ in 0..3 {
        let mut host = Command::new(teamster_bin())
            .arg("up")
            .current_dir(p.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut out = BufReader::new(host.stdout.take().unwrap());
        let mut shown = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "ended early: {shown:?}"
            );
            let ready = line.contains("services ready");
            shown.push(line.trim_end().to_owned());
            if ready {
                break;
            }
        }
        signal(host.id(), Signal::SIGKILL);
        host.wait().unwrap();
        let mut stored = Vec::new();
        for (service, stream) in [
            ("a", "out"),
            ("b", "err"),
            ("b", "out"),
            ("teamster", "out"),
        ] {
            stored.extend(lines_of(&log_file(&p, service, stream)));
        }
        for line in &shown {
            let text = line.split_once("] ").map_or(line.as_str(), |(_, t)| t);
            assert!(
                stored.iter().any(|s| s == text),
                "shown but not stored: {line:?}; stored: {stored:?}"
            );
        }
    }
}

/// Runs `teamster up` on one service whose shell writes its pid, then runs `script`
/// (`sh` text after the ready line); returns the host and that pid.
fn up_with_pid_service(p: &Project, script: &str) -> (crate::fixture::Host, u32) {
    up_with_pid_service_and(p, "", script, "")
}

/// [`up_with_pid_service`] with shell text run before the pid is written (`trap …`) and
/// more keys for the service's table.
fn up_with_pid_service_and(
    p: &Project,
    before: &str,
    script: &str,
    keys: &str,
) -> (crate::fixture::Host, u32) {
    let pidfile = p.file("svc.pid");
    p.bundle_file(&format!(
        r#"
[services.svc]
command = ["sh", "-c", "{before}echo $$ > {}; echo up; {script}"]
ready = {{ log = "up" }}
{keys}
"#,
        pidfile.display()
    ));
    let (host, _) = crate::fixture::teamster_up(p, &[]);
    (host, wait_for_pid(&pidfile))
}

#[test]
fn sighup_stops_the_bundle_in_order() {
    let p = Project::new();
    let (mut host, pid) = up_with_pid_service(&p, "exec sleep 1000");
    signal(host.id(), Signal::SIGHUP);
    assert_eq!(wait_within(&mut host, Duration::from_secs(20)), Some(0));
    assert!(!alive(pid));
}

#[test]
fn a_supervisor_killed_by_its_service_leaves_no_tree() {
    let p = Project::new();
    let (mut host, pid) = up_with_pid_service(&p, "sleep 0.3; kill -9 $PPID; exec sleep 1005");
    assert_eq!(wait_within(&mut host, Duration::from_secs(20)), Some(5));
    assert!(
        wait_for(Duration::from_secs(10), || !alive(pid)),
        "`sleep 1005` outlived its killed supervisor"
    );
}

#[test]
fn a_closed_or_full_stdout_is_an_exit_code_not_a_panic() {
    let p = Project::new();
    p.bundle_file("[services.a]\ncommand = \"true\"\n");
    // stdout closed before teamster writes.
    let mut child = Command::new(teamster_bin())
        .args(["check", "bundle.toml"])
        .current_dir(p.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(status.code(), Some(101), "{stderr}");
    // stderr full while reporting an error: the documented code.
    p.bundle_file("[services.a]\ncomand = \"true\"\n");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = Command::new(teamster_bin())
        .args(["check", "bundle.toml"])
        .current_dir(p.path())
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    // status with stdout full (and no running bundle).
    p.bundle_file("[services.a]\ncommand = \"true\"\n");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = Command::new(teamster_bin())
        .args(["status"])
        .current_dir(p.path())
        .stdout(full)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(6));
}

#[test]
fn a_later_command_reaps_what_a_sigkilled_host_and_supervisors_left() {
    let p = Project::new();
    let (a, d, b) = (p.file("a.pid"), p.file("daemon.pid"), p.file("b.pid"));
    p.bundle_file(&format!(
        r#"
[services.a]
command = ["sh", "-c", "echo $$ > {a}; setsid sh -c 'echo $$ > {d}; exec sleep 1000' & echo up; exec sleep 1000"]
ready = {{ log = "up" }}
[services.b]
command = ["sh", "-c", "echo $$ > {b}; exec sleep 1000"]
"#,
        a = a.display(),
        d = d.display(),
        b = b.display()
    ));
    let (mut host, _) = crate::fixture::teamster_up(&p, &[]);
    let services = [wait_for_pid(&a), wait_for_pid(&d), wait_for_pid(&b)];
    let supervisors: Vec<u32> = [services[0], services[2]]
        .iter()
        .map(|&s| parent_of(s))
        .collect();
    let spawner = parent_of(supervisors[0]);
    // Host, spawner and every supervisor at once. One that is gone already (the spawner
    // and supervisors follow a dead host on their own) is what the test wants anyway.
    for pid in [host.id(), spawner].iter().chain(&supervisors) {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => panic!("kill {pid}: {e}"),
        }
    }
    host.wait().unwrap();
    // The run counts as dead once nothing holds its lock: the killed processes release
    // what they inherited when the kernel has finished them, a moment after the signal.
    for pid in std::iter::once(&spawner).chain(&supervisors) {
        assert!(
            wait_for(Duration::from_secs(10), || !alive(*pid)),
            "pid {pid} outlived its SIGKILL"
        );
    }
    let cgroups = std::fs::read_to_string(p.path().join(".teamster/current/run.json"))
        .unwrap()
        .contains("\"cgroup\"");
    let out = Command::new(teamster_bin())
        .arg("status")
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("left by run"), "{stderr}");
    let must_go: &[u32] = if cgroups {
        // A cgroup holds the daemon that left its process group too.
        &services
    } else {
        // Without cgroups only the process groups are known.
        &[services[0], services[2]]
    };
    for pid in must_go {
        assert!(
            wait_for(Duration::from_secs(10), || !alive(*pid)),
            "pid {pid} survived the reaper (cgroups: {cgroups}); {stderr}"
        );
    }
    if !cgroups {
        let _ = kill(Pid::from_raw(services[1] as i32), Signal::SIGKILL);
    }
    // A second command finds nothing more to reap.
    let again = Command::new(teamster_bin())
        .arg("status")
        .current_dir(p.path())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&again.stderr).contains("left by run"));
}

#[test]
fn an_interrupted_start_returns_only_once_every_tree_is_gone() {
    let p = Project::new();
    let pidfile = p.file("stubborn.pid");
    p.bundle_file(&format!(
        r#"
[services.stubborn]
command = ["sh", "-c", "trap '' TERM; echo $$ > {}; echo up; exec sleep 1000"]
ready = {{ log = "up" }}
shutdown_timeout = "1s"

[services.never]
command = ["sleep", "1000"]
ready = {{ log = "this line never comes" }}
needs = ["stubborn"]
"#,
        pidfile.display()
    ));
    let mut host = quiet_up(&p);
    let pid = wait_for_pid(&pidfile);
    signal(host.id(), Signal::SIGINT);
    assert_eq!(wait_within(&mut host, Duration::from_secs(20)), Some(0));
    assert!(
        !alive(pid),
        "`up` returned while a service that ignores SIGTERM still ran"
    );
}

#[test]
fn a_missing_project_dir_is_refused_not_created() {
    let p = Project::new();
    p.bundle_file("project_dir = \"nowhere\"\n[services.a]\ncommand = \"true\"\n");
    let out = Command::new(teamster_bin())
        .arg("up")
        .current_dir(p.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nowhere") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!p.path().join("nowhere").exists());
}

/// The README's promises about `teamster up` that no other test checked.
mod promises {
    use super::*;

    /// The bundle of one service that ignores SIGINT and SIGTERM for its `grace`.
    fn stubborn(p: &Project, grace: &str) -> std::path::PathBuf {
        let pidfile = p.file("svc.pid");
        p.bundle_file(&format!(
            r#"
[services.svc]
command = ["sh", "-c", "trap '' INT TERM; echo $$ > {}; echo up; exec sleep 1000"]
ready = {{ log = "up" }}
shutdown_timeout = "{grace}"
"#,
            pidfile.display()
        ));
        pidfile
    }

    #[test]
    fn a_second_ctrl_c_kills_a_service_that_ignores_the_first() {
        let p = Project::new();
        let pidfile = stubborn(&p, "60s");
        let mut up = WatchedUp::start(&p);
        let pid = wait_for_pid(&pidfile);
        signal(up.host.id(), Signal::SIGINT);
        // The first asks, and the service ignores it for its 60 s grace...
        up.wait_line("Ctrl-C again to kill");
        assert_eq!(up.host.try_wait().unwrap(), None);
        assert!(alive(pid));
        // ...the second kills every tree.
        signal(up.host.id(), Signal::SIGINT);
        assert_eq!(wait_within(&mut up.host, Duration::from_secs(20)), Some(0));
        assert!(!alive(pid));
    }

    #[test]
    fn a_third_ctrl_c_exits_130_at_once_and_the_supervisors_still_clean_up() {
        let p = Project::new();
        // A short grace: the supervisor may get the host's kill or only its end, and then
        // stops the service itself, with this grace.
        let pidfile = stubborn(&p, "1s");
        let mut up = WatchedUp::start(&p);
        let pid = wait_for_pid(&pidfile);
        // A stopped supervisor neither stops nor kills its service: the host waits on it.
        let supervisor = parent_of(pid);
        signal(supervisor, Signal::SIGSTOP);
        signal(up.host.id(), Signal::SIGINT);
        up.wait_line("Ctrl-C again to kill");
        signal(up.host.id(), Signal::SIGINT);
        up.wait_line("Ctrl-C again to exit at once");
        assert_eq!(
            up.host.try_wait().unwrap(),
            None,
            "the host waits for the kill"
        );
        signal(up.host.id(), Signal::SIGINT);
        assert_eq!(
            wait_within(&mut up.host, Duration::from_secs(20)),
            Some(130)
        );
        // The host is gone; the supervisor, once it runs again, stops its tree by itself.
        signal(supervisor, Signal::SIGCONT);
        assert!(
            wait_for(Duration::from_secs(20), || !alive(pid)
                && !alive(supervisor)),
            "the service or its supervisor outlived the host"
        );
    }

    #[test]
    fn an_internal_error_exits_1() {
        let p = Project::new();
        // The run directory's place is taken by a file: the host cannot take its lock.
        std::fs::write(p.file("blocker"), "").unwrap();
        p.bundle_file("run_dir = \"blocker\"\n[services.a]\ncommand = \"true\"\n");
        let out = crate::fixture::teamster(&p, &["up"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    #[test]
    fn a_plugin_command_that_fails_exits_7() {
        let p = Project::new();
        let home = p.file("home");
        let run = |args: &[&str]| {
            Command::new(teamster_bin())
                .args(args)
                .current_dir(p.path())
                .env("TEAMSTER_HOME", &home)
                .output()
                .unwrap()
        };
        // Not a component.
        std::fs::write(p.file("junk.wasm"), "not wasm").unwrap();
        let out = run(&["plugin", "install", "junk.wasm"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        // An unknown plugin.
        for args in [
            &["plugin", "remove", "nope"][..],
            &["plugin", "inspect", "nope"],
        ] {
            let out = run(args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(7), "{args:?}: {stderr}");
            assert!(stderr.contains("nope"), "{args:?}: {stderr}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pruning_old_runs_never_removes_a_live_one() {
        let p = Project::new();
        let toml = "keep_runs = 1\n[services.a]\ncommand = [\"sh\", \"-c\", \"echo up; exec sleep 1000\"]\nready = { log = \"up\" }\n";
        // A live host in another process...
        p.bundle_file(toml);
        let (mut host, _) = crate::fixture::teamster_up(&p, &[]);
        let cli_run = std::fs::canonicalize(p.path().join(".teamster/current")).unwrap();
        // ...and two live runs in this one, each start pruning down to one old run.
        let first = p.start(toml).await;
        let second = p.start(toml).await;
        for live in [&cli_run, first.run_dir(), second.run_dir()] {
            assert!(
                live.join("run.json").is_file(),
                "the live run {} was pruned",
                live.display()
            );
        }
        second.stop().await;
        first.stop().await;
        signal(host.id(), Signal::SIGINT);
        assert_eq!(wait_within(&mut host, Duration::from_secs(20)), Some(0));
        // Once ended, old runs go: only the newest is kept.
        let last = p.start(toml).await;
        let runs: Vec<_> = std::fs::read_dir(p.path().join(".teamster/runs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(runs, vec![last.run_dir().to_owned()]);
        last.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fixed_port_is_reserved_for_the_bundle_and_released_after() {
        let p = Project::new();
        // A port that is free now (released at once, so that the bundle may reserve it).
        let port = teamster::ports::PortAllocator::new()
            .unwrap()
            .allocate()
            .unwrap()
            .port();
        let toml = format!("[services.mail]\nkind = \"smtp-sink\"\nconfig = {{ port = {port} }}\n");
        let running = p.start(&toml).await;
        assert_eq!(running["mail"].ports()[0].1, port);
        // No other lease of it is handed out while the bundle runs: it is held, not only bound.
        let other = teamster::ports::PortAllocator::new().unwrap();
        match other.reserve(port) {
            Err(teamster::ports::PortError::Reserved { port: held, .. }) => assert_eq!(held, port),
            other => panic!("port {port} could be leased again: {other:?}"),
        }
        // A second bundle that wants it is refused, naming the port.
        let q = Project::new();
        let err = q
            .bundle(&toml)
            .start()
            .await
            .expect_err("the port is taken");
        let message = teamster::error_chain(&err);
        assert!(message.contains(&port.to_string()), "{message}");
        running.stop().await;
        let _released = other
            .reserve(port)
            .expect("the port is released once the bundle stops");
    }

    #[test]
    fn travel_to_an_instant_from_the_cli() {
        let p = Project::new();
        p.bundle_file("[services.a]\ncommand = [\"sh\", \"-c\", \"echo up; exec sleep 1000\"]\nready = { log = \"up\" }\n");
        let (mut host, _) = crate::fixture::teamster_up(&p, &[]);
        let out = Command::new(teamster_bin())
            .args(["travel", "--to", "2031-05-04T12:00:00+02:00"])
            .current_dir(p.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let now = Command::new(teamster_bin())
            .arg("now")
            .current_dir(p.path())
            .output()
            .unwrap();
        let now = String::from_utf8_lossy(&now.stdout);
        let at = chrono::DateTime::parse_from_rfc3339(now.trim()).expect("RFC 3339");
        let target = chrono::DateTime::parse_from_rfc3339("2031-05-04T10:00:00Z").unwrap();
        assert!((at - target).num_seconds().abs() < 60, "{now}");
        signal(host.id(), Signal::SIGINT);
        assert_eq!(wait_within(&mut host, Duration::from_secs(20)), Some(0));
    }

    #[test]
    fn inherit_env_false_starts_a_service_with_only_its_own_variables() {
        let p = Project::new();
        let out_file = p.file("env.txt");
        p.bundle_file(&format!(
            r#"
[services.a]
command = ["/bin/sh", "-c", "env > {}; echo up; exec /bin/sleep 1000"]
inherit_env = false
env = {{ ONLY_MINE = "yes" }}
ready = {{ log = "up" }}
"#,
            out_file.display()
        ));
        let mut host = Command::new(teamster_bin())
            .arg("up")
            .current_dir(p.path())
            .env("SHOULD_NOT_LEAK", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(wait_for(Duration::from_secs(20), || {
            std::fs::read_to_string(&out_file).is_ok_and(|s| s.contains("ONLY_MINE"))
        }));
        let env = std::fs::read_to_string(&out_file).unwrap();
        assert!(env.contains("ONLY_MINE=yes"), "{env}");
        assert!(!env.contains("SHOULD_NOT_LEAK"), "{env}");
        assert!(env.contains("TEAMSTER_SERVICE=a"), "{env}");
        signal(host.id(), Signal::SIGINT);
        assert_eq!(wait_within(&mut host, Duration::from_secs(20)), Some(0));
    }
}

/// An empty run cgroup that a dead host left (its host and supervisors SIGKILLed, its
/// project gone, so no reaper of that project will look) is removed by the next start on
/// the machine; the groups of living hosts are not touched. Skipped where the host makes
/// no cgroups (not root, or no writable cgroup2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_start_removes_empty_cgroups_that_dead_hosts_left() {
    let p = Project::new();
    let bundle = "[services.s]\ncommand = \"sleep 600\"\n";
    let first = p.start(bundle).await;
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(first.run_dir().join("run.json")).expect("run.json"),
    )
    .expect("json");
    let Some(group) = info["cgroup"].as_str().map(std::path::PathBuf::from) else {
        eprintln!("no cgroups here; nothing to check");
        first.stop().await;
        return;
    };
    let base = group.parent().expect("the host's cgroup").to_path_buf();
    // A dead host: a child that has exited and been reaped.
    let mut child = Command::new("true").spawn().expect("true");
    let dead = child.id();
    child.wait().expect("wait");
    let left = base.join(format!("teamster-{dead}-7"));
    std::fs::create_dir(&left).expect("a dead host's run group");
    std::fs::create_dir(left.join("db")).expect("and its service's");
    let other = Project::new();
    let second = other.start(bundle).await;
    assert!(!left.exists(), "{} was left", left.display());
    assert!(
        group.exists(),
        "the living first bundle's group was removed"
    );
    second.stop().await;
    first.stop().await;
}
