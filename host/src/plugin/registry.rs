//! The registry of installed plugins and the `teamster plugin …` operations on it.
//!
//! Layout: `<plugins_dir>/<name>/plugin.wasm` plus `manifest.json`, which records what the
//! user saw and agreed to at install time: the declared programs, the grants, and the
//! component's sha256. A component that no longer matches its recorded hash is refused, so
//! grants cannot be carried over to different code by swapping the file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::WIT_PACKAGE;
use super::error::PluginError;
use super::plugin::{Candidate, Plugin, PluginSource, SubcommandInfo, sha256_hex};
use super::plugin_host::PluginHost;
use crate::text::list_or_none;

const WASM_FILE: &str = "plugin.wasm";
const MANIFEST_FILE: &str = "manifest.json";

/// What `manifest.json` records about an installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The kind's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Its one-line summary.
    pub summary: String,
    /// The WIT package it was built for.
    pub wit: String,
    /// sha256 of `plugin.wasm`, in hex.
    pub sha256: String,
    /// Size of `plugin.wasm` in bytes.
    pub size: u64,
    /// Programs it declares.
    pub programs: Vec<String>,
    /// Programs the user granted at install time.
    pub grants: Vec<String>,
    /// Sub-commands it offers.
    pub subcommands: Vec<SubcommandInfo>,
}

/// The result of [`PluginHost::install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPlugin {
    /// What was recorded.
    pub manifest: Manifest,
    /// The plugin's registry directory.
    pub dir: PathBuf,
    /// Whether an older install of the same name was replaced.
    pub replaced: Option<String>,
}

impl fmt::Display for InstalledPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        write!(
            f,
            "installed plugin `{}` {} ({})",
            m.name, m.version, m.summary
        )?;
        if let Some(old) = &self.replaced {
            write!(f, ", replacing version {old}")?;
        }
        writeln!(f)?;
        writeln!(f, "  sha256:   {}", m.sha256)?;
        writeln!(f, "  declares: {}", declared(&m.programs))?;
        writeln!(f, "  granted:  {}", list_or_none(&m.grants))?;
        let refused: Vec<String> = m
            .programs
            .iter()
            .filter(|p| !m.grants.contains(p))
            .cloned()
            .collect();
        if !refused.is_empty() {
            writeln!(
                f,
                "  not granted: {} (the plugin cannot start these unless a bundle grants them with `grants = [...]`)",
                refused.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Where a listed plugin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedSource {
    /// Embedded in teamster.
    Builtin,
    /// In the registry.
    Installed,
}

/// One line of [`PluginList`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSummary {
    /// The kind's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Built in or installed.
    pub source: ListedSource,
    /// Its summary.
    pub summary: String,
}

/// The result of [`PluginHost::list`]: built-in kinds first, then installed ones by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginList(pub Vec<PluginSummary>);

impl fmt::Display for PluginList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .0
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let vwidth = self
            .0
            .iter()
            .map(|p| p.version.len())
            .max()
            .unwrap_or(7)
            .max(7);
        writeln!(
            f,
            "{:<width$}  {:<vwidth$}  {:<9}  SUMMARY",
            "NAME", "VERSION", "SOURCE"
        )?;
        for p in &self.0 {
            let source = match p.source {
                ListedSource::Builtin => "built-in",
                ListedSource::Installed => "installed",
            };
            writeln!(
                f,
                "{:<width$}  {:<vwidth$}  {:<9}  {}",
                p.name, p.version, source, p.summary
            )?;
        }
        Ok(())
    }
}

