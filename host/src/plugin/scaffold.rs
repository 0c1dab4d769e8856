//! `teamster plugin new`: a plugin crate that builds for `wasm32-wasip2` on the first try,
//! on a machine that has nothing of teamster but its binary.
//!
//! The binary carries the plugin SDK's sources, the WIT they are generated from and the
//! versions the workspace locked for the SDK's dependencies (embedded by `build.rs` from
//! `plugin-sdk/`, `wit/` and `Cargo.lock`, so they are those of this very release). A new
//! crate gets them as `sdk/` (a path dependency), `wit/` (beside it, where the SDK's
//! bindings look for it) and `Cargo.lock`: its build needs crates.io only for the SDK's
//! registry dependencies, and none at all (`--offline`) once those are in cargo's cache.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::PluginError;
use super::plugin::valid_name;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/scaffold_sdk.rs"));
}

/// Where the scaffold's `teamster-plugin-sdk` dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The SDK this binary carries, written into the crate as `sdk/` with the WIT in
    /// `wit/`.
    Vendored,
    /// A local checkout (`plugin-sdk/` of the teamster repository).
    Path(PathBuf),
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
            "install it: teamster plugin install --grant sh {}",
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
        SdkSource::Vendored => "{ path = \"sdk\" }".to_string(),
        SdkSource::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("Cargo.toml".into(), cargo_toml(name, &sdk_dep).into_bytes()),
        ("Cargo.lock".into(), cargo_lock(name).into_bytes()),
        (".cargo/config.toml".into(), CARGO_CONFIG.into()),
        (".gitignore".into(), "/target\n".into()),
        ("src/lib.rs".into(), lib_rs(name).into_bytes()),
    ];
    if *sdk == SdkSource::Vendored {
        files.extend(
            embedded::SDK_FILES
                .iter()
                .map(|(file, bytes)| (file.to_string(), bytes.to_vec())),
        );
    }
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

/// The workspace's locked versions of the SDK's dependencies, with the new crate among them
/// as cargo itself would write the file (see `build.rs`), so the first build uses the
/// versions this release was built and tested with, changes nothing (`--locked` works), and
/// works `--offline` once those crates are in cargo's cache.
fn cargo_lock(name: &str) -> String {
    let root = embedded::LOCK_ROOT.replace(embedded::LOCK_ROOT_NAME, name);
    let mut packages: Vec<(&str, &str)> = embedded::LOCK_PACKAGES.to_vec();
    packages.push((name, &root));
    // Cargo orders packages by name (then version, as the embedded list already is).
    packages.sort_by_key(|(name, _)| *name);
    let mut lock = format!("{}\n", embedded::LOCK_HEADER);
    for (_, text) in packages {
        lock.push_str(text);
        lock.push_str("\n\n");
    }
    lock.truncate(lock.len() - 1);
    lock
}

/// The new crate's manifest (`scaffold/Cargo.toml.in`, which `build.rs` also reads to lock
/// the crate's dependencies the way cargo will).
fn cargo_toml(name: &str, sdk_dep: &str) -> String {
    include_str!("scaffold/Cargo.toml.in")
        .replace("NAME", name)
        .replace("SDK_DEP", sdk_dep)
}

fn lib_rs(name: &str) -> String {
    let template = r###"//! The `NAME` service kind for teamster.
//!
//! Use it in a bundle file:
//!
//! ```toml
//! [services.example]
//! kind = "NAME"
//! config = { command = "exec python3 -m http.server {port}", ready_line = "Serving HTTP" }
//! ```
//!
//! Other services refer to its port as `${example.port}`.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Error, Info, JsonSchema, Kind, Needle, PortSetting, Process, Readiness, Service, Stream,
};

/// The service's `config` table. Its JSON schema, which the host checks bundles against
/// (at `teamster check` and `up`) before the plugin sees the config, is derived from it.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// The main port: a number, or "auto" (the default). The host reads it itself and
    /// leases the port; the plugin only checks it and asks `Service::main_port`.
    #[serde(default)]
    port: PortSetting,
    /// A shell command; `{port}` stands for the service's main port.
    command: String,
    /// A log line that shows the service is ready.
    ready_line: Option<Needle>,
}

/// The shell command to run, with the port put in.
fn command_line(config: &Config, port: u16) -> String {
    config.command.replace("{port}", &port.to_string())
}

struct ThisKind;

impl Kind for ThisKind {
    type Config = Config;

    fn info() -> Info {
        Info::new("NAME", env!("CARGO_PKG_VERSION"), "Describe NAME in one line")
            // Every program the host starts for the plugin (the main program, probes,
            // sub-commands, `Command::run`) must be declared here and granted by the user.
            .program("sh")
            .config_schema_of::<Config>()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        svc.config.port.check()?;
        let command = command_line(&svc.config, svc.main_port()?);
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

/// Native unit tests: `cargo test --target "$(rustc -vV | sed -n 's/^host: //p')"`.
#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        serde_json::from_str(json).expect("a valid config")
    }

    #[test]
    fn the_port_goes_into_the_command() {
        let c = config(r#"{"command": "serve --port {port}", "port": 8080}"#);
        assert_eq!(c.port, PortSetting::Fixed(8080));
        assert_eq!(command_line(&c, 8080), "serve --port 8080");
    }

    #[test]
    fn the_ready_line_is_found_in_a_log_line() {
        let c = config(r#"{"command": "serve", "ready_line": "Serving HTTP"}"#);
        let ready = c.ready_line.expect("set");
        assert!(ready.is_in("Serving HTTP on 127.0.0.1 port 8000"));
        assert!(!ready.is_in("starting"));
    }
}
"###;
    template.replace("NAME", name)
}
