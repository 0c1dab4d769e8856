//! Everything teamster starts for a service runs as the service does: as its user, with
//! every signal at its default, whatever the host was started with.
//!
//! Each process under test writes its own uid and `/proc/<pid>/status` signal masks into
//! the service's data dir (which belongs to the service's user): a readiness probe command,
//! a plugin's `host.run` helper (the generic kind's `setup_command`), and a sub-command
//! (through `teamster exec` and through the Rust API).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fixture::{Project, eventually, teamster_bin};

/// A shell snippet that writes the signal masks and the uid of the shell itself (`$$`, the
/// process teamster started) to `<dir>/<name>.txt`. The masks are read with builtins only,
/// before the shell forks anything: dash blocks every signal while it forks and waits, so a
/// child reading the shell's status then would see that, not what the shell was started
/// with.
fn report(dir: &str, name: &str) -> String {
    format!(
        r#"exec > "{dir}/{name}.txt"; while read -r l; do case $l in Sig[IB]*) echo "$l";; esac; done < /proc/$$/status; echo Uid: $(id -u)"#
    )
}

/// A generic service running as `postgres`, whose probe, setup helper and `report`
/// sub-command each write a report.
fn bundle() -> String {
    let probe = report("$TEAMSTER_DATA_DIR", "probe");
    format!(
        r#"
[services.svc]
kind = "generic"
user = "postgres"
ready = {{ command = ["sh", "-c", {probe:?}] }}
[services.svc.config]
command = "exec sleep 600"
setup_command = {setup:?}
subcommands = {{ report = {sub:?} }}
"#,
        setup = report("{data_dir}", "setup"),
        sub = report("{data_dir}", "sub"),
    )
}

/// The `postgres` user's uid, when the test runs as root and that user exists.
fn postgres_uid() -> Option<u32> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("not root: `user =` only applies when the host runs as root; nothing to check");
        return None;
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Some(user.uid.as_raw()),
        _ => {
            eprintln!("no `postgres` user on this machine; nothing to check");
            None
        }
    }
}

/// A field of a report (or of a `/proc/<pid>/status`) as a number: hex for the masks.
fn field(text: &str, name: &str) -> u64 {
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim();
    if name == "Uid:" {
        value.parse().expect("a uid")
    } else {
        u64::from_str_radix(value, 16).expect("a hex mask")
    }
}

/// Reads the report `name` from `data` (waiting for it) and checks it: the service's user,
/// nothing ignored, nothing blocked.
async fn assert_report(data: &Path, name: &str, uid: u32) {
    let file = data.join(format!("{name}.txt"));
    let mut text = String::new();
    eventually(Duration::from_secs(10), || {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        text.contains("SigBlk") && text.contains("SigIgn")
    })
    .await;
    assert_eq!(field(&text, "Uid:"), u64::from(uid), "{name}:\n{text}");
    assert_eq!(
        field(&text, "SigIgn:"),
        0,
        "{name}: ignored signals\n{text}"
    );
    assert_eq!(
        field(&text, "SigBlk:"),
        0,
        "{name}: blocked signals\n{text}"
    );
}

/// Runs `teamster <args>` in `p` the way `nohup` or a script's `&` would: SIGQUIT and
/// SIGUSR2 ignored, SIGUSR1 blocked.
fn with_signals_ignored(p: &Project, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import os, signal, sys\n\
         signal.signal(signal.SIGQUIT, signal.SIG_IGN)\n\
         signal.signal(signal.SIGUSR2, signal.SIG_IGN)\n\
         signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n\
         os.execv(sys.argv[1], sys.argv[1:])",
        teamster_bin(),
    ])
    .args(args)
    .current_dir(p.path())
    .env("NO_COLOR", "1");
    cmd
}

/// A `teamster up` that is stopped (SIGTERM, then waited for) however the test ends.
struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
            let _ = self.0.wait();
        }
    }
}

/// A host started under ignored and blocked signals runs the probe, the plugin's helper
/// and `teamster exec`'s sub-command as the service's user with default signals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_helper_and_exec_run_as_the_service_user_with_default_signals() {
    let Some(uid) = postgres_uid() else { return };
    let p = Project::new();
    p.bundle_file(&bundle());
    let mut host = Host(
        with_signals_ignored(&p, &["up"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn teamster up"),
    );
    let mut out = BufReader::new(host.0.stdout.take().expect("stdout"));
    let mut seen = String::new();
    while !seen.contains("services ready") {
        if out.read_line(&mut seen).expect("read") == 0 {
            panic!("teamster up ended early; it printed:\n{seen}");
        }
    }
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    // The control: the host itself does ignore and block them.
    let status = std::fs::read_to_string(format!("/proc/{}/status", host.0.id())).expect("status");
    assert_ne!(
        field(&status, "SigIgn:") & (1 << (libc::SIGQUIT - 1)),
        0,
        "{status}"
    );
    assert_ne!(
        field(&status, "SigBlk:") & (1 << (libc::SIGUSR1 - 1)),
        0,
        "{status}"
    );

    let exec = with_signals_ignored(&p, &["exec", "svc", "report"])
        .output()
        .expect("teamster exec");
    assert!(
        exec.status.success(),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );

    let data = p.path().join(".teamster/current/data/svc");
    let data = if data.exists() {
        data
    } else {
        let runs = p.path().join(".teamster/runs");
        let run = std::fs::read_dir(&runs)
            .expect("runs")
            .filter_map(Result::ok)
            .next()
            .expect("a run");
        run.path().join("data/svc")
    };
    for name in ["probe", "setup", "sub"] {
        assert_report(&data, name, uid).await;
    }
    kill(Pid::from_raw(host.0.id() as i32), Signal::SIGTERM).expect("stop host");
    assert!(host.0.wait().expect("wait").success());
}

/// Through the Rust API, a sub-command runs as the service's user with default signals too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subcommand_from_the_rust_api_runs_as_the_service_user() {
    let Some(uid) = postgres_uid() else { return };
    let p = Project::new();
    let running = p.start(&bundle()).await;
    let out = running["svc"]
        .subcommand("report", Vec::<String>::new())
        .expect("build")
        .output()
        .await
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = running.run_dir().join("data/svc");
    for name in ["probe", "setup", "sub"] {
        assert_report(&data, name, uid).await;
    }
    running.stop().await;
}
