//! Bundle files and the validated model behind them.
//!
//! A bundle reaches the rest of teamster as a [`BundleSpec`](spec::BundleSpec), through one
//! of three front doors that share defaults, path resolution and validation: a TOML file
//! ([`BundleSpec::load`](spec::BundleSpec::load), format in `docs/bundle-format.md`) or the
//! Rust builder ([`BundleSpec::builder`](spec::BundleSpec::builder)), or the same model as
//! JSON ([`BundleSpec::parse_json`](spec::BundleSpec::parse_json)), which clients such as the
//! Python package send, translated to TOML so that it meets the same rules and messages.
//!
//! # The file format
//!
//! ```toml
//! project_dir = "."          # default: the file's directory
//! startup_timeout = "15s"    # "250ms", "1.5s", "2m", "1h", "1m30s" or a number of seconds
//! shutdown_timeout = "5s"    # default for every service
//! run_dir = ".teamster"      # relative to project_dir
//! keep_runs = 10
//! clock = "preload"          # or "libfaketime"
//!
//! [services.db]
//! command = "postgres -D data"
//! stop_signal = "SIGINT"
//! ready = { log = { regex = "ready to accept connections", stream = "stderr" } }
//!
//! [services.web]
//! command = ["python3", "-m", "http.server", "8000"]
//! directory = "app"
//! env = { PORT = 8000 }
//! needs = ["db"]
//! ready = [{ tcp = 8000 }, { http = "http://127.0.0.1:8000/" }]
//! ```
//!
//! Every error names the file, line and column, and the service it concerns.
//!
//! Values may refer to other services' connection info, such as `"${db.url}"`; see
//! [`interpolate`] for the syntax and for what the orchestrator calls before a spawn.

mod builder;
pub mod duration;
pub mod error;
mod file;
mod graph;
pub mod interpolate;
mod json;
mod load;
mod resolve;
pub mod signal;
pub mod spec;
mod validate;

pub use builder::{BundleBuilder, ServiceBuilder};
pub use error::{BundleError, KeyPath, Location, ReadinessError};
pub use validate::{KindCheck, KindProblem};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_json;
#[cfg(test)]
mod tests_kinds;
