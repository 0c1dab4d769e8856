//! The WebAssembly component plugin platform: every service kind is a plugin.
//!
//! Why plugins: kinds such as postgres or django need logic (prepare a data directory,
//! recognise a ready line, build a `psql` command line) that third parties should be able to
//! write and install without recompiling teamster, and that must not be able to harm the
//! machine. A component targeting the `teamster:plugin@0.4.0` world (see `wit/`) gives both:
//! a stable, versioned interface, and a sandbox with nothing but what the host links.
//!
//! ```text
//!  PluginHost ── one Engine (epoch ticker thread), one Linker, compile cache on disk
//!     │ resolve("generic") → built-in (embedded) or installed (registry dir, sha256-checked)
//!     ▼
//!  Plugin ── checked component + InstancePre, describe() info, install-time grants
//!     │ instantiate(ctx, run_env, bundle grants)   (one Store per service)
//!     ▼
//!  PluginService ── implements ServiceHooks: configure, setup, ready_check, poststart,
//!                   subcommand, connection_info; a trap poisons this store only
//! ```
//!
//! # Limits
//! Every export call runs with fuel, an epoch deadline ([`Limits`]), a memory cap and
//! per-call host budgets (log bytes, `run` count, time and output size). A limit hit is a
//! [`CallError`] inside a [`HookError`](crate::service::hooks::HookError) naming the plugin
//! and export.
//!
//! # Capabilities
//! Every program the host starts for a plugin (the service's main program and readiness
//! probes from `configure`, sub-commands, `host.run` helpers) must be declared in
//! `describe` *and* granted by the user (at `plugin install`, or in the bundle's
//! `grants`); one gate checks them all (`programs.rs`). Built-in plugins are granted what
//! they declare. Plugins get no network (no sockets are linked), no environment, and no
//! files beyond the service's data directory and the kind's cache directory (see
//! `kind_cache.rs`); a component importing anything else is refused at load, with the
//! offending imports listed.
//!
//! # Caveats
//! - Calls block: the orchestrator must make them from blocking threads.
//! - Calls into one service are serialised; services do not share stores.
//! - Compiling a plugin the first time takes a second or more; later loads come from the
//!   cache in microseconds.

mod bindings;
mod cache;
mod engine;
mod error;
mod kind_cache;
mod limits;
mod logbook;
#[expect(
    clippy::module_inception,
    reason = "the `Plugin` type deserves its own file"
)]
mod plugin;
mod plugin_host;
mod programs;
mod registry;
mod run;
mod scaffold;
mod schema;
mod service;
mod service_user;
mod state;

#[cfg(test)]
mod tests;

pub use error::{CallError, EngineError, PluginError};
pub use limits::{CallLimits, HostBudgets, Limits};
pub use logbook::{LogLevel, LogSink, PluginLog};
pub use plugin::{KindInfo, Plugin, PluginSource, SubcommandInfo};
pub use plugin_host::{PluginHost, PluginHostConfig};
pub use programs::{Asker, ProgramRefusal};
pub use registry::{
    Inspection, InstalledPlugin, ListedSource, Manifest, PluginList, PluginSummary, Removed,
};
pub use run::{RunAbort, RunEnv};
pub use scaffold::{Scaffold, SdkSource, new_scaffold};
pub use schema::SchemaError;
pub use service::{PluginService, ProcessSpecOut, ServiceContext};
pub use service_user::ServiceUser;

/// The version of the plugin interface this host speaks.
pub const WIT_VERSION: &str = "0.4.0";

/// The WIT package this host speaks, with its version.
pub const WIT_PACKAGE: &str = "teamster:plugin@0.4.0";
