//! One service's plugin instance: the [`ServiceHooks`] the orchestrator calls.
//!
//! Each service owns one `Store`, so a plugin that traps or hits a limit takes down only
//! its own instance. After such a failure the instance is *poisoned*: its memory may be
//! half-updated, so every later call fails at once with an error that names the first
//! failure, while other services (and the host) carry on. An error the plugin *returns*
//! (a `result` error string) is an ordinary outcome and does not poison anything.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::bundle::signal::StopSignal;
use wasmtime::Store;

use super::bindings::{ServiceKind, types};
use super::error::CallError;
use super::limits::Export;
use super::logbook::{LogSink, PluginLog, SharedLogBook};
use super::plugin::Plugin;
use super::programs::{Asker, Programs};
use super::run::RunEnv;
use super::service_user::ServiceUser;
use super::state::StoreState;
use crate::bundle::spec::{LinePattern, LogReady, Readiness, ServiceSpec, StreamFilter};
use crate::logs::Stream;
use crate::service::hooks::{CommandSpec, HookError, ServiceHooks};

/// What the host tells a plugin about one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceContext {
    /// The service's name in the bundle.
    pub name: String,
    /// The bundle's project directory.
    pub project_dir: PathBuf,
    /// The service's data directory; created if missing, and the only directory the plugin
    /// can touch.
    pub data_dir: PathBuf,
    /// Ports allocated for the service, by role (`main` at least).
    pub ports: Vec<(String, u16)>,
    /// The service's `config` table (an object; `{}` when absent).
    pub config: serde_json::Value,
}

/// The process a plugin's `configure` asks for, in the host's types. Maps onto the
/// matching fields of [`ServiceSpec`].
#[derive(Debug, Clone)]
pub struct ProcessSpecOut {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Variables set on top of the service's environment.
    pub env: Vec<(String, String)>,
    /// Working directory, resolved against the project directory.
    pub directory: Option<PathBuf>,
    /// The graceful-stop signal, if the plugin chose one.
    pub stop_signal: Option<StopSignal>,
    /// Readiness conditions (all must hold).
    pub ready: Vec<Readiness>,
}

impl ProcessSpecOut {
    /// Writes these fields into `spec`. The bundle's variables come after the plugin's (so
    /// they win), the plugin's directory (resolved against the bundle's) is used when it
    /// gives one, and the bundle's readiness conditions are kept alongside the plugin's.
    pub fn apply_to(self, spec: &mut ServiceSpec) {
        spec.command = self.command;
        let mut env = self.env;
        env.append(&mut spec.env);
        spec.env = env;
        // The plugin knows where its program must run (an app dir, say); the bundle's
        // directory is only the default it was configured from.
        if let Some(dir) = self.directory {
            spec.directory = Some(match &spec.directory {
                Some(base) if dir.is_relative() => base.join(dir),
                _ => dir,
            });
        }
        if let Some(signal) = self.stop_signal {
            spec.stop_signal = signal;
        }
        spec.ready.extend(self.ready);
    }
}

/// A live instance, opened for its service.
pub(crate) struct Live {
    pub(crate) store: Store<StoreState>,
    pub(crate) bindings: ServiceKind,
}

/// Whether the instance can still be called.
pub(crate) enum Slot {
    Live(Box<Live>),
    Poisoned { export: &'static str, cause: String },
}

/// One service's plugin instance. Implements [`ServiceHooks`]; calls are serialised (one
/// store, one thread at a time) and should run on a blocking thread.
pub struct PluginService {
    pub(crate) plugin: Arc<Plugin>,
    pub(crate) ctx: ServiceContext,
    /// Who the service runs as.
    pub(crate) user: ServiceUser,
    /// The kind's cache directory, if the host could make one.
    pub(crate) cache_dir: Option<PathBuf>,
    /// What the service's plugin may have the host start.
    pub(crate) programs: Arc<Programs>,
    /// The service's environment, where programs are found.
    pub(crate) run_env: RunEnv,
    pub(crate) logs: SharedLogBook,
    pub(crate) slot: Mutex<Slot>,
}

impl std::fmt::Debug for PluginService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginService")
            .field("plugin", &self.plugin.info.name)
            .field("service", &self.ctx.name)
            .finish_non_exhaustive()
    }
}

