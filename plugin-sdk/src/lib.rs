//! Write teamster service kinds as WebAssembly component plugins.
//!
//! teamster starts and supervises processes itself; a plugin only *describes* a kind of
//! service: what to launch, how to prepare its data directory, when it is ready, which
//! sub-commands it offers and how to connect to it. This crate hides the component-model
//! plumbing (`wit-bindgen`, the `teamster:plugin@0.4.0` world in `wit/`) behind one trait,
//! [`Kind`], and one macro, [`export_kind!`].
//!
//! A plugin runs sandboxed: no environment, no network, and a file system limited to the
//! service's data directory and the kind's cache directory (read and write them with
//! [`fs`], whose errors say when a path is outside them; fill the cache with
//! [`cache::entry`]). Every program the host starts for the plugin (the service's own, its
//! readiness probes, sub-commands, and helpers run with [`Command::run`]) must be declared
//! in [`Info::program`] and granted by the user.
//!
//! # A complete plugin
//!
//! ```no_run
//! use serde::Deserialize;
//! use teamster_plugin_sdk::{
//!     Command, Error, Info, JsonSchema, Kind, Needle, Process, Readiness, Service, Stream, Verdict,
//! };
//!
//! /// The `[services.<name>.config]` table users write. Its JSON schema, which the host
//! /// checks bundles against, is derived from it (`JsonSchema`).
//! #[derive(Deserialize, JsonSchema)]
//! #[schemars(crate = "teamster_plugin_sdk::schemars")]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// The greeting the server prints once it listens. A `Needle` is a string prepared
//!     /// for searching, which `ready_check` does for every line until the service is ready.
//!     greeting: Needle,
//! }
//!
//! struct Echo;
//!
//! impl Kind for Echo {
//!     type Config = Config;
//!
//!     fn info() -> Info {
//!         Info::new("echo", env!("CARGO_PKG_VERSION"), "A toy server that echoes a greeting")
//!             .program("sh")
//!             .subcommand("hello", "Print the greeting")
//!             .config_schema_of::<Config>()
//!     }
//!
//!     fn configure(svc: &Service<Config>) -> Result<Process, Error> {
//!         // Who the service runs as, for a server that refuses root.
//!         if svc.user.is_root() {
//!             return Err(Error::msg("echo refuses root: add `user = \"nobody\"` to the service"));
//!         }
//!         let port = svc.main_port()?;
//!         Ok(Process::new("sh")
//!             .args(["-c", &format!("echo {}; exec nc -l -p {port}", svc.config.greeting.as_str())])
//!             .ready(Readiness::plugin_check())
//!             .ready(Readiness::tcp(port)))
//!     }
//!
//!     fn setup(svc: &Service<Config>) -> Result<(), Error> {
//!         // The data directory is the only place a plugin can write. `fs` errors name
//!         // the path, and say when it is outside that directory.
//!         teamster_plugin_sdk::fs::write(svc.data_path("greeting"), svc.config.greeting.as_str())?;
//!         let out = Command::new("sh").args(["-c", "echo prepared"]).run()?;
//!         teamster_plugin_sdk::log::info(out.stdout.trim());
//!         Ok(())
//!     }
//!
//!     fn ready_verdict(svc: &Service<Config>, _stream: Stream, line: &str) -> Verdict {
//!         // A line that says the server will never get ready fails the start with it.
//!         if line.contains("Address already in use") {
//!             return Verdict::Failed(format!("the server cannot listen: {line}"));
//!         }
//!         svc.config.greeting.is_in(line).into()
//!     }
//!
//!     fn subcommand(svc: &Service<Config>, name: &str, _args: &[String]) -> Result<Command, Error> {
//!         match name {
//!             "hello" => Ok(Command::new("echo").arg(svc.config.greeting.as_str())),
//!             other => Err(Error::unknown_subcommand(other)),
//!         }
//!     }
//!
//!     fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
//!         Ok(vec![("url".into(), format!("tcp://127.0.0.1:{}", svc.main_port()?))])
//!     }
//! }
//!
//! teamster_plugin_sdk::export_kind!(Echo);
//! ```
//!
//! The `#[schemars(crate = ...)]` line lets the derive use the SDK's `schemars`, so the
//! plugin needs no dependency of its own on it.
//!
//! Work that depends only on the kind and its options (an `initdb`) can be kept across
//! runs in the kind's cache directory, [`Service::cache_dir`], filled with
//! [`cache::entry`].
//!
//! To let users fix the service's main port with a `port` key (which the host reads itself),
//! declare it as a [`PortSetting`] field of the config and call [`PortSetting::check`] from
//! [`Kind::configure`], as the first-party kinds do.
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (a crate of type `cdylib`)
//! and install the resulting `.wasm` with `teamster plugin install`. `teamster plugin new`
//! scaffolds such a crate.

