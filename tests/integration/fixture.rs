//! Shared test helpers: private project dirs, free ports, deadlines instead of sleeps,
//! processes and their trees, and running the `teamster` binary. Every test module takes
//! these from here rather than keeping its own copy.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use teamster::{Bundle, BundleSpec};

/// A private project directory, removed on drop. World-readable so that services running
/// as another user (`user = "nobody"`) can enter it.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("teamster-test-")
            .tempdir()
            .expect("tempdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bundle.toml` and returns its path.
    pub fn bundle_file(&self, toml: &str) -> PathBuf {
        let p = self.path().join("bundle.toml");
        std::fs::write(&p, toml).expect("write bundle");
        p
    }

    /// Writes `bundle.toml` and loads it.
    pub fn bundle(&self, toml: &str) -> Bundle {
        let p = self.bundle_file(toml);
        match BundleSpec::load(&p) {
            Ok(spec) => Bundle::new(spec),
            Err(e) => panic!("bundle does not load: {}", teamster::error_chain(&e)),
        }
    }

    /// Writes `bundle.toml`, loads it and starts it; a failed start panics with the whole
    /// error chain.
    pub async fn start(&self, toml: &str) -> teamster::Running {
        self.bundle(toml)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

/// A port nobody listens on, leased for the test binary's life: no other test (or
/// bundle) on the machine is given it meanwhile.
pub fn free_port() -> u16 {
    teamster::ports::hold_free_port().expect("a free port")
}

/// Polls `cond` until it holds or `limit` passes (for tests without a runtime).
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Polls `cond` until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The pid a service wrote into `path` (`echo $$ > file` or one `write`), if it is there.
fn pid_in(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Whether `pid` is gone (or a zombie) within `limit`.
pub fn gone_within(pid: u32, limit: Duration) -> bool {
    wait_for(limit, || !alive(pid))
}

/// Reads a pid written by a service into a file (`echo $$ > file`), waiting for it.
pub async fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    eventually(Duration::from_secs(20), || {
        pid = pid_in(path);
        pid.is_some()
    })
    .await;
    pid.unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

/// [`read_pid`] for tests without a runtime.
pub fn wait_for_pid(path: &Path) -> u32 {
    let mut pid = None;
    wait_for(Duration::from_secs(20), || {
        pid = pid_in(path);
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

/// Sends `sig` to `pid`, which must exist.
pub fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).expect("kill");
}

/// Waits (bounded) for `child` to exit: its exit code (128 + the signal if a signal ended
/// it), or `None` if it still runs.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let mut code = None;
    wait_for(limit, || {
        if let Some(status) = child.try_wait().expect("try_wait") {
            use std::os::unix::process::ExitStatusExt as _;
            code = Some(
                status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            );
        }
        code.is_some()
    });
    code
}

/// The parent pid of `pid`.
pub fn parent_of(pid: u32) -> u32 {
    stat_fields(pid)
        .and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
        .unwrap_or_else(|| panic!("no parent for pid {pid}"))
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid, pgrp, …
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// `pid` and all its descendants, from `/proc/<pid>/task/*/children`. Sessions and process
/// groups do not do for this: every PostgreSQL backend calls `setsid`.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", found[i]))
            .into_iter()
            .flatten()
            .flatten();
        for task in tasks {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            found.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    found
}

/// Every process of every service of `running`, taken now: each main process and all its
/// descendants (for [`assert_all_gone`] after the stop).
pub fn service_trees(running: &teamster::Running) -> Vec<u32> {
    running
        .services()
        .iter()
        .map(|s| s.pid().expect("a running service has a pid"))
        .flat_map(tree)
        .collect()
}

/// Fails, naming those left behind, unless every one of `pids` is gone. `stop` has waited
/// for every service; this polls (up to 5 s) only because a reaped child's /proc entry may
/// take a moment to go.
pub async fn assert_all_gone(pids: &[u32]) {
    let left = || {
        pids.iter()
            .copied()
            .filter(|pid| alive(*pid))
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(5), || left().is_empty()).await,
        "left behind: {:?}",
        left()
    );
}

/// Every live (not zombie) process whose process group is `group`.
pub fn members_of_group(group: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        if fields.first().map(String::as_str) != Some("Z")
            && fields.get(2).and_then(|g| g.parse().ok()) == Some(group)
        {
            found.push(pid);
        }
    }
    found
}

/// The `user = "postgres"` line a Postgres service needs when the tests run as root
/// (initdb refuses root); empty otherwise.
pub fn postgres_user_line() -> &'static str {
    if nix::unistd::Uid::effective().is_root() {
        "user = \"postgres\"\n"
    } else {
        ""
    }
}

/// The lines of a file; none if it does not exist.
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The current run's log file of `service` (`stream` is `out` or `err`).
pub fn log_file(p: &Project, service: &str, stream: &str) -> PathBuf {
    p.path()
        .join(".teamster/current/logs")
        .join(format!("{service}.{stream}"))
}

/// The teamster binary under test.
pub fn teamster_bin() -> &'static str {
    env!("CARGO_BIN_EXE_teamster")
}

/// Runs `teamster <args>` in the project to completion, stdin closed.
pub fn teamster(p: &Project, args: &[&str]) -> Output {
    teamster_in(p.path(), args, None)
}

/// Runs `teamster <args>` in `dir` to completion, with `stdin` as its input (or none).
pub fn teamster_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(teamster_bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn teamster");
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait teamster")
}

/// A `teamster up` child that is SIGKILLed when dropped, so that a test that fails
/// half-way leaves no host behind (its supervisors then stop their trees). Use it as the
/// [`Child`] it holds.
pub struct Host(Child);

impl std::ops::Deref for Host {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Host {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `teamster up` in the project, its output thrown away; returns at once.
pub fn quiet_up(p: &Project) -> Host {
    Host(
        Command::new(teamster_bin())
            .arg("up")
            .current_dir(p.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn teamster up"),
    )
}

/// Starts `teamster up` in the project (on its `bundle.toml`), with `env` added to its
/// environment, and returns once it prints its "services ready" line, with everything it
/// printed up to that line. Its stdout is drained from then on, so it never blocks on it.
pub fn teamster_up(p: &Project, env: &[(&str, &Path)]) -> (Host, String) {
    let mut child = Command::new(teamster_bin())
        .arg("up")
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Host)
        .expect("spawn teamster");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let start = seen.len();
        if out.read_line(&mut seen).expect("read") == 0 {
            panic!("teamster up ended early; it printed:\n{seen}");
        }
        if seen[start..].contains("services ready") {
            break;
        }
    }
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    (child, seen)
}

/// A `teamster up` whose console is watched: every line it prints after its "services
/// ready" line, from stdout and stderr, arrives on `lines`.
pub struct WatchedUp {
    pub host: Host,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl WatchedUp {
    /// Starts `teamster up` in the project and returns once it says its services are
    /// ready.
    pub fn start(p: &Project) -> WatchedUp {
        let mut host = Command::new(teamster_bin())
            .arg("up")
            .current_dir(p.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Host)
            .expect("spawn teamster");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = host.stdout.take().expect("stdout");
        let stderr = host.stderr.take().expect("stderr");
        for pipe in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut up = WatchedUp { host, lines };
        up.wait_line("services ready");
        up
    }

    /// Waits (bounded) for a line containing `needle`; panics with what came if none.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let end = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!(
            "`teamster up` never printed {needle:?}; it printed:\n{}",
            seen.join("\n")
        );
    }
}
