use std::process::{Command, Output};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fixture::{
    Host, Project, alive, eventually, read_pid, teamster, teamster_bin, teamster_up,
};

const TWO_SERVICES: &str = r#"
[services.db]
command = "sh -c 'echo $$ > db.pid; echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = ["python3", "-c", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    open('grandchild.pid', 'w').write(str(os.getpid()))\n    time.sleep(600)\nopen('web.pid', 'w').write(str(os.getpid()))\nprint('up', flush=True)\ntime.sleep(600)"]
needs = ["db"]
ready = { log = "up" }
"#;

/// Starts `teamster up` and waits for its "all services ready" line.
fn up(p: &Project) -> Host {
    up_with(p, TWO_SERVICES)
}

fn up_with(p: &Project, bundle: &str) -> Host {
    p.bundle_file(bundle);
    teamster_up(p, &[]).0
}

/// Asserts that the run exited with `code`, showing its stderr if not.
#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The pids TWO_SERVICES writes: db, web and web's daemonized grandchild.
async fn service_pids(p: &Project) -> [u32; 3] {
    [
        read_pid(&p.file("db.pid")).await,
        read_pid(&p.file("web.pid")).await,
        read_pid(&p.file("grandchild.pid")).await,
    ]
}

/// SIGKILLs the host and waits until none of `pids` is alive.
async fn sigkill_and_expect_nothing_left(mut host: Host, pids: Vec<u32>) {
    kill(Pid::from_raw(host.id() as i32), Signal::SIGKILL).expect("kill host");
    host.wait().expect("reap host");
    assert!(
        eventually(Duration::from_secs(15), || pids.iter().all(|&p| !alive(p))).await,
        "left behind: {:?}",
        pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_host_leaves_no_process_behind() {
    let p = Project::new();
    let host = up(&p);
    let pids = service_pids(&p).await;
    assert!(pids.iter().all(|&p| alive(p)));
    // The host's whole tree: its spawner, the supervisors it forked and the services. The
    // supervisors notice the host is gone and stop their trees within the grace, and the
    // spawner leaves too.
    let tree = teamster::process::descendants(host.id());
    assert!(tree.len() >= pids.len() + 3, "{tree:?}");
    sigkill_and_expect_nothing_left(host, pids.into_iter().chain(tree).collect()).await;
}

/// `TEAMSTER_SPAWNER=0`: every supervisor is `teamster __supervise` exec'd by the host (the
/// fallback path), and a SIGKILLed host still leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_spawner_supervisors_are_execd_and_still_clean_up() {
    let p = Project::new();
    p.bundle_file(TWO_SERVICES);
    let (host, _) = teamster_up(&p, &[("TEAMSTER_SPAWNER", std::path::Path::new("0"))]);
    let pids = service_pids(&p).await;
    let tree = teamster::process::descendants(host.id());
    let cmdlines: Vec<String> = tree
        .iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    let supervisors = cmdlines
        .iter()
        .filter(|c| c.contains("__supervise"))
        .count();
    assert_eq!(supervisors, 2, "{cmdlines:?}");
    assert!(
        !cmdlines.iter().any(|c| c.contains("__spawner")),
        "{cmdlines:?}"
    );
    sigkill_and_expect_nothing_left(host, pids.into_iter().chain(tree).collect()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_everything() {
    let p = Project::new();
    let mut host = up(&p);
    let pids = service_pids(&p).await;
    kill(Pid::from_raw(host.id() as i32), Signal::SIGINT).expect("interrupt host");
    let status = host.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    // `up` returns only after every tree is gone.
    let left: Vec<u32> = pids.into_iter().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn check_reports_an_invalid_bundle_with_exit_code_3() {
    let p = Project::new();
    p.bundle_file("[services.web]\ncommand = \"true\"\nneeds = [\"db\"]\n");
    let out = teamster(&p, &["check", "bundle.toml"]);
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bundle.toml:3:"), "{stderr}");
    assert!(stderr.contains("db"), "{stderr}");
}

#[test]
fn check_accepts_a_valid_bundle() {
    let p = Project::new();
    p.bundle_file(TWO_SERVICES);
    assert_exit(&teamster(&p, &["check"]), 0);
}

#[test]
fn startup_failure_exits_with_code_4_and_crash_with_5() {
    let p = Project::new();
    p.bundle_file("[services.bad]\ncommand = \"sh -c 'exit 1'\"\nready = { log = \"never\" }\n");
    assert_exit(&teamster(&p, &["up", "-q"]), 4);

    p.bundle_file("[services.bad]\ncommand = \"sh -c 'echo up; sleep 0.3; exit 1'\"\nready = { log = \"up\" }\n");
    assert_exit(&teamster(&p, &["up", "-q"]), 5);
}

#[test]
fn usage_error_exits_with_code_2() {
    let out = Command::new(teamster_bin())
        .arg("--no-such-flag")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// `travel`, `now` and `exec` act on the bundle `teamster up` runs in the project, and a
/// sub-command sees the travelled clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn travel_now_and_exec_reach_the_running_bundle() {
    let p = Project::new();
    let mut host = up_with(
        &p,
        r#"
[services.app]
kind = "generic"
[services.app.config]
command = "echo up; exec sleep 600"
ready_line = "up"
subcommands = { epoch = "date +%s" }
"#,
    );
    let out = teamster(&p, &["travel", "+30d"]);
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Time travelling to "));
    let want = chrono::Utc::now().timestamp() + 30 * 86400;

    let out = teamster(&p, &["now"]);
    let now = chrono::DateTime::parse_from_rfc3339(String::from_utf8_lossy(&out.stdout).trim())
        .expect("rfc3339");
    assert!((now.timestamp() - want).abs() < 60, "{now}");

    let out = teamster(&p, &["exec", "app", "epoch"]);
    assert_exit(&out, 0);
    let epoch: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("epoch");
    assert!(
        (epoch - want).abs() < 60,
        "exec saw {epoch}, want about {want}"
    );

    let out = teamster(&p, &["exec", "app", "nope"]);
    // The running bundle refused the request: a usage error, as the README says.
    assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    kill(Pid::from_raw(host.id() as i32), Signal::SIGINT).expect("interrupt host");
    assert_eq!(host.wait().expect("wait").code(), Some(0));

    // With nothing running, the commands say so.
    assert_exit(&teamster(&p, &["now"]), 6);
}