pub mod cache;
mod command;
mod config;
mod error;
pub mod fs;
mod invocation;
pub mod log;
mod needle;
mod process;
mod schema;
mod service;
mod verdict;

#[doc(hidden)]
pub mod __bindings {
    //! The generated bindings. Plugin authors never name these directly; they are public
    //! only so that [`crate::export_kind!`] can reach them from the plugin's crate.
    wit_bindgen::generate!({
        path: "../wit",
        world: "service-kind",
        pub_export_macro: true,
        export_macro_name: "__export_service_kind",
        default_bindings_module: "::teamster_plugin_sdk::__bindings",
        additional_derives: [PartialEq, Eq],
    });
}

#[doc(hidden)]
pub mod __private;

pub use command::{Command, Output, find_program};
pub use config::PortSetting;
pub use error::Error;
pub use needle::Needle;
pub use process::{Process, Readiness};
pub use schema::schema_of;
pub use service::{Info, NoConfig, Service, ServiceUser, Stream};
pub use verdict::Verdict;

/// The re-exported `serde`, so plugins can derive `Deserialize` for their config without
/// pinning their own version.
pub use serde;

/// The re-exported `schemars`, whose `JsonSchema` derive gives a config type its schema
/// ([`Info::config_schema_of`]). Point the derive at it with
/// `#[schemars(crate = "teamster_plugin_sdk::schemars")]`, and the plugin needs no
/// `schemars` dependency of its own.
pub use schemars;
/// Derive it on the config type, next to `Deserialize`, for [`Info::config_schema_of`].
pub use schemars::JsonSchema;

/// A service kind. Implement it on a unit struct and export it with [`export_kind!`].
///
/// Every method gets the [`Service`] it is about: its name, directories, ports and its parsed
/// configuration. Only [`Kind::info`] and [`Kind::configure`] are required; the rest default
/// to doing nothing.
pub trait Kind: 'static {
    /// The service's `config` table. The SDK parses the JSON the host sends into this type
    /// and reports errors with the offending key. Use [`NoConfig`] for kinds without one.
    type Config: serde::de::DeserializeOwned + 'static;

    /// Describes the kind: name, version, programs it may run, sub-commands and config schema.
    fn info() -> Info;

    /// Says what process to start and when it counts as ready.
    fn configure(svc: &Service<Self::Config>) -> Result<Process, Error>;

    /// Prepares the data directory before the process starts. Runs on every start, so it
    /// should be idempotent.
    fn setup(svc: &Service<Self::Config>) -> Result<(), Error> {
        let _ = svc;
        Ok(())
    }

    /// Judges a log line for [`Readiness::plugin_check`]. Keep it to string matching: the host
    /// gives it a short deadline (100 ms by default), and calls it for every line until the
    /// service is ready. Search with a [`Needle`] rather than `str::contains`, which builds
    /// a new searcher on every call.
    fn ready_check(svc: &Service<Self::Config>, stream: Stream, line: &str) -> bool {
        let _ = (svc, stream, line);
        false
    }

    /// The full form of [`Kind::ready_check`], which can also fail the start: return
    /// [`Verdict::Failed`] with a message when a line shows the service will never get
    /// ready (a refused option, a port in use). The host fails the service's start with
    /// that message. The default asks [`Kind::ready_check`]; implement one or the other.
    fn ready_verdict(svc: &Service<Self::Config>, stream: Stream, line: &str) -> Verdict {
        Self::ready_check(svc, stream, line).into()
    }

    /// Runs once the service is ready (create a database, load fixtures, ...).
    fn poststart(svc: &Service<Self::Config>) -> Result<(), Error> {
        let _ = svc;
        Ok(())
    }

    /// Builds the command line of a sub-command for the host to run.
    fn subcommand(
        svc: &Service<Self::Config>,
        name: &str,
        args: &[String],
    ) -> Result<Command, Error> {
        let _ = (svc, args);
        Err(Error::unknown_subcommand(name))
    }

    /// Connection details such as `url`, `host` and `port`.
    fn connection_info(svc: &Service<Self::Config>) -> Result<Vec<(String, String)>, Error> {
        let _ = svc;
        Ok(Vec::new())
    }
}

/// Exports a [`Kind`] as the plugin's implementation of the `teamster:plugin/kind` interface.
///
/// Call it exactly once, at the root of a `cdylib` crate built for `wasm32-wasip2`.
#[macro_export]
macro_rules! export_kind {
    ($kind:ty) => {
        #[doc(hidden)]
        type __TeamsterPluginExport = $crate::__private::Adapter<$kind>;
        $crate::__bindings::__export_service_kind!(
            __TeamsterPluginExport with_types_in $crate::__bindings
        );
    };
}