impl PluginService {
    /// The plugin behind this service.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The context the service was opened with.
    pub fn context(&self) -> &ServiceContext {
        &self.ctx
    }

    /// Who the service runs as, as the plugin was told.
    pub fn user(&self) -> &ServiceUser {
        &self.user
    }

    /// The kind's cache directory the plugin was given, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Sends every later plugin message (`host.log`, stdout, stderr) to `sink` too.
    pub fn set_log_sink(&self, sink: Option<LogSink>) {
        self.logs.set_sink(sink);
    }

    /// The most recent plugin messages, oldest first.
    pub fn recent_logs(&self) -> Vec<PluginLog> {
        self.logs.recent()
    }

    /// Whether an earlier failure left the instance unusable.
    pub fn is_poisoned(&self) -> bool {
        matches!(*self.lock(), Slot::Poisoned { .. })
    }

    /// Asks the plugin what process to start. Its program and those of its readiness
    /// probes must pass the program gate; each is replaced by the path the host resolved.
    pub fn configure(&self) -> Result<ProcessSpecOut, HookError> {
        let spec = self.call(Export::Configure, |kind, store| {
            kind.teamster_plugin_kind().call_configure(store)
        })?;
        let mut spec = guest_result(spec)
            .and_then(|spec| self.convert(spec))
            .map_err(|cause| self.hook_error(Export::Configure, cause))?;
        self.admit(Export::Configure, Asker::Main, &mut spec.command)?;
        for ready in &mut spec.ready {
            if let Readiness::Command { argv } = ready {
                self.admit(Export::Configure, Asker::Probe, argv)?;
            }
        }
        Ok(spec)
    }

