//! The first-party kinds (postgres, redis, django, smtp-sink, celery, chromedriver) on real
//! servers, driven through the orchestrator the way users drive them: bundle files,
//! sub-commands, connection info and logs.

mod celery;
mod chromedriver;
mod demo;
mod describe;
mod django;
mod generic;
mod postgres;
mod redis;
mod remindme;
mod smtp_sink;

use std::path::PathBuf;

/// The demo app shipped in `examples/demo`.
fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/demo")
        .canonicalize()
        .expect("examples/demo")
}

/// The text of a sub-command's standard output, failing the test with its stderr if it failed.
async fn stdout_of(handle: &teamster::ServiceHandle, name: &str, args: &[&str]) -> String {
    let out = handle
        .subcommand(name, args)
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)))
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert!(
        out.status.success(),
        "`{name} {args:?}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
