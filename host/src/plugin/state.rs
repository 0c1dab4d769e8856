//! The state of one plugin `Store`, and the host side of the `host` interface.
//!
//! Each service gets its own store, so its plugin instance, memory, budgets, log and
//! grants are its own. Nothing in here is shared between services except the plugin's
//! name and program lists, which are read-only.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{Level, types, wit_host};
use super::limits::HostBudgets;
use super::logbook::{LogLevel, SharedLogBook};
use super::programs::{Asker, Programs};
use super::run::{self, RunEnv, RunRequest};

/// Raised (as a trap) by the memory limiter.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: usize,
}

/// Raised (as a trap) by the epoch callback.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("deadline of {limit:?} exceeded")]
pub(crate) struct DeadlineExceeded {
    pub(crate) limit: Duration,
}

/// Caps linear memory and tables of one instance.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub(crate) limit: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            // An error (rather than `Ok(false)`) traps at once with a cause we can name;
            // `Ok(false)` would make the guest's allocator abort with a bare `unreachable`.
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Deadline accounting of the current call, kept by the epoch callback.
///
/// The callback runs once the call's deadline, counted in epoch ticks, has passed. Time the
/// host spent in `host.run` meanwhile was not the plugin's, so the callback then extends the
/// deadline by that much rather than trapping. Counting in ticks keeps the clock off the
/// hot path: a `ready-check` reads no time at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallDeadline {
    /// Time spent in `host.run` and not yet added back to the deadline.
    pub(crate) host_time: Duration,
    pub(crate) deadline: Duration,
}

impl CallDeadline {
    pub(crate) fn idle() -> Self {
        CallDeadline {
            host_time: Duration::ZERO,
            deadline: Duration::MAX,
        }
    }
}

/// Per-call use of the `run` budget.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunUsage {
    pub(crate) runs: u32,
    pub(crate) time: Duration,
}

/// The host side of a store.
#[derive(Debug)]
pub(crate) struct HostState {
    pub(crate) plugin: Arc<str>,
    pub(crate) programs: Arc<Programs>,
    /// `None` for the throw-away stores used by `describe`, where `run` is refused.
    pub(crate) run_env: Option<RunEnv>,
    pub(crate) budgets: HostBudgets,
    pub(crate) usage: RunUsage,
    pub(crate) deadline: CallDeadline,
    pub(crate) logs: SharedLogBook,
}

/// Everything a plugin store holds.
pub(crate) struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) host: HostState,
}

impl std::fmt::Debug for StoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreState")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for StoreState {}

impl wit_host::Host for StoreState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.host
            .logs
            .log(level, message)
            .map_err(wasmtime::Error::new)
    }

    fn run(
        &mut self,
        cmd: types::Command,
        stdin: Option<String>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<wit_host::Output, String>> {
        Ok(self.host.run(
            &cmd,
            stdin.as_deref(),
            Duration::from_millis(u64::from(timeout_ms)),
        ))
    }

    fn find_program(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        let run_env = self.host.run_env.clone().unwrap_or_default();
        Ok(run::find_program(&run_env, &name).map(|p| p.display().to_string()))
    }
}

impl HostState {
    /// Checks the program gate ([`Programs::admit`]) and the budgets, then runs the
    /// program. Every refusal is a message for the plugin to pass on to the user.
    fn run(
        &mut self,
        cmd: &types::Command,
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<wit_host::Output, String> {
        let plugin = &self.plugin;
        let resolved = self
            .programs
            .admit(plugin, Asker::Run, &cmd.program, self.run_env.as_ref())
            .map_err(|refusal| refusal.to_string())?;
        let run_env = self
            .run_env
            .as_ref()
            .expect("the gate admits programs only with a service");
        if self.usage.runs >= self.budgets.runs {
            return Err(format!(
                "plugin `{plugin}` exceeded its budget of {} runs per call",
                self.budgets.runs
            ));
        }
        let left = self.budgets.run_time.saturating_sub(self.usage.time);
        if left.is_zero() {
            return Err(format!(
                "plugin `{plugin}` spent its run-time budget of {:?} for this call",
                self.budgets.run_time
            ));
        }
        let req = RunRequest {
            program: &resolved,
            args: &cmd.args,
            env: &cmd.env,
            cwd: cmd.cwd.as_deref().map(Path::new),
            stdin,
            timeout: timeout.min(left),
            max_output: self.budgets.run_output_bytes,
        };
        let started = Instant::now();
        let result = run::run(run_env, &req);
        let spent = started.elapsed();
        self.usage.runs += 1;
        self.usage.time += spent;
        self.deadline.host_time += spent;
        result.map(|out| wit_host::Output {
            exit_code: out.exit_code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}
