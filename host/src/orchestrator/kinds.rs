//! Plugin kinds in a bundle: resolving them, allocating their ports, and turning a
//! plugin's `configure` answer into the service's effective spec.
//!
//! Kinds are resolved and checked before anything starts (the rules of
//! `bundle::validate::validate_kinds`, answered here by [`ProcessKinds`]), so a typo in a
//! kind name, a config key or a grant fails the bundle at once instead of after a minute of
//! starting other services; `teamster check` asks the same rules. `configure` runs later,
//! right before the service spawns, because by then the services it needs are ready and
//! their connection info is known.

use std::sync::{Arc, OnceLock};

use super::error::StartError;
use crate::bundle::spec::{KindRef, ServiceSpec};
use crate::bundle::{KindCheck, KindProblem};
use crate::plugin::{
    Plugin, PluginError, PluginHost, PluginHostConfig, PluginService, RunEnv, ServiceContext,
};
use crate::ports::{PortAllocator, PortLease};

/// One plugin platform per process: the engine and compiled components are shared by
/// every bundle, which is what makes the second bundle of a test run start fast.
static HOST: OnceLock<Result<PluginHost, String>> = OnceLock::new();
static PORTS: OnceLock<Result<PortAllocator, String>> = OnceLock::new();

fn configure_error(service: &str, e: impl std::error::Error + Send + Sync + 'static) -> StartError {
    StartError::Configure {
        service: service.to_owned(),
        source: Box::new(e),
    }
}

fn message_error(service: &str, msg: String) -> StartError {
    StartError::Configure {
        service: service.to_owned(),
        source: msg.into(),
    }
}

/// The process-wide plugin host.
pub fn plugin_host() -> Result<&'static PluginHost, String> {
    HOST.get_or_init(|| {
        PluginHost::new(PluginHostConfig::from_env()).map_err(|e| crate::error_chain(&e))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The process-wide port allocator.
pub fn port_allocator() -> Result<&'static PortAllocator, String> {
    PORTS
        .get_or_init(|| PortAllocator::new().map_err(|e| crate::error_chain(&e)))
        .as_ref()
        .map_err(Clone::clone)
}

/// The kinds of the process-wide plugin host (built in and installed), for bundle
/// validation. The host is created for the first kind service checked, so a bundle
/// without one never starts an engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessKinds;

impl KindCheck for ProcessKinds {
    fn check_kind(&self, kind: &KindRef) -> Result<(), KindProblem> {
        let host = plugin_host().map_err(|message| KindProblem::Unusable(message.into()))?;
        host.check_kind(kind)
    }
}

impl KindCheck for PluginHost {
    fn check_kind(&self, kind: &KindRef) -> Result<(), KindProblem> {
        let plugin = self.resolve(&kind.name).map_err(|e| match e {
            PluginError::UnknownKind { known, .. } => KindProblem::Unknown { known },
            other => KindProblem::Unusable(Box::new(other)),
        })?;
        plugin
            .validate_config(&kind.config)
            .map_err(|e| KindProblem::Config {
                key: e.key().to_owned(),
                value: e.is_about_value(),
                source: Box::new(e),
            })?;
        port_choice(&kind.config).map_err(|e| KindProblem::Config {
            key: "port".to_owned(),
            value: true,
            source: Box::new(e),
        })?;
        match plugin.check_grants(&kind.grants) {
            Ok(()) => Ok(()),
            Err(PluginError::UndeclaredGrant {
                program, declared, ..
            }) => Err(KindProblem::Grant {
                index: kind.grants.iter().position(|g| *g == program).unwrap_or(0),
                declared,
            }),
            Err(other) => Err(KindProblem::Unusable(Box::new(other))),
        }
    }
}

/// The `port` key, which every kind accepts and the host reads itself to lease the
/// service's main port before the plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortChoice {
    /// `port = N`: reserve N.
    Fixed(u16),
    /// `port = "auto"` or no `port`: lease a free one.
    Auto,
}

/// A `port` the host cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`port` must be a port number from 1 to 65535, or \"auto\" to let teamster pick one, not {found}"
)]
pub struct PortError {
    /// The value as JSON.
    found: String,
}

