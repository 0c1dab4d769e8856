//! The WebAssembly runtime shared by all plugins: one `Engine`, its epoch ticker, the
//! `Linker` with exactly the host interfaces plugins may import, the compile cache, and the
//! wrapper that puts every call under its limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::WIT_VERSION;
use super::bindings::ServiceKindPre;
use super::cache::{CacheOutcome, CompileCache};
use super::error::{CallError, EngineError, PluginError};
use super::limits::{CallLimits, Export, Limits};
use super::logbook::{LogBudgetExceeded, Pipe, SharedLogBook};
use super::programs::Programs;
use super::run::RunEnv;
use super::state::{
    CallDeadline, DeadlineExceeded, HostState, MemoryLimitExceeded, MemoryLimiter, RunUsage,
    StoreState,
};

/// How often the ticker advances the engine's epoch. Deadlines are checked against real
/// elapsed time in the epoch callback, so this only bounds how late a deadline can fire.
const TICK: Duration = Duration::from_millis(5);

/// The WASI interfaces plugins may import (any 0.2.x version). Everything the Rust standard
/// library needs, minus sockets; the filesystem only ever holds the data-dir preopen.
const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stderr",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
];

/// The teamster interfaces plugins may import (at exactly [`WIT_VERSION`]).
const ALLOWED_TEAMSTER: &[&str] = &["teamster:plugin/host", "teamster:plugin/types"];

/// The export every plugin must have.
pub(crate) fn kind_export() -> String {
    format!("teamster:plugin/kind@{WIT_VERSION}")
}

/// Engine, linker, cache and limits: everything plugins share.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    linker: Linker<StoreState>,
    pub(crate) cache: CompileCache,
    /// The host's root of the kinds' cache directories (see `kind_cache.rs`).
    pub(crate) kind_cache_root: PathBuf,
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A component that passed every check, ready to instantiate.
pub(crate) struct Loaded {
    pub(crate) pre: ServiceKindPre<StoreState>,
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
    pub(crate) cache: CacheOutcome,
}

/// Instances come from a pool of pre-reserved slots rather than fresh mappings: a service's
/// instance is created and dropped with a few `madvise` calls instead of `mmap`, `mprotect`
/// and `munmap` of its memory and tables, which was a third of the cost of instantiation.
///
/// A memory slot reserves [`MEMORY_RESERVATION`] (or the plugin memory limit if that is
/// larger) instead of the default 4 GiB, which keeps a pool of [`Limits::instances`] slots
/// to a few hundred GiB of address space and costs plugin code an explicit bounds check per
/// access. The store's limiter is asked before the pool, so a memory bomb still reports the
/// configured limit; and since the reservation does not follow the limit below it, every
/// limit shares the same compiled code (and compile cache entries).
fn pool(config: &mut wasmtime::Config, limits: &Limits) {
    let memory = memory_reservation(limits);
    let keep = if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        KEEP_RESIDENT
    } else {
        0
    };
    let instances = limits.instances.max(1);
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        // A Rust component has its main module plus a few adapter shims, with one memory.
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances)
        .total_tables(instances.saturating_mul(4))
        .max_memory_size(memory as usize)
        .linear_memory_keep_resident(keep)
        .table_keep_resident(keep)
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Calls are synchronous: no fiber stacks, so none reserved (each costs a mapping).
        .total_stacks(0);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
}

/// How much of a slot's memory (and of each table) is reset by hand when an instance is
/// dropped, instead of being given back to the kernel.
///
/// A Rust plugin's working set is scattered: the top of its 1 MiB stack, its data segment
/// just above, the first heap pages. Where the kernel has `PAGEMAP_SCAN` (Linux 6.7+) the
/// pool finds the pages the instance wrote and copies the image back over them, up to this
/// many bytes; the next instance in the slot then finds its pages mapped, with no `madvise`,
/// no page faults and no TLB shootdown. That halved instantiation. Beyond the budget the
/// rest is decommitted. Without the ioctl the budget would apply to the lowest bytes of
/// memory, the bottom of the stack that nothing touches, so it is zero there and all of a
/// slot is decommitted.
const KEEP_RESIDENT: usize = 256 * 1024;

