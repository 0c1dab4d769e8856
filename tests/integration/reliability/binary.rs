//! The library finds the `teamster` binary as the README says: through `TEAMSTER_BIN`,
//! next to the test executable, or on `PATH`, in that order. Each case runs this test
//! binary again (one ignored test, by name) with the case's environment, so that no test
//! changes the environment of this process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Set for the child: the directory the helper works in.
const HELPER_DIR: &str = "TEAMSTER_TEST_BINARY_HELPER";

#[test]
#[ignore = "run in a child process by the binary-finding tests"]
fn binary_helper_starts_and_stops_a_bundle() {
    let Some(dir) = std::env::var_os(HELPER_DIR) else {
        return;
    };
    let path = Path::new(&dir).join("bundle.toml");
    std::fs::write(
        &path,
        "[services.a]\ncommand = [\"sh\", \"-c\", \"echo up; exec sleep 1000\"]\nready = { log = \"up\" }\nfaketime = false\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = teamster::Bundle::load(&path)
            .unwrap()
            .start()
            .await
            .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
        running.stop().await;
    });
}

/// A place for one case: a project directory and a `teamster` wrapper that notes each
/// time it is run before it execs the real binary.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::Builder::new()
            .prefix("binary-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let wrappers = dir.path().join("wrappers");
        std::fs::create_dir(&wrappers).unwrap();
        let wrapper = wrappers.join("teamster");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$1\" >> {}\nexec {} \"$@\"\n",
                dir.path().join("used").display(),
                crate::fixture::teamster_bin()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Case { dir }
    }

    fn wrapper(&self) -> PathBuf {
        self.dir.path().join("wrappers/teamster")
    }

    /// `PATH` with the wrapper's directory first, and no other `teamster` on it.
    fn path_with_wrapper(&self) -> String {
        format!(
            "{}:/usr/bin:/bin",
            self.dir.path().join("wrappers").display()
        )
    }

    /// This test binary, linked into a directory with no `teamster` next to it or above.
    fn lonely_test_binary(&self) -> PathBuf {
        use std::os::unix::fs::MetadataExt as _;
        let exe = std::env::current_exe().unwrap();
        let alone = self.dir.path().join("alone");
        std::fs::create_dir(&alone).unwrap();
        let linked = alone.join("integration");
        // The file at `exe` is this binary unless a build replaced it meanwhile; then only
        // /proc/self/exe still is.
        let same = |a: &Path, b: &Path| matches!((std::fs::metadata(a), std::fs::metadata(b)), (Ok(a), Ok(b)) if a.ino() == b.ino());
        let running = Path::new("/proc/self/exe");
        if !same(&exe, running) || std::fs::hard_link(&exe, &linked).is_err() {
            std::fs::copy(running, &linked).unwrap();
        }
        linked
    }

    /// Runs the helper test in `exe` with `env` (and without the caller's `TEAMSTER_BIN`
    /// and `PATH` unless `env` sets them).
    fn run(&self, exe: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Output {
        let project = self.dir.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        Command::new(exe)
            .args([
                "--exact",
                "reliability::binary::binary_helper_starts_and_stops_a_bundle",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env_remove("TEAMSTER_BIN")
            .env("PATH", "/usr/bin:/bin")
            .env(HELPER_DIR, &project)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// How many times the wrapper ran.
    fn wrapper_runs(&self) -> usize {
        crate::fixture::lines_of(&self.dir.path().join("used")).len()
    }
}

#[track_caller]
fn assert_passed(out: &Output) {
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn teamster_bin_comes_first() {
    let case = Case::new();
    // This very binary, even if a build replaced its file (it is still next to `teamster`).
    let exe = Path::new("/proc/self/exe");
    // A `teamster` sits next to this test binary (`target/<profile>/`), yet TEAMSTER_BIN wins.
    let out = case.run(exe, &[("TEAMSTER_BIN", case.wrapper().as_os_str())]);
    assert_passed(&out);
    assert!(case.wrapper_runs() > 0, "TEAMSTER_BIN was not used");
}

#[test]
fn next_to_the_test_executable_comes_before_path() {
    let case = Case::new();
    let exe = Path::new("/proc/self/exe");
    let path = case.path_with_wrapper();
    let out = case.run(exe, &[("PATH", path.as_ref())]);
    assert_passed(&out);
    assert_eq!(
        case.wrapper_runs(),
        0,
        "PATH was used before the binary next to the test"
    );
}

#[test]
fn path_is_the_last_resort() {
    let case = Case::new();
    let exe = case.lonely_test_binary();
    let path = case.path_with_wrapper();
    let out = case.run(&exe, &[("PATH", path.as_ref())]);
    assert_passed(&out);
    assert!(
        case.wrapper_runs() > 0,
        "the `teamster` on PATH was not used"
    );
}

#[test]
fn no_binary_anywhere_is_an_error_that_names_teamster_bin() {
    let case = Case::new();
    let exe = case.lonely_test_binary();
    let out = case.run(&exe, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot find the `teamster` binary") && stderr.contains("set TEAMSTER_BIN"),
        "{stderr}"
    );
}
