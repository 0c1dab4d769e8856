//! `host.run` on real processes: environment, stdin, timeouts that kill the whole group,
//! bounded output, and the per-call run budget.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use teamster_plugin_artifacts::testing::MISBEHAVE;

use super::{artifact_path, chain, context, run_env, test_host};
use crate::plugin::Limits;
use crate::plugin::run::{RunEnv, RunRequest, run};
use crate::service::hooks::ServiceHooks;

fn sh(script: &str) -> Vec<String> {
    vec!["-c".to_string(), script.to_string()]
}

fn request<'a>(
    args: &'a [String],
    stdin: Option<&'a str>,
    timeout: Duration,
    max_output: usize,
) -> RunRequest<'a> {
    RunRequest {
        program: Path::new("/bin/sh"),
        args,
        env: &[],
        cwd: None,
        stdin,
        timeout,
        max_output,
    }
}

#[test]
fn runs_in_the_service_environment_with_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let env = RunEnv {
        env: vec![
            ("PATH".into(), std::env::var("PATH").unwrap()),
            ("FROM_SERVICE".into(), "svc".into()),
        ],
        cwd: dir.path().to_path_buf(),
        user: None,
        extra_env: vec![("FROM_CLOCK".into(), "clock".into())],
        abort: Default::default(),
    };
    let args =
        sh("read line; echo \"$FROM_SERVICE $FROM_CLOCK $line\"; pwd; echo oops >&2; exit 7");
    let out = run(
        &env,
        &request(&args, Some("typed\n"), Duration::from_secs(10), 4096),
    )
    .unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(out.stdout, format!("svc clock typed\n{}\n", cwd.display()));
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.exit_code, Some(7));
}

#[test]
fn a_timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let args = sh(&format!(
        "sleep 30 & echo $! > {}; wait",
        pid_file.display()
    ));
    let started = Instant::now();
    let err = run(
        &run_env(dir.path()),
        &request(&args, None, Duration::from_millis(300), 4096),
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err, "`/bin/sh` did not finish within 300ms and was killed");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The grandchild was in the killed group: poll until it is gone (it may be a zombie of
    // init for a moment), with a deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    {
        assert!(
            Instant::now() < deadline,
            "grandchild {pid} survived the timeout"
        );
        std::thread::yield_now();
    }
}

#[test]
fn output_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let args = sh("head -c 100000 /dev/zero | tr '\\0' a");
    let out = run(
        &run_env(dir.path()),
        &request(&args, None, Duration::from_secs(10), 1000),
    )
    .unwrap();
    assert_eq!(out.stdout.len(), 1000 + "\n[output truncated]".len());
    assert!(out.stdout.ends_with("\n[output truncated]"));
    assert_eq!(out.exit_code, Some(0));
}

#[test]
fn the_run_budget_is_per_call() {
    let mut limits = Limits::default();
    limits.budgets.runs = 0;
    let (host, _home) = test_host(limits);
    host.install(&artifact_path(&MISBEHAVE), &["echo".to_string()])
        .unwrap();
    let plugin = host.resolve("misbehave").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svc = plugin
        .instantiate(
            context("svc", dir.path(), 1, json!({"mode": "run"})),
            run_env(dir.path()),
            &[],
        )
        .unwrap();
    insta::assert_snapshot!("run_budget", chain(&svc.setup().unwrap_err()));
}
