//! A third-party author's path, with nothing of teamster but its binary: `plugin new` in a
//! directory outside the workspace (the SDK and the WIT come from the binary), an offline
//! build for wasm32-wasip2 from the crate's own lock file, `plugin install` without and
//! then with the grant of its main program, and `up` of a bundle that uses it: refused,
//! naming the program, the export and how to grant it, then running once granted. And the
//! kind docs/writing-a-plugin.md prints builds and installs as printed.

use std::collections::BTreeSet;
use std::net::TcpStream;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::scaffold::{build_plugin, port_after, succeed, teamster};
use crate::fixture::{Project, alive, read_pid, teamster_up};

const BUNDLE: &str = r#"
startup_timeout = "30s"

[services.web]
kind = "third-party"
[services.web.config]
port = "auto"
command = "echo $$ > web.pid; exec python3 -u -m http.server {port} --bind 127.0.0.1"
ready_line = "Serving HTTP"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_made_from_the_binary_alone_builds_offline_is_refused_ungranted_then_runs() {
    let work = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let crate_dir = work.path().join("third-party");

    let created =
        succeed(teamster(work.path(), home.path()).args(["plugin", "new", "third-party"]));
    assert!(
        created.contains("created plugin crate `third-party`"),
        "{created}"
    );
    // The crate is self-contained: the SDK and the WIT it was generated from are inside.
    for file in [
        "Cargo.lock",
        "sdk/Cargo.toml",
        "sdk/src/lib.rs",
        "wit/plugin.wit",
    ] {
        assert!(crate_dir.join(file).is_file(), "no {file} in the scaffold");
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains(r#"teamster-plugin-sdk = { path = "sdk" }"#),
        "{manifest}"
    );
    let locked = std::fs::read_to_string(crate_dir.join("Cargo.lock")).expect("Cargo.lock");
    // Built `--locked`: the lock file as the scaffold wrote it, unchanged.
    let wasm = build_plugin(&crate_dir, "third_party");
    let after = std::fs::read_to_string(crate_dir.join("Cargo.lock")).expect("Cargo.lock");
    assert_eq!(after, locked);
    let versions = locked_versions(&crate_dir);
    assert!(
        versions.iter().any(|(name, _)| name == "wit-bindgen"),
        "{versions:?}"
    );

    // Installed without grants: it declares `sh`, the program of its service.
    let installed = succeed(
        teamster(work.path(), home.path())
            .args(["plugin", "install"])
            .arg(&wasm),
    );
    assert!(
        installed.contains("installed plugin `third-party`")
            && installed.contains("not granted: sh"),
        "{installed}"
    );

    let p = Project::new();
    p.bundle_file(BUNDLE);
    // The config, `port` included, passes the kind's schema.
    succeed(teamster(p.path(), home.path()).arg("check"));

    let refused = teamster(p.path(), home.path())
        .arg("up")
        .output()
        .expect("run teamster up");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "{stderr}");
    for needed in [
        "plugin `third-party` may not start `sh`",
        "`configure` asked for it as the service's main program",
        "teamster plugin install --grant sh",
        r#"grants = ["sh"]"#,
    ] {
        assert!(stderr.contains(needed), "no {needed:?} in:\n{stderr}");
    }
    assert!(!p.file("web.pid").exists(), "the ungranted program started");

    // Granted at install, it runs.
    let installed = succeed(
        teamster(work.path(), home.path())
            .args(["plugin", "install", "--grant", "sh"])
            .arg(&wasm),
    );
    assert!(installed.contains("granted:  sh"), "{installed}");
    let (mut host, printed) = teamster_up(&p, &[("TEAMSTER_HOME", home.path())]);
    let pid = read_pid(&p.file("web.pid")).await;
    let port = port_after(&printed, "Serving HTTP on 127.0.0.1 port ");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "{printed}");

    kill(Pid::from_raw(host.id() as i32), Signal::SIGINT).expect("interrupt teamster");
    assert_eq!(host.wait().expect("wait").code(), Some(0));
    assert!(!alive(pid), "left behind: {pid}");
}

/// The (name, version) pairs of the crate's `Cargo.lock`.
fn locked_versions(crate_dir: &std::path::Path) -> BTreeSet<(String, String)> {
    let lock = std::fs::read_to_string(crate_dir.join("Cargo.lock")).expect("Cargo.lock");
    let lock: toml::Table = lock.parse().expect("Cargo.lock is TOML");
    lock["package"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let field = |key: &str| p[key].as_str().expect("name and version").to_string();
            (field("name"), field("version"))
        })
        .collect()
}

/// The `rust` listing of docs/writing-a-plugin.md: the whole `src/lib.rs` of its kind.
fn docs_listing() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/writing-a-plugin.md"),
    )
    .expect("read docs/writing-a-plugin.md");
    let (_, rest) = doc
        .split_once("\n```rust\n")
        .expect("the docs hold a rust listing");
    let (listing, _) = rest.split_once("\n```\n").expect("the listing ends");
    format!("{listing}\n")
}

/// The docs' kind (a MariaDB server) builds as printed against the SDK the binary carries
/// and installs with the programs the docs grant. Running it needs mariadb-server, which
/// CI does not install; the docs' commands were run by hand.
#[test]
fn the_kind_of_the_docs_builds_and_installs_as_printed() {
    let work = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let crate_dir = work.path().join("mariadb");
    succeed(teamster(work.path(), home.path()).args(["plugin", "new", "mariadb"]));
    std::fs::write(crate_dir.join("src/lib.rs"), docs_listing()).expect("write lib.rs");
    let wasm = build_plugin(&crate_dir, "mariadb");

    let mut install = teamster(work.path(), home.path());
    install.args(["plugin", "install"]);
    for program in ["mariadbd", "mariadb-install-db", "mariadb", "cp"] {
        install.args(["--grant", program]);
    }
    let installed = succeed(install.arg(&wasm));
    assert!(
        installed.contains("granted:  mariadbd, mariadb-install-db, mariadb, cp"),
        "{installed}"
    );
    let inspected =
        succeed(teamster(work.path(), home.path()).args(["plugin", "inspect", "mariadb"]));
    assert!(
        inspected.contains("subcommands: client (Run the mariadb client against the service)"),
        "{inspected}"
    );
}
