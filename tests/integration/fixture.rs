//! Shared test helpers: private project dirs, free ports, deadlines instead of sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Reads a pid written by a service into a file, waiting for it to appear.
pub async fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    eventually(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    pid.unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

/// The teamster binary under test.
pub fn teamster_bin() -> &'static str {
    env!("CARGO_BIN_EXE_teamster")
}

/// Starts `teamster up` in the project (on its `bundle.toml`), with `env` added to its
/// environment, and returns once it prints its "services ready" line, with everything it
/// printed up to that line. Its stdout is drained from then on, so it never blocks on it.
pub fn teamster_up(p: &Project, env: &[(&str, &Path)]) -> (Child, String) {
    let mut child = Command::new(teamster_bin())
        .arg("up")
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
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