/// The result of [`PluginHost::inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The kind's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its summary.
    pub summary: String,
    /// Where it comes from.
    pub source: PluginSource,
    /// The WIT package it targets.
    pub wit: String,
    /// Component exports.
    pub exports: Vec<String>,
    /// Component imports.
    pub imports: Vec<String>,
    /// Programs it declares.
    pub programs: Vec<String>,
    /// Programs granted (at install time; everything for built-ins).
    pub grants: Vec<String>,
    /// Its sub-commands.
    pub subcommands: Vec<SubcommandInfo>,
    /// Its config schema.
    pub config_schema: Option<String>,
    /// Whether it lets the host run `setup` ahead of time.
    pub setup_ahead: bool,
    /// Whether its services follow the bundle's clock by default.
    pub follows_clock: bool,
    /// Component size in bytes.
    pub size: usize,
    /// Component sha256 in hex.
    pub sha256: String,
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} ({})", self.name, self.version, self.summary)?;
        writeln!(f, "  source:      {}", self.source)?;
        writeln!(f, "  wit:         {}", self.wit)?;
        writeln!(f, "  size:        {} bytes", self.size)?;
        writeln!(f, "  sha256:      {}", self.sha256)?;
        writeln!(f, "  declares:    {}", declared(&self.programs))?;
        writeln!(f, "  granted:     {}", list_or_none(&self.grants))?;
        let subs: Vec<String> = self
            .subcommands
            .iter()
            .map(|s| format!("{} ({})", s.name, s.summary))
            .collect();
        writeln!(f, "  subcommands: {}", list_or_none(&subs))?;
        writeln!(
            f,
            "  config:      {}",
            if self.config_schema.is_some() {
                "schema published"
            } else {
                "no schema"
            }
        )?;
        writeln!(
            f,
            "  setup:       {}",
            if self.setup_ahead {
                "may run ahead of time (spare data directories)"
            } else {
                "at each start"
            }
        )?;
        writeln!(
            f,
            "  clock:       {}",
            if self.follows_clock {
                "follows the bundle's clock"
            } else {
                "real, unless a bundle sets `faketime = true`"
            }
        )?;
        writeln!(f, "  exports:     {}", list_or_none(&self.exports))?;
        writeln!(f, "  imports:     {}", list_or_none(&self.imports))?;
        Ok(())
    }
}

/// The result of [`PluginHost::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The plugin's name.
    pub name: String,
    /// The version that was installed.
    pub version: String,
    /// The directory that was deleted.
    pub dir: PathBuf,
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "removed plugin `{}` {} ({})",
            self.name,
            self.version,
            self.dir.display()
        )
    }
}

impl PluginHost {
    /// Installs the component at `path` with `grants`: checks it against the WIT world,
    /// rejects forbidden imports, asks it to describe itself, checks that every grant is a
    /// declared program, and records it all in the registry.
    pub fn install(&self, path: &Path, grants: &[String]) -> Result<InstalledPlugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let plugin = Plugin::load(
            self.runtime(),
            Candidate {
                bytes: &bytes,
                origin: path.display().to_string(),
                source: PluginSource::File {
                    path: path.to_path_buf(),
                },
                grants: Some(grants.to_vec()),
                sha256: None,
            },
        )?;
        let info = plugin.describe();
        if PluginHost::builtin_kinds().any(|k| k == info.name) {
            return Err(PluginError::BuiltinName {
                name: info.name.clone(),
            });
        }
        for grant in grants {
            if !info.programs.contains(grant) {
                return Err(PluginError::UndeclaredGrant {
                    plugin: info.name.clone(),
                    program: grant.clone(),
                    declared: info.programs.clone(),
                });
            }
        }
        let granted: Vec<String> = info
            .programs
            .iter()
            .filter(|p| grants.contains(p))
            .cloned()
            .collect();
        let manifest = Manifest {
            name: info.name.clone(),
            version: info.version.clone(),
            summary: info.summary.clone(),
            wit: WIT_PACKAGE.to_string(),
            sha256: plugin.sha256().to_string(),
            size: bytes.len() as u64,
            programs: info.programs.clone(),
            grants: granted,
            subcommands: info.subcommands.clone(),
        };
        let dir = self.config().plugins_dir.join(&manifest.name);
        let replaced = read_manifest(&dir).ok().map(|m| m.version);
        let reg_err = |path: &Path, source| PluginError::Registry {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| reg_err(&dir, e))?;
        // The component goes first and the manifest last: an interrupted install leaves a
        // hash mismatch, which `resolve` reports, never a grant attached to unchecked code.
        write_atomic(&dir.join(WASM_FILE), &bytes).map_err(|e| reg_err(&dir, e))?;
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
        write_atomic(&dir.join(MANIFEST_FILE), &json).map_err(|e| reg_err(&dir, e))?;
        self.forget(&manifest.name);
        Ok(InstalledPlugin {
            manifest,
            dir,
            replaced,
        })
    }

    /// Built-in kinds and installed plugins.
    pub fn list(&self) -> Result<PluginList, PluginError> {
        let mut out = Vec::new();
        for kind in PluginHost::builtin_kinds() {
            let plugin = self.resolve(kind)?;
            let info = plugin.describe();
            out.push(PluginSummary {
                name: info.name.clone(),
                version: info.version.clone(),
                source: ListedSource::Builtin,
                summary: info.summary.clone(),
            });
        }
        for name in installed_names(&self.config().plugins_dir)? {
            let manifest = read_manifest(&self.config().plugins_dir.join(&name))?;
            out.push(PluginSummary {
                name: manifest.name,
                version: manifest.version,
                source: ListedSource::Installed,
                summary: manifest.summary,
            });
        }
        Ok(PluginList(out))
    }

    /// Details of a plugin: a kind name (built in or installed) or a path to a `.wasm` file.
    pub fn inspect(&self, name_or_path: &str) -> Result<Inspection, PluginError> {
        let as_path = Path::new(name_or_path);
        let plugin: Arc<Plugin> = if name_or_path.contains('/') || name_or_path.ends_with(".wasm") {
            self.load_file(as_path)?
        } else {
            self.resolve(name_or_path)?
        };
        let info = plugin.describe();
        Ok(Inspection {
            name: info.name.clone(),
            version: info.version.clone(),
            summary: info.summary.clone(),
            source: plugin.source().clone(),
            wit: WIT_PACKAGE.to_string(),
            exports: plugin.exports.clone(),
            imports: plugin.imports.clone(),
            programs: info.programs.clone(),
            grants: plugin.grants().to_vec(),
            subcommands: info.subcommands.clone(),
            config_schema: info.config_schema.clone(),
            setup_ahead: info.setup_ahead,
            follows_clock: info.follows_clock,
            size: plugin.size,
            sha256: plugin.sha256().to_string(),
        })
    }

    /// Uninstalls a plugin.
    pub fn remove(&self, name: &str) -> Result<Removed, PluginError> {
        if PluginHost::builtin_kinds().any(|k| k == name) {
            return Err(PluginError::BuiltinName {
                name: name.to_string(),
            });
        }
        if !super::plugin::valid_name(name) {
            return Err(PluginError::InvalidName {
                name: name.to_string(),
            });
        }
        let dir = self.config().plugins_dir.join(name);
        if !dir.join(MANIFEST_FILE).is_file() {
            return Err(PluginError::NotInstalled {
                name: name.to_string(),
            });
        }
        let manifest = read_manifest(&dir)?;
        std::fs::remove_dir_all(&dir).map_err(|source| PluginError::Registry {
            path: dir.clone(),
            source,
        })?;
        self.forget(name);
        Ok(Removed {
            name: manifest.name,
            version: manifest.version,
            dir,
        })
    }
}

