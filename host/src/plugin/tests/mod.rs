//! Tests of the plugin platform against real components built by the workspace
//! (`plugins/`), real files and real processes.

mod context;
mod generic;
mod misbehave;
mod programs;
mod registry;
mod run;
mod scaffold;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use teamster_plugin_artifacts::Artifact;

use super::{Limits, PluginHost, PluginHostConfig, RunEnv, ServiceContext};

/// One compile cache for the whole test binary, so each plugin is compiled once rather than
/// once per test.
fn shared_cache() -> &'static Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE
        .get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// A host with its own registry (in the returned temp dir) and the given limits.
pub(super) fn test_host(limits: Limits) -> (PluginHost, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("temp dir");
    let config = PluginHostConfig {
        plugins_dir: home.path().join("plugins"),
        cache_dir: shared_cache().to_path_buf(),
        kind_cache_dir: home.path().join("kinds"),
        limits,
    };
    (PluginHost::new(config).expect("plugin host"), home)
}

/// The service environment a test runs helper programs in.
pub(super) fn run_env(cwd: &Path) -> RunEnv {
    RunEnv {
        env: vec![(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        )],
        cwd: cwd.to_path_buf(),
        user: None,
        extra_env: Vec::new(),
        abort: Default::default(),
    }
}

pub(super) fn context(
    name: &str,
    dir: &Path,
    port: u16,
    config: serde_json::Value,
) -> ServiceContext {
    ServiceContext {
        name: name.to_string(),
        project_dir: dir.to_path_buf(),
        data_dir: dir.join("data").join(name),
        ports: vec![("main".to_string(), port)],
        config,
    }
}

/// An error and its causes on one line, as a user would read them.
pub(super) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Replaces a varying path in user-visible text with a stable marker.
pub(super) fn redact(text: &str, path: &Path, marker: &str) -> String {
    text.replace(&path.display().to_string(), marker)
}

/// A free TCP port, leased for the test binary's life (no other test gets it).
pub(super) fn free_port() -> u16 {
    crate::ports::hold_free_port().expect("a free port")
}

/// Where the host finds `program` in the test's service environment.
pub(super) fn which(program: &str) -> String {
    let env = run_env(Path::new("/"));
    super::run::find_program(&env, program)
        .unwrap_or_else(|| panic!("`{program}` is on PATH"))
        .display()
        .to_string()
}

pub(super) fn artifact_path(artifact: &Artifact) -> PathBuf {
    PathBuf::from(artifact.path)
}
