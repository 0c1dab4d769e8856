//! A loaded plugin: its compiled component (pre-linked once), what it says about itself,
//! and the grants it runs with. Instantiating it for a service is cheap.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::bindings::{ServiceKindPre, types};
use super::cache::CacheOutcome;
use super::engine::{Preopens, Runtime};
use super::error::{CallError, PluginError};
use super::kind_cache;
use super::limits::Export;
use super::logbook::{LogLevel, SharedLogBook};
use super::programs::Programs;
use super::run::RunEnv;
use super::schema::{self, SchemaError};
use super::service::{Live, PluginService, ServiceContext, Slot};
use super::service_user::ServiceUser;
use super::state::StoreState;

/// A sub-command a kind offers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubcommandInfo {
    /// Its name.
    pub name: String,
    /// One line of help.
    pub summary: String,
}

/// What a kind says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind's name, as in `kind = "…"`.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// One line of description.
    pub summary: String,
    /// Every program it may have the host start, if granted: the service's main program,
    /// readiness probes, sub-commands and `host.run` helpers.
    pub programs: Vec<String>,
    /// Sub-commands it offers.
    pub subcommands: Vec<SubcommandInfo>,
    /// The JSON schema of its config table.
    pub config_schema: Option<String>,
    /// Whether the host may run `setup` ahead of time into a spare data directory.
    pub setup_ahead: bool,
    /// Whether its services follow the bundle's clock unless the bundle says otherwise.
    pub follows_clock: bool,
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Embedded in teamster; granted everything it declares.
    Builtin,
    /// Installed in the registry directory.
    Installed {
        /// The plugin's registry directory.
        dir: PathBuf,
    },
    /// Loaded from a file without installing (for `plugin inspect <file>`).
    File {
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin => f.write_str("built in"),
            PluginSource::Installed { dir } => write!(f, "installed in {}", dir.display()),
            PluginSource::File { path } => write!(f, "file {}", path.display()),
        }
    }
}

/// A loaded, checked plugin. Shared (`Arc`) by every service of its kind.
pub struct Plugin {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) pre: ServiceKindPre<StoreState>,
    pub(crate) info: KindInfo,
    pub(crate) schema: Option<serde_json::Value>,
    pub(crate) source: PluginSource,
    pub(crate) sha256: String,
    pub(crate) size: usize,
    /// Programs granted at install time (built-ins: everything declared).
    pub(crate) grants: Vec<String>,
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
    /// Whether loading compiled the component or found it in the cache.
    pub(crate) cache: CacheOutcome,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.info)
            .field("source", &self.source)
            .field("sha256", &self.sha256)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

/// What a component must provide before it counts as a plugin.
pub(crate) struct Candidate<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) origin: String,
    pub(crate) source: PluginSource,
    /// `None`: grant everything declared (built-ins).
    pub(crate) grants: Option<Vec<String>>,
    /// The sha256 of `bytes` when already known (built-ins hash at build time).
    pub(crate) sha256: Option<&'a str>,
}

