//! The seam between the orchestrator and plugin kinds.
//!
//! A service described only by the bundle file has no hooks. A `kind = "…"` service gets an
//! implementation backed by its plugin's WebAssembly instance. The orchestrator calls these
//! from blocking threads (`spawn_blocking`), never on the async runtime, because a plugin
//! call may run up to its deadline.

use crate::logs::Stream;

/// A command a plugin asks the host to run (a sub-command such as `psql`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSpec {
    /// Program (resolved by the host) and arguments.
    pub argv: Vec<String>,
    /// Variables set on top of the service's environment.
    pub env: Vec<(String, String)>,
    /// Working directory; default: the service's directory.
    pub cwd: Option<std::path::PathBuf>,
}

/// An error from a hook: a message meant for the user, naming the plugin and export.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` failed in `{export}`")]
pub struct HookError {
    /// The plugin's name.
    pub plugin: String,
    /// The export that failed (`setup`, `ready-check`, …).
    pub export: &'static str,
    /// What went wrong (a guest error string, a trap, a limit hit, …).
    #[source]
    pub cause: Box<dyn std::error::Error + Send + Sync>,
}

/// Per-service plugin logic, called by the orchestrator at each phase.
pub trait ServiceHooks: Send + Sync + std::fmt::Debug {
    /// Runs before the process is spawned (e.g. `initdb`).
    fn setup(&self) -> Result<(), HookError>;
    /// Whether this line shows the service is ready (for `Readiness::Plugin`).
    fn ready_check(&self, stream: Stream, line: &str) -> Result<bool, HookError>;
    /// Runs once every readiness condition holds (e.g. `CREATE DATABASE`).
    fn poststart(&self) -> Result<(), HookError>;
    /// Builds the command line of a sub-command (e.g. `psql`).
    fn subcommand(&self, name: &str, args: &[String]) -> Result<CommandSpec, HookError>;
    /// Connection details such as `url`, `host`, `port`.
    fn connection_info(&self) -> Result<Vec<(String, String)>, HookError>;
}
