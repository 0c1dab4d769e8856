//! Errors of the plugin platform: [`PluginError`] for loading, installing and opening
//! plugins, and [`CallError`], the cause inside a [`HookError`] when a call into a plugin
//! fails.
//!
//! [`HookError`]: crate::service::hooks::HookError

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::WIT_PACKAGE;
use super::schema::SchemaError;
use crate::text::list_or_none;

/// A wasmtime error, made a standard error so it can sit in a `#[source]` chain.
#[derive(Debug)]
pub struct EngineError(pub(crate) wasmtime::Error);

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The alternate form includes wasmtime's own context chain on one line.
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for EngineError {}

/// An error loading, installing, resolving or opening a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The WebAssembly engine could not be created.
    #[error("cannot create the WebAssembly engine")]
    Engine(#[source] EngineError),
    /// A plugin file could not be read.
    #[error("cannot read plugin file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("`{origin}` is not a WebAssembly file")]
    NotWasm {
        /// Where the bytes came from.
        origin: String,
    },
    /// A core module where a component was expected.
    #[error(
        "`{origin}` is a core WebAssembly module, not a component; build the plugin for wasm32-wasip2"
    )]
    CoreModule {
        /// Where the bytes came from.
        origin: String,
    },
    /// Compilation failed: a corrupt or unsupported component.
    #[error("`{origin}` is not a valid WebAssembly component")]
    Compile {
        /// Where the bytes came from.
        origin: String,
        /// Wasmtime's verdict.
        #[source]
        source: EngineError,
    },
    /// The component targets another version of the plugin interface.
    #[error(
        "`{origin}` was built for teamster:plugin@{found}, but this teamster speaks {WIT_PACKAGE}; rebuild it against a matching teamster-plugin-sdk"
    )]
    WitVersion {
        /// Where the bytes came from.
        origin: String,
        /// The version the component uses.
        found: String,
    },
    /// The component does not export the kind interface at all.
    #[error("`{origin}` is not a teamster plugin: it does not export `{WIT_PACKAGE}` kind (exports: {})", list_or_none(.exports))]
    NotAPlugin {
        /// Where the bytes came from.
        origin: String,
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// The component imports interfaces the host does not provide.
    #[error("`{origin}` imports what plugins may not use: {}; plugins get no network and no files outside their data directory", .imports.join(", "))]
    ForbiddenImports {
        /// Where the bytes came from.
        origin: String,
        /// The offending imports.
        imports: Vec<String>,
    },
    /// The imports are allowed by name but their types do not match the host's.
    #[error("cannot link `{origin}` against the host")]
    Link {
        /// Where the bytes came from.
        origin: String,
        /// Wasmtime's verdict.
        #[source]
        source: EngineError,
    },
    /// `describe` failed.
    #[error("cannot describe `{origin}`")]
    Describe {
        /// Where the bytes came from.
        origin: String,
        /// The failed call.
        #[source]
        source: CallError,
    },
    /// `describe` returned something unusable.
    #[error("`{origin}` describes itself badly: {reason}")]
    InvalidInfo {
        /// Where the bytes came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// No built-in or installed plugin has this name.
    #[error("unknown service kind `{kind}` (known: {}); install a plugin with `teamster plugin install <file.wasm>`", list_or_none(.known))]
    UnknownKind {
        /// The requested kind.
        kind: String,
        /// The kinds that exist.
        known: Vec<String>,
    },
    /// A built-in kind cannot be installed over or removed.
    #[error("`{name}` is a built-in kind; choose another name for the plugin")]
    BuiltinName {
        /// The name.
        name: String,
    },
    /// `remove` of a plugin that is not installed.
    #[error("no plugin named `{name}` is installed")]
    NotInstalled {
        /// The name.
        name: String,
    },
    /// A grant of a program the plugin does not declare.
    #[error("cannot grant `{program}` to plugin `{plugin}`: it does not declare that program (declared: {})", list_or_none(.declared))]
    UndeclaredGrant {
        /// The plugin.
        plugin: String,
        /// The program.
        program: String,
        /// What it declares.
        declared: Vec<String>,
    },
    /// The installed component no longer matches the hash recorded at install time.
    #[error(
        "installed plugin `{name}` changed since it was installed (recorded sha256 {expected}, found {found}); install it again"
    )]
    Tampered {
        /// The plugin.
        name: String,
        /// Recorded hash.
        expected: String,
        /// Actual hash.
        found: String,
    },
    /// The registry could not be read or written.
    #[error("cannot access the plugin registry at `{path}`")]
    Registry {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is not valid JSON of the expected shape.
    #[error("plugin manifest `{path}` is damaged; install the plugin again")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The compile cache could not be used.
    #[error("cannot use the compiled-plugin cache at `{path}`")]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The service's config does not fit the plugin's schema.
    #[error("invalid config for service `{service}` of kind `{kind}`")]
    Config {
        /// The service.
        service: String,
        /// The kind.
        kind: String,
        /// Which key is wrong, and how.
        #[source]
        source: SchemaError,
    },
    /// The service's data directory could not be created or preopened.
    #[error("cannot prepare data directory `{path}` for service `{service}`")]
    DataDir {
        /// The service.
        service: String,
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The user the service should run as is unknown.
    #[error("service `{service}` cannot run as its user: {reason}")]
    User {
        /// The service.
        service: String,
        /// Why.
        reason: String,
    },
    /// Instantiating or opening the service in the plugin failed.
    #[error("plugin `{plugin}` cannot open service `{service}`")]
    Open {
        /// The plugin.
        plugin: String,
        /// The service.
        service: String,
        /// The failed call.
        #[source]
        source: CallError,
    },
    /// A scaffold could not be written.
    #[error("cannot scaffold a plugin in `{path}`")]
    Scaffold {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A plugin name that is not `[a-z0-9_-]+`.
    #[error("invalid plugin name `{name}`: use lowercase letters, digits, `-` and `_`")]
    InvalidName {
        /// The name.
        name: String,
    },
}

/// Why a call into a plugin failed. Wrapped in a [`HookError`] (or a [`PluginError`]) that
/// names the plugin and the export.
///
/// [`HookError`]: crate::service::hooks::HookError
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The plugin returned an error; its text is meant for the user.
    #[error("{0}")]
    Guest(String),
    /// Fuel ran out: the plugin computed far more than a hook should.
    #[error("ran out of fuel after {fuel} units (an endless loop?)")]
    OutOfFuel {
        /// The fuel granted for the call.
        fuel: u64,
    },
    /// The call's wall-clock deadline passed (time spent in `host.run` does not count).
    #[error("did not return within its deadline of {limit:?}")]
    Deadline {
        /// The deadline.
        limit: Duration,
    },
    /// The plugin tried to grow its memory past the limit.
    #[error("tried to use more than {} MiB of memory", .limit / (1024 * 1024))]
    Memory {
        /// The limit in bytes.
        limit: usize,
    },
    /// The plugin logged more than its per-call budget.
    #[error("logged more than {limit} bytes in one call")]
    LogBudget {
        /// The budget in bytes.
        limit: usize,
    },
    /// The plugin panicked.
    #[error("panicked: {message}{}", match .location { Some(at) => format!(" (at {at})"), None => String::new() })]
    Panic {
        /// The panic message.
        message: String,
        /// Where, as `file:line:column` in the plugin's source.
        location: Option<String>,
    },
    /// Every slot of the instance pool is taken by live services.
    #[error("no free plugin instance slot ({detail}); raise `Limits::instances`")]
    PoolFull {
        /// Which pool ran out, as wasmtime says it.
        detail: String,
    },
    /// Any other trap.
    #[error("trapped ({trap}){}", match .output { Some(out) => format!("; its last output: {out}"), None => String::new() })]
    Trap {
        /// Wasmtime's description of the trap.
        trap: String,
        /// The last lines the plugin wrote to stdout/stderr (a panic message, usually).
        output: Option<String>,
    },
    /// An earlier trap left this instance unusable.
    #[error("the plugin instance is unusable after an earlier failure in `{export}` ({cause})")]
    Poisoned {
        /// The export that failed first.
        export: &'static str,
        /// How it failed.
        cause: String,
    },
    /// The plugin returned a value the host cannot use.
    #[error("returned an invalid value: {0}")]
    Invalid(String),
}