/// The address space reserved per plugin memory: [`MEMORY_RESERVATION`], or the memory
/// limit rounded up to whole wasm pages if that is larger.
fn memory_reservation(limits: &Limits) -> u64 {
    const PAGE: u64 = 64 * 1024;
    (limits.memory_bytes as u64)
        .max(MEMORY_RESERVATION)
        .next_multiple_of(PAGE)
}

/// Address space reserved per plugin memory unless the memory limit asks for more.
const MEMORY_RESERVATION: u64 = 256 * 1024 * 1024;

impl Runtime {
    pub(crate) fn new(
        cache_dir: &Path,
        kind_cache_root: &Path,
        limits: Limits,
    ) -> Result<Arc<Self>, PluginError> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(true)
            .memory_reservation(memory_reservation(&limits));
        let mut pooled = config.clone();
        pool(&mut pooled, &limits);
        // The pool reserves its address space up front; where that is refused (a `ulimit
        // -v`, a small `vm.max_map_count`), instances are allocated on demand instead, with
        // the same compiled code.
        let engine = Engine::new(&pooled)
            .or_else(|_| Engine::new(&config))
            .map_err(|e| PluginError::Engine(EngineError(e)))?;
        start_ticker(&engine);
        let linker = new_linker(&engine).map_err(|e| PluginError::Engine(EngineError(e)))?;
        let cache = CompileCache::new(cache_dir.to_path_buf(), &engine);
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache,
            kind_cache_root: kind_cache_root.to_path_buf(),
            limits,
        }))
    }

    /// Compiles (or loads from cache) and checks a component: not corrupt, our WIT version,
    /// no forbidden imports, and linkable against the host.
    pub(crate) fn load(
        &self,
        bytes: &[u8],
        sha256: &str,
        origin: &str,
    ) -> Result<Loaded, PluginError> {
        check_header(bytes, origin)?;
        let (component, cache) = self.cache.load(&self.engine, bytes, sha256, origin)?;
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        check_interfaces(&imports, &exports, origin)?;
        let link_err = |e| PluginError::Link {
            origin: origin.to_string(),
            source: EngineError(e),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(link_err)?;
        let pre = ServiceKindPre::new(instance_pre).map_err(link_err)?;
        Ok(Loaded {
            pre,
            imports,
            exports,
            cache,
        })
    }

    /// A fresh store for one service (or one `describe`), sandboxed: no env, no args, no
    /// network, stdio captured into the log book, and at most the data dir and the kind's
    /// cache dir preopened.
    pub(crate) fn new_store(
        &self,
        plugin: Arc<str>,
        programs: Arc<Programs>,
        run_env: Option<RunEnv>,
        dirs: Preopens<'_>,
    ) -> std::io::Result<Store<StoreState>> {
        let logs = SharedLogBook::new(self.limits.budgets.log_bytes);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(logs.capture(Pipe::Stdout))
            .stderr(logs.capture(Pipe::Stderr));
        if let Some(dir) = dirs.data_dir {
            preopen_data_dir(&mut wasi, dir)?;
        }
        if let Some(dir) = dirs.cache_dir {
            preopen(&mut wasi, dir)?;
        }
        let state = StoreState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: self.limits.memory_bytes,
            },
            host: HostState {
                plugin,
                programs,
                run_env,
                budgets: self.limits.budgets,
                usage: RunUsage::default(),
                deadline: CallDeadline::idle(),
                logs,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_callback(|mut ctx| {
            let clock = &mut ctx.data_mut().host.deadline;
            if clock.host_time.is_zero() {
                return Err(wasmtime::Error::new(DeadlineExceeded {
                    limit: clock.deadline,
                }));
            }
            // Time spent in `host.run` pushes the deadline out by as much.
            let credit = std::mem::take(&mut clock.host_time);
            Ok(UpdateDeadline::Continue(ticks(credit)))
        });
        Ok(store)
    }

    /// Runs `f` (one export call) under the limits of `export`, turning traps and limit hits
    /// into a [`CallError`].
    pub(crate) fn call<R>(
        &self,
        store: &mut Store<StoreState>,
        export: Export,
        f: impl FnOnce(&mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let limits = export.limits(&self.limits);
        prepare_call(store, limits)?;
        let result = f(store);
        store.data().host.logs.end_call();
        result.map_err(|e| classify(e, limits, &store.data().host.logs))
    }
}

/// The directories a store's plugin may see.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Preopens<'a> {
    /// The service's data directory (created when missing).
    pub(crate) data_dir: Option<&'a Path>,
    /// The kind's cache directory (which must exist).
    pub(crate) cache_dir: Option<&'a Path>,
}

