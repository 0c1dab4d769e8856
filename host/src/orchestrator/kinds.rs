//! Plugin kinds in a bundle: resolving them, allocating their ports, and turning a
//! plugin's `configure` answer into the service's effective spec.
//!
//! Kinds are resolved and their config checked before anything starts, so a typo in a
//! kind name or a config key fails the bundle at once instead of after a minute of
//! starting other services. `configure` runs later, right before the service spawns,
//! because by then the services it needs are ready and their connection info is known.

use std::sync::{Arc, OnceLock};

use super::error::StartError;
use crate::bundle::spec::ServiceSpec;
use crate::plugin::{Plugin, PluginHost, PluginHostConfig, PluginService, RunEnv, ServiceContext};
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

/// A kind service between resolution and spawn.
#[derive(Debug)]
pub(crate) struct KindSlot {
    pub plugin: Arc<Plugin>,
    /// The port leases, held for the bundle's whole life.
    pub leases: Vec<(String, PortLease)>,
}

/// Resolves the kind of `spec` (if any), checks its config, and allocates its main port:
/// `port = N` in the config reserves N, anything else (absent or `"auto"`) picks a free one.
pub(crate) fn resolve(spec: &ServiceSpec) -> Result<Option<KindSlot>, StartError> {
    let Some(kind) = &spec.kind else {
        return Ok(None);
    };
    let host = plugin_host().map_err(|m| message_error(&spec.name, m))?;
    let plugin = host
        .resolve(&kind.name)
        .map_err(|e| configure_error(&spec.name, e))?;
    plugin
        .check_config(&spec.name, &kind.config)
        .map_err(|e| configure_error(&spec.name, e))?;
    let ports = port_allocator().map_err(|m| message_error(&spec.name, m))?;
    let lease = match kind.config.get("port") {
        Some(serde_json::Value::Number(n)) => {
            let port = n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| {
                    message_error(&spec.name, format!("`port = {n}` is not a valid port"))
                })?;
            ports.reserve(port)
        }
        _ => ports.allocate(),
    }
    .map_err(|e| configure_error(&spec.name, e))?;
    Ok(Some(KindSlot {
        plugin,
        leases: vec![("main".to_owned(), lease)],
    }))
}

/// Instantiates the plugin for one service and applies its `configure` answer to the spec.
pub(crate) fn configure(
    slot: &KindSlot,
    spec: &mut ServiceSpec,
    project_dir: &std::path::Path,
    data_dir: &std::path::Path,
    env: &[(String, String)],
    cwd: &std::path::Path,
    sink: crate::logs::ServiceSink,
) -> Result<Arc<PluginService>, StartError> {
    let kind = spec.kind.clone().expect("only kind services have a slot");
    let ctx = ServiceContext {
        name: spec.name.clone(),
        project_dir: project_dir.to_path_buf(),
        data_dir: data_dir.to_path_buf(),
        ports: slot
            .leases
            .iter()
            .map(|(role, l)| (role.clone(), l.port()))
            .collect(),
        config: kind.config.clone(),
    };
    let run_env = RunEnv {
        env: env.to_vec(),
        cwd: cwd.to_path_buf(),
        user: spec.user.clone(),
        extra_env: Vec::new(),
    };
    let service = slot
        .plugin
        .instantiate(ctx, run_env, &[])
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