/// An installed plugin's bytes, after checking them against the manifest.
pub(crate) struct InstalledBytes {
    pub(crate) bytes: Vec<u8>,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
}

/// Reads an installed plugin, or `None` if there is none of that name.
pub(crate) fn read_installed(
    plugins_dir: &Path,
    name: &str,
) -> Result<Option<InstalledBytes>, PluginError> {
    if !super::plugin::valid_name(name) {
        return Ok(None);
    }
    let dir = plugins_dir.join(name);
    if !dir.join(MANIFEST_FILE).is_file() {
        return Ok(None);
    }
    let manifest = read_manifest(&dir)?;
    let wasm = dir.join(WASM_FILE);
    let bytes =
        std::fs::read(&wasm).map_err(|source| PluginError::Registry { path: wasm, source })?;
    let found = sha256_hex(&bytes);
    if found != manifest.sha256 {
        return Err(PluginError::Tampered {
            name: name.to_string(),
            expected: manifest.sha256,
            found,
        });
    }
    Ok(Some(InstalledBytes {
        bytes,
        dir,
        manifest,
    }))
}

/// Names of installed plugins, sorted.
pub(crate) fn installed_names(plugins_dir: &Path) -> Result<Vec<String>, PluginError> {
    let entries = match std::fs::read_dir(plugins_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PluginError::Registry {
                path: plugins_dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(MANIFEST_FILE).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

fn read_manifest(dir: &Path) -> Result<Manifest, PluginError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&path).map_err(|source| PluginError::Registry {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| PluginError::Manifest { path, source })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The declared programs, saying what the list covers: a user grants from it.
fn declared(programs: &[String]) -> String {
    if programs.is_empty() {
        "no programs (it can start nothing)".to_string()
    } else {
        format!(
            "{} (every program it may have teamster start: its service, readiness probes, sub-commands and helpers)",
            programs.join(", ")
        )
    }
}