fn port_choice(config: &serde_json::Value) -> Result<PortChoice, PortError> {
    match config.get("port") {
        None => Ok(PortChoice::Auto),
        Some(serde_json::Value::String(text)) if text == "auto" => Ok(PortChoice::Auto),
        Some(other) => other
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .map(PortChoice::Fixed)
            .ok_or_else(|| PortError {
                found: other.to_string(),
            }),
    }
}

/// A kind service between resolution and spawn.
#[derive(Debug)]
pub(crate) struct KindSlot {
    pub plugin: Arc<Plugin>,
    /// The port leases, held for the bundle's whole life.
    pub leases: Vec<(String, PortLease)>,
}

/// Checks the kind of `spec` (if any), resolves it, and allocates its main port: `port = N`
/// in the config reserves N, `"auto"` (or no `port`) picks a free one.
pub(crate) fn resolve(spec: &ServiceSpec) -> Result<Option<KindSlot>, StartError> {
    let Some(kind) = &spec.kind else {
        return Ok(None);
    };
    spec.validate_kind(&ProcessKinds)
        .map_err(StartError::Invalid)?;
    let host = plugin_host().map_err(|m| message_error(&spec.name, m))?;
    let plugin = host
        .resolve(&kind.name)
        .map_err(|e| configure_error(&spec.name, e))?;
    let ports = port_allocator().map_err(|m| message_error(&spec.name, m))?;
    let lease = match port_choice(&kind.config).map_err(|e| configure_error(&spec.name, e))? {
        PortChoice::Fixed(port) => ports.reserve(port),
        PortChoice::Auto => ports.allocate(),
    }
    .map_err(|e| configure_error(&spec.name, e))?;
    Ok(Some(KindSlot {
        plugin,
        leases: vec![("main".to_owned(), lease)],
    }))
}

impl KindSlot {
    /// The allocated ports by role, as the plugin's service context has them.
    pub(crate) fn ports(&self) -> Vec<(String, u16)> {
        self.leases
            .iter()
            .map(|(role, l)| (role.clone(), l.port()))
            .collect()
    }
}

/// Where a kind service will run, as its plugin's `configure` sees it.
#[derive(Debug)]
pub(crate) struct Placement {
    /// Its allocated ports, by role.
    pub ports: Vec<(String, u16)>,
    pub project_dir: std::path::PathBuf,
    pub data_dir: std::path::PathBuf,
    /// The environment the service would have (clock included).
    pub env: Vec<(String, String)>,
    pub cwd: std::path::PathBuf,
}

/// Instantiates the plugin for one service and applies its `configure` answer to the spec.
///
/// This runs plugin code (instantiation, `configure`, and the plugin's own writes to its
/// stdout), which may block: call it off the async runtime.
pub(crate) fn configure(
    plugin: &Arc<Plugin>,
    spec: &mut ServiceSpec,
    place: Placement,
    sink: crate::logs::ServiceSink,
) -> Result<Arc<PluginService>, StartError> {
    let kind = spec.kind.clone().expect("only kind services have a slot");
    let ctx = ServiceContext {
        name: spec.name.clone(),
        project_dir: place.project_dir,
        data_dir: place.data_dir,
        ports: place.ports,
        config: kind.config.clone(),
    };
    let run_env = RunEnv {
        env: place.env,
        cwd: place.cwd,
        user: spec.user.clone(),
        extra_env: Vec::new(),
        abort: Default::default(),
    };
    // The bundle's `grants` add to the install-time grants (checked to be declared
    // programs before the start).
    let service = plugin
        .instantiate(ctx, run_env, &kind.grants)
        .map_err(|e| configure_error(&spec.name, e))?;
    // What the plugin logs (and prints) belongs with the service's own lines.
    service.set_log_sink(Some(Arc::new(move |log: &crate::plugin::PluginLog| {
        use crate::plugin::LogLevel;
        let stream = match log.level {
            LogLevel::Debug | LogLevel::Info => crate::logs::Stream::Out,
            LogLevel::Warn | LogLevel::Error => crate::logs::Stream::Err,
        };
        for line in log.message.lines() {
            sink.push(stream, format!("[plugin] {line}"));
        }
    })));
    let out = service
        .configure()
        .map_err(|e| configure_error(&spec.name, e))?;
    out.apply_to(spec);
    if spec.command.is_empty() {
        return Err(message_error(
            &spec.name,
            format!("plugin `{}` configured no command", kind.name),
        ));
    }
    Ok(Arc::new(service))
}
