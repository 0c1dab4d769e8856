//! A scaffolded plugin builds for wasm32-wasip2 on the first try, installs and resolves.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use super::{chain, context, run_env, test_host};
use crate::plugin::{Limits, SdkSource, new_scaffold};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn scaffold_builds_installs_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("hello-kind");
    let sdk = SdkSource::Path(repo_root().join("plugin-sdk"));
    let scaffold = new_scaffold("hello-kind", &dir, &sdk).expect("scaffold");
    insta::assert_snapshot!(
        "scaffold",
        super::redact(&scaffold.to_string(), work.path(), "[WORK]")
    );

    // Reuse the workspace's lock file and the artifacts' wasm target directory, so the build
    // compiles the scaffold itself rather than every dependency again.
    std::fs::copy(repo_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target_dir = PathBuf::from(teamster_plugin_artifacts::WASM_TARGET_DIR);
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build of the scaffold failed");
    let wasm = target_dir.join("wasm32-wasip2/release/hello_kind.wasm");

    let (host, _home) = test_host(Limits::default());
    let installed = host
        .install(&wasm, &["sh".to_string()])
        .expect("install the scaffold");
    assert_eq!(installed.manifest.name, "hello-kind");
    let plugin = host.resolve("hello-kind").unwrap();
    let data = tempfile::tempdir().unwrap();
    let svc = plugin
        .instantiate(
            context(
                "hello",
                data.path(),
                8123,
                json!({"command": "echo listening on {port}", "ready_line": "listening"}),
            ),
            run_env(data.path()),
            &[],
        )
        .unwrap();
    let spec = svc.configure().unwrap();
    assert_eq!(spec.command, ["sh", "-c", "echo listening on 8123"]);
    use crate::service::hooks::ServiceHooks;
    assert!(
        svc.ready_check(crate::logs::Stream::Out, "listening on 8123")
            .unwrap()
    );
    let bad = new_scaffold("hello-kind", &dir, &sdk).unwrap_err();
    insta::assert_snapshot!(
        "scaffold_exists",
        super::redact(&chain(&bad), work.path(), "[WORK]")
    );
}
