//! `teamster plugin new`: a plugin crate that builds for `wasm32-wasip2` on the first try.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::PluginError;
use super::plugin::valid_name;

/// Where the scaffold's `teamster-plugin-sdk` dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A local checkout (`plugin-sdk/` of the teamster repository).
    Path(PathBuf),
    /// A registry version requirement such as `0.1`.
    Version(String),
}

/// The result of [`new_scaffold`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffold {
    /// The plugin's name.
    pub name: String,
    /// The crate's directory.
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
}

impl Scaffold {
    /// Where `cargo build --release` puts the component.
    pub fn artifact(&self) -> PathBuf {
        self.dir.join(format!(
            "target/wasm32-wasip2/release/{}.wasm",
            self.name.replace('-', "_")
        ))
    }
}

impl fmt::Display for Scaffold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "created plugin crate `{}` in {}",
            self.name,
            self.dir.display()
        )?;
        writeln!(
            f,
            "build it:   cd {} && cargo build --release",
            self.dir.display()
        )?;
        writeln!(
            f,
            "install it: teamster plugin install {}",
            self.artifact().display()
        )
    }
}

/// Writes a new plugin crate named `name` into `dir` (created; must be absent or empty).
pub fn new_scaffold(name: &str, dir: &Path, sdk: &SdkSource) -> Result<Scaffold, PluginError> {
    if !valid_name(name) {
        return Err(PluginError::InvalidName {
            name: name.to_string(),
        });
    }
    let err = |source| PluginError::Scaffold {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() && std::fs::read_dir(dir).map_err(err)?.next().is_some() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the directory is not empty",
        )));
    }
    let sdk_dep = match sdk {
        SdkSource::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        SdkSource::Version(version) => format!("{version:?}"),
    };
    let files: Vec<(&str, String)> = vec![
        ("Cargo.toml", cargo_toml(name, &sdk_dep)),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
        (".gitignore", "/target\n".to_string()),
        ("src/lib.rs", lib_rs(name)),
    ];
    for (file, content) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&path, content).map_err(err)?;
    }
    Ok(Scaffold {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        files: files.iter().map(|(f, _)| PathBuf::from(f)).collect(),
    })
}

/// Builds for the plugin target by default, so a bare `cargo build` does the right thing,
/// with wasm SIMD as for the first-party plugins (it speeds up `Needle`, and so
/// `ready-check`).
const CARGO_CONFIG: &str = "[build]\ntarget = \"wasm32-wasip2\"\n\n\
[target.wasm32-wasip2]\nrustflags = [\"-Ctarget-feature=+simd128\"]\n";

fn cargo_toml(name: &str, sdk_dep: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A cdylib built for wasm32-wasip2 is a WebAssembly component: the plugin.
crate-type = ["cdylib"]

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
teamster-plugin-sdk = {sdk_dep}

[profile.release]
strip = "debuginfo"

# A standalone crate, even when created inside another workspace.
[workspace]
"#
    )
}

fn lib_rs(name: &str) -> String {
    let template = r###"//! The `NAME` service kind for teamster.
//!
//! Use it in a bundle file:
//!
//! ```toml
//! [services.example]
//! kind = "NAME"
//! config = { command = "python3 -m http.server {port}", ready_line = "Serving HTTP" }
//! ```
//!
//! Other services refer to its port as `${example.port}`.

use serde::Deserialize;
use teamster_plugin_sdk::{Error, Info, Kind, Needle, Process, Readiness, Service, Stream};

/// The service's `config` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// A shell command; `{port}` stands for the service's main port.
    command: String,
    /// A log line that shows the service is ready.
    ready_line: Option<Needle>,
}

struct ThisKind;

impl Kind for ThisKind {
    type Config = Config;

    fn info() -> Info {
        Info::new("NAME", env!("CARGO_PKG_VERSION"), "Describe NAME in one line")
            // Every program `Command::run` may start must be declared here.
            .program("sh")
            .config_schema(
                r##"{"type":"object","required":["command"],"additionalProperties":false,
                    "properties":{"command":{"type":"string"},"ready_line":{"type":"string"}}}"##,
            )
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        let command = match svc.port("main") {
            Some(port) => svc.config.command.replace("{port}", &port.to_string()),
            None => svc.config.command.clone(),
        };
        let mut process = Process::new("sh").args(["-c".to_string(), command]);
        if svc.config.ready_line.is_some() {
            process = process.ready(Readiness::plugin_check());
        }
        Ok(process)
    }

    fn ready_check(svc: &Service<Config>, _stream: Stream, line: &str) -> bool {
        // A `Needle` builds its searcher once; `line.contains` would build one per line.
        svc.config.ready_line.as_ref().is_some_and(|ready| ready.is_in(line))
    }

    /// What other services can refer to, such as `${example.port}`.
    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        Ok(vec![("port".to_string(), svc.main_port()?.to_string())])
    }
}

teamster_plugin_sdk::export_kind!(ThisKind);
"###;
    template.replace("NAME", name)
}