/// Preopens the data directory, creating it when missing. Opening first spares a `mkdir`
/// and a `stat` on every start but the first.
fn preopen_data_dir(wasi: &mut WasiCtxBuilder, dir: &Path) -> std::io::Result<()> {
    match preopen(wasi, dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            preopen(wasi, dir)
        }
        other => other,
    }
}

/// Preopens `dir` read-write at its own path, so the plugin can use the path it was given
/// in `service-context` as is.
fn preopen(wasi: &mut WasiCtxBuilder, dir: &Path) -> std::io::Result<()> {
    wasi.preopened_dir(dir, dir.to_string_lossy(), FsPerms::ReadWrite)
        .map(drop)
        .map_err(|e| {
            e.downcast::<std::io::Error>()
                .unwrap_or_else(|e| std::io::Error::other(EngineError(e).to_string()))
        })
}

fn prepare_call(store: &mut Store<StoreState>, limits: CallLimits) -> Result<(), CallError> {
    store.set_fuel(limits.fuel).map_err(|e| CallError::Trap {
        trap: EngineError(e).to_string(),
        output: None,
    })?;
    let host = &mut store.data_mut().host;
    host.deadline = CallDeadline {
        host_time: Duration::ZERO,
        deadline: limits.deadline,
    };
    host.usage = RunUsage::default();
    host.logs.start_call();
    store.set_epoch_deadline(ticks(limits.deadline));
    Ok(())
}

/// Names the cause of a failed call: one of our limits, fuel, or another trap.
fn classify(err: wasmtime::Error, limits: CallLimits, logs: &SharedLogBook) -> CallError {
    if let Some(hit) = err.downcast_ref::<MemoryLimitExceeded>() {
        return CallError::Memory { limit: hit.limit };
    }
    if let Some(hit) = err.downcast_ref::<DeadlineExceeded>() {
        return CallError::Deadline { limit: hit.limit };
    }
    if let Some(hit) = err.downcast_ref::<LogBudgetExceeded>() {
        return CallError::LogBudget { limit: hit.limit };
    }
    if let Some(full) = err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return CallError::PoolFull {
            detail: full.to_string(),
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::OutOfFuel { fuel: limits.fuel },
        Some(Trap::Interrupt) => CallError::Deadline {
            limit: limits.deadline,
        },
        Some(trap) => match logs.panic() {
            Some((message, location)) => CallError::Panic { message, location },
            None => CallError::Trap {
                trap: trap.to_string(),
                output: logs.last_printed(),
            },
        },
        None => CallError::Trap {
            trap: EngineError(err).to_string(),
            output: logs.last_printed(),
        },
    }
}

/// Whole ticks in `d`, plus one for the tick already under way. In milliseconds, because a
/// 128-bit division of nanoseconds showed in the profile of `ready-check`.
fn ticks(d: Duration) -> u64 {
    const TICK_MS: u64 = TICK.as_millis() as u64;
    let ms = d
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()));
    (ms / TICK_MS).saturating_add(1)
}

