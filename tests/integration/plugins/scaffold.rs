//! A new plugin's whole life through the `teamster` binary, as its author lives it:
//! `plugin new` (here against the checkout's SDK, `--sdk-path`), a cargo build for
//! wasm32-wasip2, `plugin install`, then `up` of a bundle that uses the new kind and refers
//! to its connection info. `third_party` does the same with nothing but the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fixture::{Project, alive, read_pid, teamster_bin, teamster_up};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is inside the repository")
}

/// `teamster` in `dir`, with its plugin registry and compile cache under `home`.
pub(super) fn teamster(dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(teamster_bin());
    cmd.current_dir(dir)
        .env("TEAMSTER_HOME", home)
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd`, asserts it succeeds and returns its stdout.
pub(super) fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run teamster");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Builds the plugin crate in `dir` as its author would, with the crate's own `Cargo.lock`
/// and `.cargo/config.toml` (target `wasm32-wasip2`): `cargo build --release --offline
/// --locked`, so the build fails if the lock file the scaffold wrote needed any change.
/// Returns the component.
///
/// To keep CI cheap, the build shares the wasm target directory of the built-in plugins,
/// whose settings it takes (no debug info, no LTO, 16 codegen units; the scaffold's own
/// rustflags are the same): the SDK's dependencies, wit-bindgen above all, are already
/// compiled there at the versions the scaffold locks, so only the crate and its SDK are
/// compiled (about 3 s, where a cold target directory takes about a minute on two cores).
pub(super) fn build_plugin(dir: &Path, crate_name: &str) -> PathBuf {
    let target_dir = Path::new(teamster_plugin_artifacts::WASM_TARGET_DIR);
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--offline",
            "--locked",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build of the scaffold in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target_dir.join(format!("wasm32-wasip2/release/{crate_name}.wasm"));
    assert!(wasm.is_file(), "no component at {}", wasm.display());
    wasm
}

/// The port in the first printed line that contains `before`, right after it.
pub(super) fn port_after(printed: &str, before: &str) -> u16 {
    printed
        .lines()
        .find_map(|line| line.split_once(before))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port after {before:?} in:\n{printed}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaffolded_plugin_builds_installs_and_runs_in_a_bundle() {
    let work = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");

    let created = succeed(
        teamster(work.path(), home.path())
            .args(["plugin", "new", "hello-kind", "--sdk-path"])
            .arg(repo_root().join("plugin-sdk")),
    );
    assert!(
        created.contains("created plugin crate `hello-kind`"),
        "{created}"
    );
    let wasm = build_plugin(&work.path().join("hello-kind"), "hello_kind");
    let installed = succeed(
        teamster(work.path(), home.path())
            .args(["plugin", "install", "--grant", "sh"])
            .arg(&wasm),
    );
    assert!(
        installed.contains("installed plugin `hello-kind`"),
        "{installed}"
    );

    // `client` refers to the port the plugin publishes, which makes it need `hello`.
    let p = Project::new();
    p.bundle_file(
        r#"
[services.hello]
kind = "hello-kind"
[services.hello.config]
command = "echo $$ > hello.pid; exec python3 -u -m http.server {port} --bind 127.0.0.1"
ready_line = "Serving HTTP"

[services.client]
command = ["sh", "-c", "echo $$ > client.pid; echo hello is on port $0; exec sleep 600", "${hello.port}"]
ready = { log = "hello is on port" }
"#,
    );
    let (mut host, printed) = teamster_up(&p, &[("TEAMSTER_HOME", home.path())]);
    let pids = [
        read_pid(&p.file("hello.pid")).await,
        read_pid(&p.file("client.pid")).await,
    ];

    // The plugin put the allocated port into the command and recognised the ready line.
    let port = port_after(&printed, "Serving HTTP on 127.0.0.1 port ");
    // The dependent started after that, with the port from the plugin's connection info.
    let ready = printed.find("hello is ready");
    let told = printed.find("hello is on port");
    assert!(ready.is_some() && ready < told, "{printed}");
    assert_eq!(port_after(&printed, "hello is on port "), port, "{printed}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    // `exec` reaches the plugin, which declares no sub-command.
    let out = teamster(p.path(), home.path())
        .args(["exec", "hello", "greet"])
        .output()
        .expect("run teamster exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("greet"), "{stderr}");

    kill(Pid::from_raw(host.id() as i32), Signal::SIGINT).expect("interrupt teamster");
    assert_eq!(host.wait().expect("wait").code(), Some(0));
    // `up` returns only after every tree is gone.
    let left: Vec<u32> = pids.into_iter().filter(|&pid| alive(pid)).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
