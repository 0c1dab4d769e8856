//! `teamster plugin …`: install, list, inspect, remove and scaffold service-kind plugins.

use std::path::PathBuf;

use clap::Subcommand;

use super::ExitCode;
use crate::plugin::{SdkSource, new_scaffold};

/// The plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a component, show what it declares, and install it with the given grants.
    Install {
        /// The `.wasm` component.
        path: PathBuf,
        /// A program the plugin may run (repeat for each; must be one it declares).
        #[arg(long = "grant", value_name = "PROGRAM")]
        grants: Vec<String>,
    },
    /// List built-in and installed kinds.
    List,
    /// Show a kind's exports, WIT version, declared programs, grants, size and sha256.
    Inspect {
        /// An installed or built-in kind's name, or a path to a `.wasm` file.
        name_or_path: String,
    },
    /// Remove an installed kind.
    Remove {
        /// The kind's name.
        name: String,
    },
    /// Scaffold a new plugin crate that builds for wasm32-wasip2.
    ///
    /// The crate gets the plugin SDK and the WIT of this teamster (`sdk/`, `wit/`) and a
    /// `Cargo.lock` with their dependencies' versions: it needs no teamster checkout, and
    /// builds with `cargo build --release --offline` once those crates are in cargo's cache.
    New {
        /// The kind's name (`[a-z0-9_-]+`).
        name: String,
        /// Where to create the crate (default: `./<name>`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Depend on a local checkout of the plugin SDK (`plugin-sdk/` of the teamster
        /// repository) instead of writing this teamster's SDK into the crate.
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
}

pub(super) fn run(cmd: PluginCommand) -> ExitCode {
    if let PluginCommand::New {
        name,
        dir,
        sdk_path,
    } = cmd
    {
        let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
        let sdk = match sdk_path {
            Some(p) => SdkSource::Path(p),
            None => SdkSource::Vendored,
        };
        return match new_scaffold(&name, &dir, &sdk) {
            Ok(s) => {
                outln!("{s}");
                ExitCode::Ok
            }
            Err(e) => fail(&e),
        };
    }
    let host = match crate::orchestrator::kinds::plugin_host() {
        Ok(h) => h,
        Err(message) => {
            errln!("error: {message}");
            return ExitCode::Internal;
        }
    };
    let shown = match cmd {
        PluginCommand::Install { path, grants } => {
            host.install(&path, &grants).map(|x| x.to_string())
        }
        PluginCommand::List => host.list().map(|x| x.to_string()),
        PluginCommand::Inspect { name_or_path } => {
            host.inspect(&name_or_path).map(|x| x.to_string())
        }
        PluginCommand::Remove { name } => host.remove(&name).map(|x| x.to_string()),
        PluginCommand::New { .. } => unreachable!("handled above"),
    };
    match shown {
        Ok(text) => {
            outln!("{}", text.trim_end());
            ExitCode::Ok
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &crate::plugin::PluginError) -> ExitCode {
    errln!("error: {}", crate::error_chain(e));
    ExitCode::PluginFailed
}