impl Plugin {
    /// Loads and checks a component, then asks it to describe itself.
    pub(crate) fn load(
        runtime: &Arc<Runtime>,
        candidate: Candidate<'_>,
    ) -> Result<Plugin, PluginError> {
        let Candidate {
            bytes,
            origin,
            source,
            grants,
            sha256,
        } = candidate;
        let sha256 = sha256.map_or_else(|| sha256_hex(bytes), str::to_string);
        let loaded = runtime.load(bytes, &sha256, &origin)?;
        let info = describe(runtime, &loaded.pre, &origin)?;
        let schema = match &info.config_schema {
            None => None,
            Some(text) => {
                let value: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| PluginError::InvalidInfo {
                        origin: origin.clone(),
                        reason: format!("its config schema is not JSON ({e})"),
                    })?;
                if !value.is_object() {
                    return Err(PluginError::InvalidInfo {
                        origin,
                        reason: "its config schema is not a JSON object".to_string(),
                    });
                }
                Some(value)
            }
        };
        let grants = grants.unwrap_or_else(|| info.programs.clone());
        Ok(Plugin {
            runtime: runtime.clone(),
            pre: loaded.pre,
            info,
            schema,
            source,
            sha256,
            size: bytes.len(),
            grants,
            imports: loaded.imports,
            exports: loaded.exports,
            cache: loaded.cache,
        })
    }

    /// What the kind says about itself.
    pub fn describe(&self) -> &KindInfo {
        &self.info
    }

    /// The JSON schema of the kind's config table, if it publishes one.
    pub fn config_schema(&self) -> Option<&str> {
        self.info.config_schema.as_deref()
    }

    /// Where the plugin came from.
    pub fn source(&self) -> &PluginSource {
        &self.source
    }

    /// The sha256 of the component, in hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether loading found the compiled component in the cache (rather than compiling it).
    pub fn loaded_from_cache(&self) -> bool {
        self.cache == CacheOutcome::Hit
    }

    /// Programs granted at install time (everything declared, for built-ins).
    pub fn grants(&self) -> &[String] {
        &self.grants
    }

    /// Checks a service's config against the kind's schema without instantiating anything.
    pub fn check_config(
        &self,
        service: &str,
        config: &serde_json::Value,
    ) -> Result<(), PluginError> {
        self.validate_config(config)
            .map_err(|source| PluginError::Config {
                service: service.to_string(),
                kind: self.info.name.clone(),
                source,
            })
    }

    /// Checks a config against the kind's schema; the error names the offending key.
    pub fn validate_config(&self, config: &serde_json::Value) -> Result<(), SchemaError> {
        match &self.schema {
            Some(schema) => schema::validate(schema, config),
            None => Ok(()),
        }
    }

    /// Instantiates the plugin for one service: checks the config, creates the data
    /// directory and the kind's cache directory, builds a sandboxed store and opens the
    /// service in the plugin, telling it who the service runs as.
    ///
    /// `grants` are the programs the bundle grants on top of the install-time grants; each
    /// must be one the plugin declares.
    pub fn instantiate(
        self: &Arc<Self>,
        ctx: ServiceContext,
        run_env: RunEnv,
        grants: &[String],
    ) -> Result<PluginService, PluginError> {
        self.check_config(&ctx.name, &ctx.config)?;
        let programs = Arc::new(self.effective_programs(grants)?);
        let open_err = |source: CallError| PluginError::Open {
            plugin: self.info.name.clone(),
            service: ctx.name.clone(),
            source,
        };
        let user = ServiceUser::of(&run_env).map_err(|reason| PluginError::User {
            service: ctx.name.clone(),
            reason,
        })?;
        // Without a cache directory a kind still works, only slower; the reason goes to
        // the service's log once the store (and its log book) exists.
        let cache = kind_cache::prepare(
            &self.runtime.kind_cache_root,
            &self.info.name,
            &self.info.version,
            &run_env,
            &user,
        );
        let mut store = self
            .runtime
            .new_store(
                self.info.name.as_str().into(),
                programs.clone(),
                Some(run_env.clone()),
                Preopens {
                    data_dir: Some(&ctx.data_dir),
                    cache_dir: cache.as_ref().ok().map(PathBuf::as_path),
                },
            )
            .map_err(|source| PluginError::DataDir {
                service: ctx.name.clone(),
                path: ctx.data_dir.clone(),
                source,
            })?;
        let logs: SharedLogBook = store.data().host.logs.clone();
        if let Err(e) = &cache {
            let _ = logs.log(
                LogLevel::Warn,
                format!("no cache directory for kind `{}`: {e}", self.info.name),
            );
        }
        let wit_ctx = types::ServiceContext {
            name: ctx.name.clone(),
            project_dir: ctx.project_dir.display().to_string(),
            data_dir: ctx.data_dir.display().to_string(),
            ports: ctx.ports.clone(),
            config: ctx.config.to_string(),
            user: types::ServiceUser {
                name: user.name.clone(),
                uid: user.uid,
                host_is_root: user.host_is_root,
            },
            cache_dir: cache.as_ref().ok().map(|dir| dir.display().to_string()),
        };
        let pre = &self.pre;
        let opened = self.runtime.call(&mut store, Export::Open, |store| {
            let bindings = pre.instantiate(&mut *store)?;
            let opened = bindings
                .teamster_plugin_kind()
                .call_open(&mut *store, &wit_ctx)?;
            Ok((bindings, opened))
        });
        let bindings = match opened {
            Ok((bindings, Ok(()))) => bindings,
            Ok((_, Err(message))) => return Err(open_err(CallError::Guest(message))),
            Err(e) => return Err(open_err(e)),
        };
        Ok(PluginService {
            plugin: self.clone(),
            ctx,
            user,
            cache_dir: cache.ok(),
            programs,
            run_env,
            logs,
            slot: Mutex::new(Slot::Live(Box::new(Live { store, bindings }))),
        })
    }

    /// Checks that a bundle's `grants` name only programs the plugin declares: a grant of
    /// anything else would be silently meaningless.
    pub fn check_grants(&self, grants: &[String]) -> Result<(), PluginError> {
        match grants.iter().find(|p| !self.info.programs.contains(p)) {
            Some(program) => Err(PluginError::UndeclaredGrant {
                plugin: self.info.name.clone(),
                program: program.clone(),
                declared: self.info.programs.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Declared ∩ (install grants ∪ bundle grants).
    fn effective_programs(&self, extra: &[String]) -> Result<Programs, PluginError> {
        self.check_grants(extra)?;
        let granted = self
            .info
            .programs
            .iter()
            .filter(|p| self.grants.contains(p) || extra.contains(p))
            .cloned()
            .collect();
        Ok(Programs {
            declared: self.info.programs.clone(),
            granted,
        })
    }
}

/// Calls `describe` in a throw-away store where `run` is refused.
fn describe(
    runtime: &Arc<Runtime>,
    pre: &ServiceKindPre<StoreState>,
    origin: &str,
) -> Result<KindInfo, PluginError> {
    let describe_err = |source| PluginError::Describe {
        origin: origin.to_string(),
        source,
    };
    let mut store = runtime
        .new_store(
            origin.into(),
            Arc::new(Programs::default()),
            None,
            Preopens::default(),
        )
        .map_err(|e| {
            describe_err(CallError::Trap {
                trap: e.to_string(),
                output: None,
            })
        })?;
    let raw = runtime
        .call(&mut store, Export::Describe, |store| {
            let bindings = pre.instantiate(&mut *store)?;
            bindings.teamster_plugin_kind().call_describe(&mut *store)
        })
        .map_err(describe_err)?;
    let info = KindInfo {
        name: raw.name,
        version: raw.version,
        summary: raw.summary,
        programs: raw.programs,
        subcommands: raw
            .subcommands
            .into_iter()
            .map(|s| SubcommandInfo {
                name: s.name,
                summary: s.summary,
            })
            .collect(),
        config_schema: raw.config_schema,
        setup_ahead: raw.setup_ahead,
        follows_clock: raw.follows_clock,
    };
    if !valid_name(&info.name) {
        return Err(PluginError::InvalidInfo {
            origin: origin.to_string(),
            reason: format!(
                "its name `{}` is not made of lowercase letters, digits, `-` and `_`",
                info.name
            ),
        });
    }
    if let Some(bad) = info
        .programs
        .iter()
        .find(|p| p.is_empty() || p.contains('/'))
    {
        return Err(PluginError::InvalidInfo {
            origin: origin.to_string(),
            reason: format!("it declares program `{bad}`; declare programs by bare name"),
        });
    }
    Ok(info)
}

/// `[a-z0-9_-]+`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
