use std::time::{Duration, Instant};

use teamster::Event;
use teamster::service::ExitStatus;
use tokio_stream::StreamExt as _;

use crate::fixture::{Project, alive, eventually, read_pid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_sigterm_gets_sigkill_after_the_grace() {
    let p = Project::new();
    let r = p
        .bundle(
            r#"
[services.stubborn]
command = "sh -c 'trap \"\" TERM; echo $$ > pid; echo up; exec sleep 100000'"
ready = { log = "up" }
shutdown_timeout = "400ms"
"#,
        )
        .start()
        .await
        .expect("start");
    let pid = r["stubborn"].pid().expect("pid");
    let mut events = r.events();
    let t = Instant::now();
    r.stop().await;
    let took = t.elapsed();
    assert!(!alive(pid));
    assert!(
        took >= Duration::from_millis(400),
        "killed before the grace: {took:?}"
    );
    // What ended it is the SIGKILL, not the grace (`sleep` would outlive any test).
    let mut ended = None;
    while let Some(event) = events.next().await {
        if let Event::Exited { status, .. } = event {
            ended = Some(status);
            break;
        }
    }
    assert_eq!(ended, Some(ExitStatus::Signal(9)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_uses_the_stop_signal() {
    let p = Project::new();
    let r = p
        .bundle(
            r#"
[services.s]
command = "sh -c 'trap \"echo got INT; exit 0\" INT; echo up; while true; do sleep 0.05; done'"
ready = { log = "up" }
stop_signal = "SIGINT"
"#,
        )
        .start()
        .await
        .expect("start");
    let logs = r["s"].logs();
    r.stop().await;
    let lines = logs.lines().expect("lines");
    assert!(lines.iter().any(|l| l.text == "got INT"), "{lines:?}");
}

/// Signals ignored by whoever started the host (`nohup`, a script's `&` job, some CI
/// runners) must not reach the services: the test above, rerun in a copy of this test
/// binary that ignores SIGINT and SIGQUIT, still sees its service trap SIGINT.
#[test]
fn a_host_started_with_sigint_ignored_still_stops_services_with_sigint() {
    use std::os::unix::process::CommandExt;

    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "host_core::stopping::graceful_stop_uses_the_stop_signal",
        "--test-threads",
        "1",
    ]);
    // SAFETY: `signal` between fork and exec, in the child only.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A service that double-forks a daemon which leaves its process group and session: the
/// supervisor, a subreaper, still finds and kills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonized_grandchild_is_killed() {
    let p = Project::new();
    let script = r#"
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open('daemon.pid', 'w').write(str(os.getpid()))
        time.sleep(600)
    os._exit(0)
print('spawned daemon', flush=True)
time.sleep(600)
"#;
    std::fs::write(p.file("daemon.py"), script).expect("write");
    let r = p
        .bundle(
            "[services.d]\ncommand = \"python3 daemon.py\"\nready = { log = \"spawned daemon\" }\n",
        )
        .start()
        .await
        .expect("start");
    let daemon = read_pid(&p.file("daemon.pid")).await;
    assert!(alive(daemon));
    r.stop().await;
    assert!(
        eventually(Duration::from_secs(5), || !alive(daemon)).await,
        "daemon {daemon} survived"
    );
}

/// 64 MiB on stdout before the ready line: the host drains while waiting, so the child
/// never blocks on a full pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_of_output_never_blocks() {
    let p = Project::new();
    let r = p
        .bundle(
            r#"
startup_timeout = "60s"
[services.loud]
command = ["python3", "-c", "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(65536): sys.stdout.write(line)\nsys.stdout.flush()\nprint('done', file=sys.stderr, flush=True)\nimport time; time.sleep(600)"]
ready = { log = { contains = "done", stream = "stderr" } }
"#,
        )
        .start()
        .await
        .expect("start");
    let out = r.run_dir().join("logs/loud.out");
    r.stop().await;
    assert_eq!(
        std::fs::metadata(out).expect("log file").len(),
        64 * 1024 * 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_as_the_configured_user_when_root() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("not root: `user =` only applies when the host runs as root; nothing to check");
        return;
    }
    let p = Project::new();
    let r = p
        .bundle("[services.u]\ncommand = \"sh -c 'echo uid=$(id -u) home=$HOME; exec sleep 600'\"\nuser = \"nobody\"\nready = { log = \"uid=\" }\n")
        .start()
        .await
        .expect("start");
    let line = r["u"]
        .logs()
        .tail(1)
        .expect("tail")
        .pop()
        .expect("a line")
        .text;
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("nobody exists");
    assert_eq!(
        line,
        format!("uid={} home={}", nobody.uid, nobody.dir.display())
    );
    // The data dir belongs to the user too.
    let data = r.run_dir().join("data/u");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(data).expect("data dir").uid(),
        nobody.uid.as_raw()
    );
    r.stop().await;
}
