//! [`PluginHost`]: one per process. Owns the runtime, knows the built-in kinds and the
//! registry of installed ones, and hands out loaded [`Plugin`]s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::engine::Runtime;
use super::error::PluginError;
use super::limits::Limits;
use super::plugin::{Candidate, Plugin, PluginSource};
use super::registry;

/// Where a plugin host keeps things, and the limits it runs plugins under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginHostConfig {
    /// The registry of installed plugins: `<plugins_dir>/<name>/{plugin.wasm,manifest.json}`.
    pub plugins_dir: PathBuf,
    /// Compiled components, keyed by content hash and engine.
    pub cache_dir: PathBuf,
    /// The kinds' cache directories, `<kind_cache_dir>/<kind>/<version>`, for services that
    /// run as the host's own user and set no `XDG_CACHE_HOME` (see `service-context.cache-dir`).
    pub kind_cache_dir: PathBuf,
    /// Limits of every plugin call.
    pub limits: Limits,
}

impl PluginHostConfig {
    /// The default locations: `$TEAMSTER_HOME/{plugins,cache/components,cache/kinds}` when
    /// `TEAMSTER_HOME` is set, else `$XDG_DATA_HOME/teamster/plugins` and
    /// `$XDG_CACHE_HOME/teamster/{components,kinds}` (with the usual `~/.local/share` and
    /// `~/.cache` fallbacks).
    pub fn from_env() -> Self {
        let var = |key: &str| {
            std::env::var_os(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(home) = var("TEAMSTER_HOME") {
            return PluginHostConfig::in_dir(&home);
        }
        let user_home = var("HOME").unwrap_or_else(std::env::temp_dir);
        let data = var("XDG_DATA_HOME").unwrap_or_else(|| user_home.join(".local/share"));
        let cache = var("XDG_CACHE_HOME").unwrap_or_else(|| user_home.join(".cache"));
        PluginHostConfig {
            plugins_dir: data.join("teamster/plugins"),
            cache_dir: cache.join("teamster/components"),
            kind_cache_dir: cache.join("teamster/kinds"),
            limits: Limits::default(),
        }
    }

    /// Everything under one directory, as with `TEAMSTER_HOME`.
    pub fn in_dir(home: &Path) -> Self {
        PluginHostConfig {
            plugins_dir: home.join("plugins"),
            cache_dir: home.join("cache/components"),
            kind_cache_dir: home.join("cache/kinds"),
            limits: Limits::default(),
        }
    }
}

/// The plugin platform of one process. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runtime: Arc<Runtime>,
    config: PluginHostConfig,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl PluginHost {
    /// Creates the engine (and its epoch ticker thread). Nothing is compiled until a kind is
    /// resolved.
    pub fn new(config: PluginHostConfig) -> Result<Self, PluginError> {
        let runtime = Runtime::new(&config.cache_dir, &config.kind_cache_dir, config.limits)?;
        Ok(PluginHost {
            inner: Arc::new(Inner {
                runtime,
                config,
                loaded: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &PluginHostConfig {
        &self.inner.config
    }

    /// The names of the built-in kinds.
    pub fn builtin_kinds() -> impl Iterator<Item = &'static str> {
        teamster_plugin_artifacts::BUILTIN.iter().map(|a| a.name)
    }

    /// The plugin for `kind`: built in, or installed in the registry. Loaded once per host,
    /// then shared.
    pub fn resolve(&self, kind: &str) -> Result<Arc<Plugin>, PluginError> {
        if let Some(plugin) = self.loaded().get(kind) {
            return Ok(plugin.clone());
        }
        let plugin = Arc::new(self.load_kind(kind)?);
        // Two threads may load the same kind at once; the first to finish wins so that every
        // caller shares one `Plugin`.
        Ok(self
            .loaded()
            .entry(kind.to_string())
            .or_insert(plugin)
            .clone())
    }

    /// Loads a component from a file without installing it (for `plugin inspect <file>`).
    /// Nothing is granted to it.
    pub fn load_file(&self, path: &Path) -> Result<Arc<Plugin>, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let plugin = Plugin::load(
            &self.inner.runtime,
            Candidate {
                bytes: &bytes,
                origin: path.display().to_string(),
                source: PluginSource::File {
                    path: path.to_path_buf(),
                },
                grants: Some(Vec::new()),
                sha256: None,
            },
        )?;
        Ok(Arc::new(plugin))
    }

    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.inner.runtime
    }

    /// Forgets a loaded plugin, so the next `resolve` reads the registry again.
    pub(crate) fn forget(&self, kind: &str) {
        self.loaded().remove(kind);
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Plugin>>> {
        // The map only caches; a panic while holding it cannot leave it inconsistent.
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn load_kind(&self, kind: &str) -> Result<Plugin, PluginError> {
        if let Some(artifact) = teamster_plugin_artifacts::BUILTIN
            .iter()
            .find(|a| a.name == kind)
        {
            return Plugin::load(
                &self.inner.runtime,
                Candidate {
                    bytes: artifact.bytes,
                    origin: format!("built-in kind `{kind}`"),
                    source: PluginSource::Builtin,
                    grants: None,
                    sha256: Some(artifact.sha256),
                },
            );
        }
        match registry::read_installed(&self.inner.config.plugins_dir, kind)? {
            Some(installed) => Plugin::load(
                &self.inner.runtime,
                Candidate {
                    bytes: &installed.bytes,
                    origin: format!("plugin `{kind}`"),
                    source: PluginSource::Installed { dir: installed.dir },
                    grants: Some(installed.manifest.grants),
                    // Just checked against the manifest by `read_installed`.
                    sha256: Some(&installed.manifest.sha256),
                },
            ),
            None => {
                let mut known: Vec<String> =
                    PluginHost::builtin_kinds().map(str::to_string).collect();
                known.extend(registry::installed_names(&self.inner.config.plugins_dir)?);
                Err(PluginError::UnknownKind {
                    kind: kind.to_string(),
                    known,
                })
            }
        }
    }
}
