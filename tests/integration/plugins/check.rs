//! `teamster check` refuses what a start would refuse, with the position in the file and
//! exit code 3: kinds, configs and grants (asked of the real plugins, built in and
//! installed), and what only a start used to find. And `up` honours a bundle's `grants`.

use std::path::Path;
use std::process::{Command, Output};

use teamster_plugin_artifacts::testing::MISBEHAVE;

use crate::fixture::{Project, teamster_bin, teamster_up};

/// `teamster <args>` in the project, with its plugin registry and compile cache in `home`.
fn teamster(p: &Project, home: &Path, args: &[&str]) -> Output {
    Command::new(teamster_bin())
        .args(args)
        .current_dir(p.path())
        .env("TEAMSTER_HOME", home)
        .output()
        .expect("run teamster")
}

/// `teamster check` of `toml`: its exit code and what it printed on stderr.
fn check(p: &Project, home: &Path, toml: &str) -> (Option<i32>, String) {
    p.bundle_file(toml);
    let out = teamster(p, home, &["check", "bundle.toml"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    )
}

/// Installs the misbehaving test plugin into `home`, granting nothing.
fn install_misbehave(p: &Project, home: &Path) {
    let out = teamster(p, home, &["plugin", "install", MISBEHAVE.path]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn check_refuses_what_a_start_would_with_a_position() {
    let p = Project::new();
    let home = tempfile::tempdir().expect("tempdir");
    let cases = [
        "[services.db]\nkind = \"mysql\"\n",
        "[services.cache]\nkind = \"redis\"\n[services.cache.config]\nport = \"eighty\"\n",
        "[services.cache]\nkind = \"redis\"\nconfig = { port = 0 }\n",
        "[services.cache]\nkind = \"redis\"\nconfig = { args = \"--save 60\" }\n",
        "[services.db]\nkind = \"postgres\"\n[services.db.config]\nusers = [{ name = \"app\", pasword = \"x\" }]\n",
        "[services.db]\nkind = \"generic\"\nconfig = { ready_line = \"up\" }\n",
        "[services.db]\nkind = \"redis\"\ngrants = [\"redis-cli\", \"nonexistent\"]\n",
        "[services.web]\ncommand = \"srv\"\nready = { http = \"https://127.0.0.1:8443/\" }\n",
        "[services.web]\ncommand = \"srv\"\nenv = { A = \"x\\u0000y\" }\n",
        "startup_timeout = 0\n[services.web]\ncommand = \"srv\"\n",
        &format!("[services.{}]\ncommand = \"srv\"\n", "a".repeat(5000)),
    ];
    let mut report = String::new();
    for toml in cases {
        let (code, stderr) = check(&p, home.path(), toml);
        assert_eq!(code, Some(3), "{toml}: {stderr}");
        report.push_str(&stderr);
        report.push('\n');
    }
    insta::assert_snapshot!(report, @r#"
    error: bundle.toml:2:8: unknown kind `mysql` of service `db`; known kinds: `generic`, `postgres`, `redis`, `django`, `smtp-sink`, `chromedriver`, `celery`; install a plugin with `teamster plugin install <file.wasm>`
    error: bundle.toml:4:8: invalid config for service `cache` of kind `redis`: `port` must be a port number from 1 to 65535, or "auto" to let teamster pick one, not "eighty"
    error: bundle.toml:3:19: invalid config for service `cache` of kind `redis`: `port` must be a port number from 1 to 65535, or "auto" to let teamster pick one, not 0
    error: bundle.toml:3:19: invalid config for service `cache` of kind `redis`: `args` must be an array, not a string
    error: bundle.toml:4:26: invalid config for service `db` of kind `postgres`: unknown key `users[0].pasword` (known keys: name, password)
    error: bundle.toml:3:1: invalid config for service `db` of kind `generic`: missing required key `command`
    error: bundle.toml:3:24: `grants` of service `db` names `nonexistent`, which kind `redis` does not declare; it declares: `redis-server`, `redis-cli`
    error: bundle.toml:3:18: invalid readiness condition for service `web`: `https://127.0.0.1:8443/` is an `https://` URL, but `http` conditions speak plain http only; use an `http://` URL, or a `tcp` condition for a TLS port
    error: bundle.toml:3:13: env `A` of service `web` contains a NUL byte, which cannot be passed to a process
    error: bundle.toml:1:19: invalid `startup_timeout`: 0s leaves no time for any service to become ready; give a positive duration such as "15s"
    error: bundle.toml:1:11: service name `aaaaaaaaaaaaaaaaaaaaaaaa…` is 5000 characters long; names are at most 64 characters, since they name the service's files
    "#);

    // The same bundle as JSON, from stdin: the position is in the JSON.
    let json = "{\"services\": {\n  \"cache\": {\"kind\": \"redis\", \"config\": {\"port\": \"eighty\"}}\n}}\n";
    let mut child = Command::new(teamster_bin())
        .args(["check", "-"])
        .current_dir(p.path())
        .env("TEAMSTER_HOME", home.path())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run teamster check -");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), json.as_bytes())
        .expect("write the bundle");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(3));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr).trim_end(), @r#"error: <stdin>:2:30: invalid config for service `cache` of kind `redis`: `port` must be a port number from 1 to 65535, or "auto" to let teamster pick one, not "eighty""#);

    // A bundle the kinds accept passes.
    let (code, stderr) = check(
        &p,
        home.path(),
        "[services.cache]\nkind = \"redis\"\ngrants = [\"redis-cli\"]\nconfig = { port = 6390 }\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn check_asks_installed_kinds_too() {
    let p = Project::new();
    let home = tempfile::tempdir().expect("tempdir");
    install_misbehave(&p, home.path());
    let cases = [
        "[services.m]\nkind = \"misbehave\"\nconfig = { mode = \"wild\" }\n",
        "[services.m]\nkind = \"misbehave\"\ngrants = [\"rm\"]\nconfig = { mode = \"fine\" }\n",
        "[services.m]\nkind = \"misbehav\"\n",
    ];
    let mut report = String::new();
    for toml in cases {
        let (code, stderr) = check(&p, home.path(), toml);
        assert_eq!(code, Some(3), "{toml}: {stderr}");
        report.push_str(&stderr);
        report.push('\n');
    }
    insta::assert_snapshot!(report, @r#"
    error: bundle.toml:3:19: invalid config for service `m` of kind `misbehave`: `mode` must be one of "fine", "loop-ready", "loop-setup", "memory-bomb", "log-spam", "run", "run-slow", "read-outside", "panic", "ready-fail", "cache", "spin-ready", not "wild"
    error: bundle.toml:3:11: `grants` of service `m` names `rm`, which kind `misbehave` does not declare; it declares: `echo`, `sleep`
    error: bundle.toml:2:8: unknown kind `misbehav` of service `m` (did you mean `misbehave`?); known kinds: `generic`, `postgres`, `redis`, `django`, `smtp-sink`, `chromedriver`, `celery`, `misbehave`; install a plugin with `teamster plugin install <file.wasm>`
    "#);
}

/// A plugin installed without grants runs once the bundle grants what it starts: its main
/// program and readiness probe (`sleep`) and its helper (`echo`). Without them, the start
/// fails, naming the program and how to grant it; without `sleep`, before anything runs.
#[test]
fn up_honours_the_bundle_grants() {
    let p = Project::new();
    let home = tempfile::tempdir().expect("tempdir");
    install_misbehave(&p, home.path());
    let bundle = |grants: &str| {
        format!(
            "startup_timeout = \"10s\"\n[services.m]\nkind = \"misbehave\"\ngrants = {grants}\nconfig = {{ mode = \"run\", program = \"echo\", probe = [\"sleep\", \"0\"] }}\n"
        )
    };

    p.bundle_file(&bundle(r#"["sleep", "echo"]"#));
    let (mut host, printed) = teamster_up(&p, &[("TEAMSTER_HOME", home.path())]);
    assert!(
        printed.contains("[plugin] echo said hello from run"),
        "{printed}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(host.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt teamster");
    assert_eq!(host.wait().expect("wait").code(), Some(0));

    let mut report = String::new();
    for grants in [r#"["sleep"]"#, "[]"] {
        p.bundle_file(&bundle(grants));
        let out = teamster(&p, home.path(), &["up", "-q"]);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        report.push_str(&redact_seconds(stderr.lines().next().unwrap_or_default()));
        report.push('\n');
    }
    insta::assert_snapshot!(report, @r#"
    error: service `m` failed after <T>s: plugin `misbehave` failed in `setup`: plugin `misbehave` may not start `echo` (`run` asked for it): the program is declared but not granted; grant it with `teamster plugin install --grant echo` or with the service's `grants = ["echo"]` in the bundle
    error: cannot configure service `m`: plugin `misbehave` failed in `configure`: plugin `misbehave` may not start `sleep` (`configure` asked for it as the service's main program): the program is declared but not granted; grant it with `teamster plugin install --grant sleep` or with the service's `grants = ["sleep"]` in the bundle
    "#);
}

/// `after 0.01s` → `after <T>s`.
fn redact_seconds(line: &str) -> String {
    match line.split_once("failed after ") {
        Some((head, tail)) => match tail.split_once("s: ") {
            Some((_, rest)) => format!("{head}failed after <T>s: {rest}"),
            None => line.to_owned(),
        },
        None => line.to_owned(),
    }
}

/// Plugin code runs off the async runtime: a plugin that writes to its stderr from
/// `configure` (a panic message here) used to crash `up` with "Cannot start a runtime
/// from within a runtime" (exit 101), because the write blocked on the runtime's thread.
#[test]
fn a_plugin_writing_from_configure_fails_only_its_service() {
    let p = Project::new();
    let home = tempfile::tempdir().expect("tempdir");
    install_misbehave(&p, home.path());
    p.bundle_file("[services.m]\nkind = \"misbehave\"\nconfig = { mode = \"panic\" }\n");
    let out = teamster(&p, home.path(), &["up", "bundle.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("within a runtime"), "{stderr}");
    assert!(
        stderr.contains("misbehave") && stderr.contains("configure"),
        "{stderr}"
    );
}

/// A server that prints its fatal line and exits at once (a bad option, an app that does
/// not load): the start fails with the kind's verdict on that line, not with the bare exit,
/// although the exit reaches the host before the plugin has judged the line.
#[test]
fn a_fatal_last_line_fails_the_start_with_the_kinds_verdict() {
    let p = Project::new();
    let home = tempfile::tempdir().expect("tempdir");
    install_misbehave(&p, home.path());
    p.bundle_file(
        "[services.m]\nkind = \"misbehave\"\ngrants = [\"echo\"]\nconfig = { mode = \"ready-fail\", main = \"echo\", main_args = [\"fatal: unknown option --frobnicate\"] }\n",
    );
    // Five starts, the same answer each time: `echo` exits before the line is judged.
    let firsts: Vec<String> = (0..5)
        .map(|_| {
            let out = teamster(&p, home.path(), &["up", "-q"]);
            assert_eq!(out.status.code(), Some(4), "{out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            redact_seconds(stderr.lines().next().unwrap_or_default())
        })
        .collect();
    assert!(firsts.iter().all(|f| f == &firsts[0]), "{firsts:#?}");
    insta::assert_snapshot!(firsts[0], @"error: service `m` failed after <T>s: plugin `misbehave` failed in `ready-check`: the server gave up: fatal: unknown option --frobnicate");
}