    /// Passes `argv[0]` through the program gate and replaces it with the resolved path,
    /// so the host starts exactly what it checked.
    fn admit(&self, export: Export, asker: Asker, argv: &mut [String]) -> Result<(), HookError> {
        let Some(program) = argv.first_mut() else {
            return Ok(());
        };
        let resolved = self
            .programs
            .admit(&self.plugin.info.name, asker, program, Some(&self.run_env))
            .map_err(|refusal| HookError {
                plugin: self.plugin.info.name.clone(),
                export: export.name(),
                cause: Box::new(refusal),
            })?;
        *program = resolved.display().to_string();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // The slot is replaced wholesale, never left half-written, so a panic elsewhere
        // while holding the lock does not make its content unsafe to use.
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls one export under its limits; a trap or limit hit poisons the instance.
    fn call<R>(
        &self,
        export: Export,
        f: impl FnOnce(&ServiceKind, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, HookError> {
        let mut slot = self.lock();
        let live = match &mut *slot {
            Slot::Live(live) => live,
            Slot::Poisoned {
                export: first,
                cause,
            } => {
                return Err(self.hook_error(
                    export,
                    CallError::Poisoned {
                        export: first,
                        cause: cause.clone(),
                    },
                ));
            }
        };
        let Live { store, bindings } = &mut **live;
        let bindings = &*bindings;
        let result = self
            .plugin
            .runtime
            .call(store, export, |store| f(bindings, store));
        result.map_err(|cause| {
            *slot = Slot::Poisoned {
                export: export.name(),
                cause: cause.to_string(),
            };
            self.hook_error(export, cause)
        })
    }

    fn hook_error(&self, export: Export, cause: CallError) -> HookError {
        HookError {
            plugin: self.plugin.info.name.clone(),
            export: export.name(),
            cause: Box::new(cause),
        }
    }

    fn convert(&self, spec: types::ProcessSpec) -> Result<ProcessSpecOut, CallError> {
        if spec.program.is_empty() {
            return Err(CallError::Invalid(
                "`configure` returned an empty program".to_string(),
            ));
        }
        let mut command = vec![spec.program];
        command.extend(spec.args);
        let stop_signal = spec.stop_signal.as_deref().map(parse_signal).transpose()?;
        let ready = spec
            .readiness
            .into_iter()
            .filter_map(|r| self.readiness(r).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProcessSpecOut {
            command,
            env: spec.env,
            directory: spec.cwd.map(|dir| self.resolve(&dir)),
            stop_signal,
            ready,
        })
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.ctx.project_dir.join(path)
        }
    }

    fn readiness(&self, r: types::Readiness) -> Result<Option<Readiness>, CallError> {
        let log = |pattern| {
            Readiness::Log(LogReady {
                pattern,
                stream: StreamFilter::Any,
                nth: 1,
            })
        };
        Ok(Some(match r {
            types::Readiness::LogLine(text) => log(LinePattern::Contains(text)),
            types::Readiness::LogRegex(re) => {
                log(LinePattern::Regex(regex::Regex::new(&re).map_err(|e| {
                    CallError::Invalid(format!("readiness regex `{re}`: {e}"))
                })?))
            }
            types::Readiness::Tcp(port) => Readiness::Tcp {
                host: "127.0.0.1".to_string(),
                port,
            },
            types::Readiness::Http(url) => Readiness::Http { url, status: None },
            types::Readiness::UnixSocket(path) => Readiness::Socket {
                path: self.resolve(&path),
            },
            types::Readiness::File(path) => Readiness::File {
                path: self.resolve(&path),
            },
            types::Readiness::Probe(argv) => {
                if argv.is_empty() {
                    return Err(CallError::Invalid(
                        "readiness probe with an empty command".to_string(),
                    ));
                }
                Readiness::Command { argv }
            }
            types::Readiness::PluginCheck => Readiness::Plugin,
            types::Readiness::None => return Ok(None),
        }))
    }
}

fn guest_result<T>(r: Result<T, String>) -> Result<T, CallError> {
    r.map_err(CallError::Guest)
}

/// Accepts every spelling a bundle's `stop_signal` accepts (`SIGINT`, `INT`, `int`, 2).
fn parse_signal(name: &str) -> Result<StopSignal, CallError> {
    name.parse()
        .map_err(|e| CallError::Invalid(format!("bad stop signal `{name}`: {e}")))
}

impl ServiceHooks for PluginService {
    fn setup(&self) -> Result<(), HookError> {
        let r = self.call(Export::Setup, |kind, store| {
            kind.teamster_plugin_kind().call_setup(store)
        })?;
        guest_result(r).map_err(|c| self.hook_error(Export::Setup, c))
    }

    fn ready_check(&self, stream: Stream, line: &str) -> Result<bool, HookError> {
        let stream = match stream {
            Stream::Out => types::Stream::Stdout,
            Stream::Err => types::Stream::Stderr,
        };
        let verdict = self.call(Export::ReadyCheck, |kind, store| {
            kind.teamster_plugin_kind()
                .call_ready_check(store, stream, line)
        })?;
        match verdict {
            types::Verdict::Ready => Ok(true),
            types::Verdict::NotYet => Ok(false),
            // The plugin's verdict, not a fault of its instance: nothing is poisoned.
            types::Verdict::Failed(message) => {
                Err(self.hook_error(Export::ReadyCheck, CallError::Guest(message)))
            }
        }
    }

    fn poststart(&self) -> Result<(), HookError> {
        let r = self.call(Export::Poststart, |kind, store| {
            kind.teamster_plugin_kind().call_poststart(store)
        })?;
        guest_result(r).map_err(|c| self.hook_error(Export::Poststart, c))
    }

    fn subcommand(&self, name: &str, args: &[String]) -> Result<CommandSpec, HookError> {
        let args = args.to_vec();
        let r = self.call(Export::Subcommand, |kind, store| {
            kind.teamster_plugin_kind()
                .call_subcommand(store, name, &args)
        })?;
        let cmd = guest_result(r).map_err(|c| self.hook_error(Export::Subcommand, c))?;
        if cmd.program.is_empty() {
            return Err(self.hook_error(
                Export::Subcommand,
                CallError::Invalid("empty program".to_string()),
            ));
        }
        let mut argv = vec![cmd.program];
        argv.extend(cmd.args);
        self.admit(
            Export::Subcommand,
            Asker::Subcommand(name.to_string()),
            &mut argv,
        )?;
        Ok(CommandSpec {
            argv,
            env: cmd.env,
            cwd: cmd.cwd.map(|d| self.resolve(&d)),
        })
    }

    fn connection_info(&self) -> Result<Vec<(String, String)>, HookError> {
        let r = self.call(Export::ConnectionInfo, |kind, store| {
            kind.teamster_plugin_kind().call_connection_info(store)
        })?;
        let pairs = guest_result(r).map_err(|c| self.hook_error(Export::ConnectionInfo, c))?;
        Ok(pairs.into_iter().map(|c| (c.key, c.value)).collect())
    }
}