/// Advances the epoch every [`TICK`] for as long as the engine lives.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("teamster-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    // Without a ticker deadlines never fire, but fuel still bounds every call, so a failed
    // spawn (thread limit reached) degrades rather than aborts.
    drop(spawned);
}

/// Tells a core module or garbage from a component before the compiler does, for a message
/// that says what to do.
fn check_header(bytes: &[u8], origin: &str) -> Result<(), PluginError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(PluginError::NotWasm {
            origin: origin.to_string(),
        });
    }
    // Core modules have version 1 and layer 0; components have layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(PluginError::CoreModule {
            origin: origin.to_string(),
        });
    }
    Ok(())
}

/// Checks names before types: a wrong WIT version or a forbidden import gets its own message
/// instead of a linker error.
fn check_interfaces(
    imports: &[String],
    exports: &[String],
    origin: &str,
) -> Result<(), PluginError> {
    let wanted = kind_export();
    if !exports.contains(&wanted) {
        let other_version = exports
            .iter()
            .chain(imports.iter())
            .find_map(|name| {
                name.strip_prefix("teamster:plugin/")
                    .and_then(|rest| rest.split_once('@'))
            })
            .map(|(_, version)| version.to_string());
        return Err(match other_version {
            Some(found) if found != WIT_VERSION => PluginError::WitVersion {
                origin: origin.to_string(),
                found,
            },
            _ => PluginError::NotAPlugin {
                origin: origin.to_string(),
                exports: exports.to_vec(),
            },
        });
    }
    let mut forbidden = Vec::new();
    for name in imports {
        let (interface, version) = name.split_once('@').unwrap_or((name.as_str(), ""));
        let allowed = if ALLOWED_TEAMSTER.contains(&interface) {
            if version != WIT_VERSION {
                return Err(PluginError::WitVersion {
                    origin: origin.to_string(),
                    found: version.to_string(),
                });
            }
            true
        } else {
            ALLOWED_WASI.contains(&interface) && version.starts_with("0.2.")
        };
        if !allowed {
            forbidden.push(name.clone());
        }
    }
    if !forbidden.is_empty() {
        return Err(PluginError::ForbiddenImports {
            origin: origin.to_string(),
            imports: forbidden,
        });
    }
    Ok(())
}

/// The `ResourceTable` is all the `wasi:io` host functions need.
struct IoTable;

impl wasmtime::component::HasData for IoTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links exactly the interfaces of [`ALLOWED_WASI`] plus the teamster host, and nothing
/// else: no sockets, so a plugin has no way to reach the network.
fn new_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
    use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

    type S = StoreState;
    let mut linker = Linker::<S>::new(engine);
    let l = &mut linker;
    sync::io::error::add_to_linker::<S, IoTable>(l, |s| &mut s.table)?;
    sync::io::poll::add_to_linker::<S, IoTable>(l, |s| &mut s.table)?;
    sync::io::streams::add_to_linker::<S, IoTable>(l, |s| &mut s.table)?;
    clocks::wall_clock::add_to_linker::<S, WasiClocks>(l, S::clocks)?;
    clocks::monotonic_clock::add_to_linker::<S, WasiClocks>(l, S::clocks)?;
    filesystem::preopens::add_to_linker::<S, WasiFilesystem>(l, S::filesystem)?;
    sync::filesystem::types::add_to_linker::<S, WasiFilesystem>(l, S::filesystem)?;
    random::random::add_to_linker::<S, WasiRandom>(l, S::random)?;
    random::insecure::add_to_linker::<S, WasiRandom>(l, S::random)?;
    random::insecure_seed::add_to_linker::<S, WasiRandom>(l, S::random)?;
    cli::exit::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::environment::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stdin::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stdout::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stderr::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_input::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_output::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stdin::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stdout::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stderr::add_to_linker::<S, WasiCli>(l, S::cli)?;
    super::bindings::ServiceKind::add_to_linker::<S, HasSelf<S>>(l, |s| s)?;
    Ok(linker)
}
