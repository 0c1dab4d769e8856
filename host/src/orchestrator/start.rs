//! Starting a bundle: every service whose needs are ready starts at once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use super::clock::BundleClock;
use super::error::{REPORT_LINES, Reports, ServiceReport, StartError};
use super::event::{Event, EventStream};
use super::run_dir::RunDir;
use super::running::{Running, Shared};
use crate::backend::{Backend, LaunchSpec, LocalBackend, StopPolicy};
use crate::bundle::spec::{BundleSpec, ServiceSpec};
use crate::logs::{ConsoleMode, LogConfig, LogHub};
use crate::ready::ProbeContext;
use crate::service::client::{ClientSide, NoClient};
use crate::service::hooks::ServiceHooks;
use crate::service::run::{Launch, ServiceEvent, ServiceLink, launch};
use crate::timeline::{Phase, Recorder};

/// Default maximum length of one log line before it is split.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// A bundle ready to start. Build it from a file or a [`BundleSpec`].
#[derive(Debug)]
pub struct Bundle {
    spec: BundleSpec,
    console: ConsoleMode,
    /// Where the console writes (stdout unless a live progress display owns the terminal).
    console_writer: Option<ConsoleWriter>,
    publish: bool,
    events: broadcast::Sender<Event>,
    client: Arc<dyn ClientSide>,
    run: Option<RunDir>,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    on_logs: Option<LogsObserver>,
}

/// Where the console writes (see [`Bundle::console_writer`]).
struct ConsoleWriter(Box<dyn std::io::Write + Send>);

impl std::fmt::Debug for ConsoleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleWriter")
    }
}

/// Called once with the bundle's logs as soon as they exist (see [`Bundle::on_logs`]).
struct LogsObserver(Box<dyn FnOnce(LogHub) + Send>);

impl std::fmt::Debug for LogsObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogsObserver")
    }
}

impl Bundle {
    /// A bundle from a validated spec.
    pub fn new(spec: BundleSpec) -> Bundle {
        let (events, _) = broadcast::channel(1024);
        Bundle {
            spec,
            console: ConsoleMode::Quiet,
            console_writer: None,
            publish: false,
            events,
            client: Arc::new(NoClient),
            run: None,
            interrupt: None,
            on_logs: None,
        }
    }

    /// Hands the bundle's logs to `observer` as soon as they exist, before any service
    /// starts: a control server serves them during the start that way.
    pub fn on_logs(mut self, observer: impl FnOnce(LogHub) + Send + 'static) -> Bundle {
        self.on_logs = Some(LogsObserver(Box::new(observer)));
        self
    }

    /// Lets `interrupt` (set to `true`) end the start: what had started is stopped in
    /// order, and [`Bundle::start`] returns [`StartError::Interrupted`] once every tree is
    /// gone. Dropping the start future instead returns at once and leaves the stopping to
    /// the supervisors.
    pub fn interruptible(mut self, interrupt: tokio::sync::watch::Receiver<bool>) -> Bundle {
        self.interrupt = Some(interrupt);
        self
    }

    /// Runs in `run` (made with [`RunDir::create`]) instead of a new run directory: a host
    /// that must name its run before the services start (to a control client) makes it
    /// first.
    pub fn in_run_dir(mut self, run: RunDir) -> Bundle {
        self.run = Some(run);
        self
    }

    /// The client that judges `ready = { client = true }` and runs `client_hooks` (by
    /// default none: such services fail to start, saying so).
    pub fn client(mut self, client: Arc<dyn ClientSide>) -> Bundle {
        self.client = client;
        self
    }

    /// Loads and validates a bundle file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Bundle, crate::bundle::BundleError> {
        Ok(Bundle::new(BundleSpec::load(path.as_ref())?))
    }

    /// Where the console writes instead of stdout: a live progress display passes a writer
    /// that draws the log lines above its status lines.
    pub fn console_writer(mut self, writer: Box<dyn std::io::Write + Send>) -> Bundle {
        self.console_writer = Some(ConsoleWriter(writer));
        self
    }

    /// How service output is echoed (default: quiet, as tests want).
    pub fn console(mut self, mode: ConsoleMode) -> Bundle {
        self.console = mode;
        self
    }

    /// Makes this run the project's current one (`<run_root>/current`), as `teamster up`
    /// does, so `teamster exec` and other commands find it.
    pub fn publish(mut self, yes: bool) -> Bundle {
        self.publish = yes;
        self
    }

    /// The spec.
    pub fn spec(&self) -> &BundleSpec {
        &self.spec
    }

    /// Subscribes to lifecycle events; call before [`Bundle::start`] to see them all.
    pub fn events(&self) -> EventStream {
        EventStream(tokio_stream::wrappers::BroadcastStream::new(
            self.events.subscribe(),
        ))
    }

    /// Starts every service in dependency order and waits until all are ready.
    ///
    /// On failure everything already started is stopped before the error is returned.
    pub async fn start(mut self) -> Result<Running, StartError> {
        self.spec.validate().map_err(StartError::Invalid)?;
        if !self.spec.project_dir.is_dir() {
            return Err(StartError::NoProjectDir {
                path: self.spec.project_dir.clone(),
            });
        }
        // Resolving a kind may compile its plugin (seconds, the first time): off the
        // runtime, as every plugin call is.
        let services = self.spec.services.clone();
        let kinds = tokio::task::spawn_blocking(move || {
            // The spawner's exec overlaps with the plugins' loading.
            if let Ok(bin) = crate::supervisor::supervisor_binary() {
                crate::supervisor::warm_up_spawner(&bin);
            }
            services
                .iter()
                .map(super::kinds::resolve)
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        // A kind that keeps its services on the real clock turns `faketime` off where the
        // bundle did not set it, before the clock is made for the services that follow it.
        for (service, kind) in self.spec.services.iter_mut().zip(&kinds) {
            if let (Some(slot), Some(kind_ref)) = (kind, &service.kind)
                && !kind_ref.faketime_set
                && !slot.plugin.describe().follows_clock
            {
                service.faketime = false;
            }
        }
        let spec = Arc::new(self.spec);
        let mut run = match self.run {
            Some(run) => run,
            None => RunDir::create(&spec.run_root, spec.keep_runs, spec.source.as_deref(), None)
                .map_err(|source| StartError::RunDir {
                    path: spec.run_root.clone(),
                    source,
                })?,
        };
        run.make_cgroup();
        if self.publish {
            run.publish(&spec.run_root)
                .map_err(|source| StartError::RunDir {
                    path: spec.run_root.clone(),
                    source,
                })?;
        }
        // Where every service of the bundle runs: local processes under a supervisor each.
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(
            crate::supervisor::supervisor_binary().map_err(StartError::Supervisor)?,
        ));
        let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        let mut log_config = LogConfig::new(run.logs());
        log_config.console = self.console;
        if let Some(ConsoleWriter(writer)) = self.console_writer {
            log_config.writer = writer;
        }
        log_config.max_line_len = DEFAULT_MAX_LINE_LEN;
        let hub = LogHub::new(log_config, &names).map_err(StartError::Logs)?;
        if let Some(LogsObserver(observer)) = self.on_logs {
            observer(hub.clone());
        }

        let clock = BundleClock::create(&spec, &run, &hub)?;
        let timeline = timeline_of(&spec, &run, &self.events);

        let n = spec.services.len();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            stopping: (0..n).map(|_| AtomicBool::new(false)).collect(),
        });
        let graph = Graph::of(&spec);
        let slots = spec
            .services
            .iter()
            .zip(kinds)
            .enumerate()
            .map(|(i, (s, kind))| Slot {
                effective: Arc::new(s.clone()),
                waiting_on: graph.needs[i].len(),
                kind,
                hooks: None,
                env: Vec::new(),
                cgroup: None,
                link: None,
                progress: Progress::Waiting,
                finished: false,
                spare: None,
            })
            .collect();
        let mut starter = Starter {
            spec: spec.clone(),
            run: run.clone(),
            hub: hub.clone(),
            backend,
            clock: clock.clone(),
            client: self.client.clone(),
            interrupt: self.interrupt.clone(),
            events: self.events.clone(),
            timeline: timeline.clone(),
            ev_tx,
            ev_rx,
            startable: (0..n).filter(|&i| graph.needs[i].is_empty()).collect(),
            graph,
            slots,
            not_ready: n,
            published: std::collections::BTreeMap::new(),
            connections_dirty: false,
            unrecorded: Vec::new(),
        };
        let outcome = starter.run().await;
        let _ = timeline.flush();
        let spare_jobs = match outcome {
            Ok(()) => starter.spare_jobs(),
            Err(_) => Vec::new(),
        };
        let mut running = Running::assemble(super::running::Parts {
            spec,
            run,
            hub,
            clock,
            events: self.events,
            ev_rx: starter.ev_rx,
            dependents: starter.graph.dependents,
            services: starter
                .slots
                .into_iter()
                .map(|s| super::running::ServicePart {
                    effective: s.effective,
                    link: s.link,
                    kind: s.kind,
                    hooks: s.hooks,
                    env: s.env,
                })
                .collect(),
            published: starter.published,
            shared,
            timeline: timeline.clone(),
        });
        match outcome {
            Ok(()) => {
                running.prepare_spares(spare_jobs);
                Ok(running)
            }
            Err(e) => {
                running.stop().await;
                failed_start_picture(&timeline, &e);
                Err(e)
            }
        }
    }
}

impl crate::bundle::BundleBuilder {
    /// Builds the spec and starts it in one step:
    /// `BundleSpec::builder(dir).service(…).start().await`.
    pub async fn start(self) -> Result<Running, StartError> {
        Bundle::new(self.build().map_err(StartError::Invalid)?)
            .start()
            .await
    }
}

/// `needs` as indices, both ways, computed once: the starter and the shutdown follow them
/// instead of searching the bundle by name, so the cost of an event does not grow with the
/// bundle.
#[derive(Debug)]
pub(crate) struct Graph {
    /// For each service, the services it needs.
    pub needs: Vec<Vec<usize>>,
    /// For each service, the services that need it, in declaration order.
    pub dependents: Vec<Vec<usize>>,
}

impl Graph {
    pub(crate) fn of(spec: &BundleSpec) -> Graph {
        let index: std::collections::HashMap<&str, usize> = spec
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let n = spec.services.len();
        let mut needs = vec![Vec::new(); n];
        let mut dependents = vec![Vec::new(); n];
        for (i, s) in spec.services.iter().enumerate() {
            for d in &s.needs {
                let j = *index.get(d.as_str()).expect("needs are validated");
                if !needs[i].contains(&j) {
                    needs[i].push(j);
                    dependents[j].push(i);
                }
            }
        }
        Graph { needs, dependents }
    }
}

/// How far the starter got with one service.
#[derive(Debug, Clone, Copy)]
enum Progress {
    /// Some of its needs are not ready yet.
    Waiting,
    /// Launched at this instant; not ready yet.
    Launched { at: Instant },
    /// Every readiness condition held.
    Ready,
}

/// Everything the starter knows about one service.
struct Slot {
    /// The spec after interpolation and its plugin's `configure`.
    effective: Arc<ServiceSpec>,
    /// How many of the services it needs are not ready yet.
    waiting_on: usize,
    kind: Option<super::kinds::KindSlot>,
    hooks: Option<Arc<dyn ServiceHooks>>,
    /// The service's complete environment, once launched.
    env: Vec<(String, String)>,
    /// Its cgroup, if the run has one.
    cgroup: Option<PathBuf>,
    link: Option<ServiceLink>,
    progress: Progress,
    /// Its task is over: the tree is gone and the pipes are drained.
    finished: bool,
    /// Where its next spare data directory goes, for a kind whose `setup` runs ahead.
    spare: Option<SparePlan>,
}

/// What preparing a service's next spare data directory takes, noted at its start.
struct SparePlan {
    key_dir: PathBuf,
    /// The spec `setup` saw: interpolated, before `configure`.
    spec: Arc<ServiceSpec>,
    /// The environment `setup`'s helpers saw, without the clock.
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

struct Starter {
    spec: Arc<BundleSpec>,
    run: RunDir,
    hub: LogHub,
    /// Where the services run (the local supervisor today; see docs/backends.md).
    backend: Arc<dyn Backend>,
    clock: BundleClock,
    client: Arc<dyn ClientSide>,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    events: broadcast::Sender<Event>,
    /// The run's phases, for `events.jsonl`.
    timeline: Recorder,
    ev_tx: mpsc::UnboundedSender<(usize, ServiceEvent)>,
    ev_rx: mpsc::UnboundedReceiver<(usize, ServiceEvent)>,
    graph: Graph,
    slots: Vec<Slot>,
    /// Services whose needs are all ready and that are not launched yet, in the order
    /// they became startable (declaration order among those that did so at once).
    startable: std::collections::VecDeque<usize>,
    /// How many services are not ready yet.
    not_ready: usize,
    /// Connection info of every ready service, for `${service.key}` and connections.json.
    published: BTreeMap<String, Vec<(String, String)>>,
    /// `published` changed since `connections.json` was last written.
    connections_dirty: bool,
    /// Spawned services not yet in the run's record (written once per burst of events).
    unrecorded: Vec<super::run_dir::ServiceRecord>,
}

impl Starter {
    async fn run(&mut self) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + self.spec.startup_timeout;
        loop {
            while let Some(i) = self.startable.pop_front() {
                self.start_one(i).await?;
            }
            if self.not_ready == 0 {
                return self.write_connections();
            }
            // Once per burst of events rather than once per ready service: a bundle of n
            // services would otherwise write n files of growing size.
            if self.ev_rx.is_empty() {
                self.write_connections()?;
            }
            tokio::select! {
                ev = self.ev_rx.recv() => {
                    let Some((i, ev)) = ev else { unreachable!("the starter holds a sender") };
                    self.on_event(i, ev).await?;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(self.timeout_error().await);
                }
                () = interrupted(self.interrupt.as_mut()) => {
                    return Err(StartError::Interrupted);
                }
            }
        }
    }

    /// The service's environment and working directory, as its spec now stands.
    fn env_and_cwd(
        &self,
        spec: &ServiceSpec,
        data: &std::path::Path,
    ) -> (Vec<(String, String)>, PathBuf) {
        let env = service_env(spec, &self.run, data);
        let cwd = spec
            .directory
            .clone()
            .unwrap_or_else(|| self.spec.project_dir.clone());
        (env, cwd)
    }

    async fn start_one(&mut self, i: usize) -> Result<(), StartError> {
        let name = self.spec.services[i].name.clone();
        self.timeline.record(&name, Phase::Configuring);
        let interpolated = self.slots[i]
            .effective
            .interpolated(&self.published)
            .map_err(StartError::Interpolation)?;
        self.slots[i].effective = Arc::new(interpolated);
        let data = self.run.data(&name);
        if !self.take_spare(i, &data) {
            std::fs::create_dir_all(&data).map_err(|source| StartError::RunDir {
                path: data.clone(),
                source,
            })?;
            if let Some(user) = &self.spec.services[i].user {
                chown_to(&data, user).map_err(|source| StartError::RunDir {
                    path: data.clone(),
                    source,
                })?;
            }
        }
        if let Some(kind) = &self.slots[i].kind {
            let mut spec = (*self.slots[i].effective).clone();
            // The plugin sees the environment the service would have before it configures
            // it; the service's own is built again below from what `configure` made.
            let (mut run_env, cwd) = self.env_and_cwd(&spec, &data);
            if spec.faketime {
                self.clock.apply(&mut run_env);
            }
            let sink = self.hub.sink(&spec.name).expect("every service has a sink");
            // Plugin code may block (instantiation, `configure`, its own output): it runs on
            // a blocking thread, never on the runtime's, which serves every other service.
            let plugin = kind.plugin.clone();
            let place = super::kinds::Placement {
                ports: kind.ports(),
                project_dir: self.spec.project_dir.clone(),
                data_dir: data.clone(),
                env: run_env,
                cwd,
            };
            let (configured, hooks) = tokio::task::spawn_blocking(move || {
                let hooks = super::kinds::configure(&plugin, &mut spec, place, sink);
                (spec, hooks)
            })
            .await
            .map_err(|e| StartError::Configure {
                service: name.clone(),
                source: e.to_string().into(),
            })?;
            let (spec, hooks) = (configured, hooks?);
            self.slots[i].hooks = Some(hooks);
            self.slots[i].effective = Arc::new(spec);
        }
        let spec = self.slots[i].effective.clone();
        for r in &spec.ready {
            if let Some(probe) = crate::ready::already_serving(r).await {
                return Err(StartError::AlreadyRunning {
                    service: spec.name.clone(),
                    probe,
                });
            }
        }
        let (mut env, cwd) = self.env_and_cwd(&spec, &data);
        if spec.faketime {
            self.clock.apply(&mut env);
            if self.clock.is_faking()
                && let Some(program) = spec.command.first().and_then(|p| which(p, &cwd, &env))
                && let Some(warning) = crate::clock::static_binary_warning(&program)
            {
                self.hub.warning(&format!("{}: {warning}", spec.name));
            }
        }
        let grace = spec.shutdown_timeout.unwrap_or(self.spec.shutdown_timeout);
        let launch_spec = LaunchSpec {
            service: spec.name.clone(),
            command: spec.command.clone(),
            env: env.clone(),
            cwd: cwd.clone(),
            user: spec.user.clone(),
            stop: StopPolicy {
                signal: spec.stop_signal,
                grace,
            },
            cgroup: self
                .run
                .cgroup()
                .and_then(|g| crate::process::cgroup::create_service_group(g, &spec.name)),
        };
        let slot = &mut self.slots[i];
        slot.cgroup = launch_spec.cgroup.clone();
        slot.env = env.clone();
        let probe = ProbeContext {
            env,
            inherit_env: false,
            cwd: Some(cwd),
            user: spec.user.clone(),
        };
        let _ = self.events.send(Event::Starting {
            service: spec.name.clone(),
        });
        slot.progress = Progress::Launched { at: Instant::now() };
        slot.link = Some(launch(
            Launch {
                index: i,
                sink: self.hub.sink(&spec.name).expect("every service has a sink"),
                hub: self.hub.clone(),
                spec,
                launch_spec,
                backend: self.backend.clone(),
                hooks: slot.hooks.clone(),
                client: self.client.clone(),
                probe,
                max_line_len: DEFAULT_MAX_LINE_LEN,
            },
            self.ev_tx.clone(),
        ));
        Ok(())
    }

    /// For a kind that lets `setup` run ahead: takes a spare data directory an earlier
    /// start prepared as `data`, and notes where the next one goes. False when there was
    /// none; the service then starts from an empty directory, as without spares.
    fn take_spare(&mut self, i: usize, data: &std::path::Path) -> bool {
        let Some(kind) = self.slots[i]
            .kind
            .as_ref()
            .filter(|k| k.plugin.describe().setup_ahead)
        else {
            return false;
        };
        let spec = self.slots[i].effective.clone();
        let key_dir = super::spares::key_dir(
            &self.spec.run_root,
            &self.spec.project_dir,
            &kind.plugin,
            &spec,
        );
        let sink = self.hub.sink(&spec.name).expect("every service has a sink");
        let took = match super::spares::take(&key_dir, data) {
            Ok(took) => took,
            Err(e) => {
                sink.push(
                    crate::logs::Stream::Err,
                    format!(
                        "[teamster] cannot take a spare data directory from `{}`: {e}",
                        key_dir.display()
                    ),
                );
                false
            }
        };
        if took {
            sink.push(
                crate::logs::Stream::Out,
                "[teamster] data directory: a spare that `setup` prepared after an earlier start"
                    .to_owned(),
            );
        }
        let (env, cwd) = self.env_and_cwd(&spec, data);
        self.slots[i].spare = Some(SparePlan {
            key_dir,
            spec,
            env,
            cwd,
        });
        took
    }

    /// The spares to prepare now that every service is ready.
    fn spare_jobs(&self) -> Vec<super::spares::Job> {
        self.slots
            .iter()
            .filter_map(|slot| {
                let plan = slot.spare.as_ref()?;
                let kind = slot.kind.as_ref()?;
                let sink = self.hub.sink(&plan.spec.name)?;
                Some(super::spares::Job {
                    plugin: kind.plugin.clone(),
                    key_dir: plan.key_dir.clone(),
                    spec: plan.spec.clone(),
                    project_dir: self.spec.project_dir.clone(),
                    ports: kind.ports(),
                    env: plan.env.clone(),
                    cwd: plan.cwd.clone(),
                    report: Box::new(move |line| {
                        sink.push(crate::logs::Stream::Err, line);
                    }),
                })
            })
            .collect()
    }

    /// Marks a service ready and makes startable every dependent whose last need it was.
    fn mark_ready(&mut self, i: usize) {
        self.slots[i].progress = Progress::Ready;
        self.not_ready -= 1;
        for &d in &self.graph.dependents[i] {
            let slot = &mut self.slots[d];
            slot.waiting_on -= 1;
            if slot.waiting_on == 0 {
                self.startable.push_back(d);
            }
        }
    }

    async fn on_event(&mut self, i: usize, ev: ServiceEvent) -> Result<(), StartError> {
        let name = self.spec.services[i].name.clone();
        if let ServiceEvent::Spawned { pid } = &ev {
            // For the reaper, should this host and the supervisor die together.
            self.unrecorded.push(super::run_dir::ServiceRecord {
                name: name.clone(),
                pid: *pid,
                started: crate::process::start_ticks(*pid),
                cgroup: self.slots[i].cgroup.clone(),
            });
        }
        if let Some(public) = ev.public(&name, false) {
            let _ = self.events.send(public);
        }
        if let Some(phase) = ev.phase(&self.slots[i].effective.ready, false) {
            self.timeline.record(&name, phase);
        }
        match ev {
            ServiceEvent::SettingUp
            | ServiceEvent::Spawning
            | ServiceEvent::Poststart
            | ServiceEvent::Spawned { .. } => {}
            ServiceEvent::Ready { elapsed } => {
                self.mark_ready(i);
                self.publish(i).await?;
                self.hub
                    .message(&format!("{name} is ready ({} ms)", elapsed.as_millis()));
            }
            ServiceEvent::Exited { status, elapsed } => {
                self.wait_finished(i).await;
                let mut report = self.report(
                    i,
                    format!("{} before it was ready", status.ended()),
                    Some(elapsed),
                );
                report.exit = Some(status);
                return Err(StartError::ServiceFailed(Box::new(report)));
            }
            ServiceEvent::Failed { reason, elapsed } => {
                self.wait_finished(i).await;
                // A kind service's reason may be its plugin's own message, which can end in
                // advice (a refusal says how to grant a program): the time must not be
                // glued onto text the host did not write, so it goes first.
                let (what, elapsed) = if self.slots[i].hooks.is_some() {
                    let secs = elapsed.as_secs_f64();
                    (format!("failed after {secs:.2}s: {reason}"), None)
                } else {
                    (format!("failed: {reason}"), Some(elapsed))
                };
                return Err(StartError::ServiceFailed(Box::new(
                    self.report(i, what, elapsed),
                )));
            }
            ServiceEvent::Finished => self.slots[i].finished = true,
        }
        Ok(())
    }

    /// Records a ready service's connection info, for dependents and `connections.json`.
    async fn publish(&mut self, i: usize) -> Result<(), StartError> {
        let spec = self.slots[i].effective.clone();
        let info = match &self.slots[i].hooks {
            Some(h) => {
                let h = h.clone();
                tokio::task::spawn_blocking(move || h.connection_info())
                    .await
                    .map_err(|e| StartError::Configure {
                        service: spec.name.clone(),
                        source: e.to_string().into(),
                    })?
                    .map_err(|e| StartError::Configure {
                        service: spec.name.clone(),
                        source: Box::new(e),
                    })?
            }
            None => spec.connection.clone(),
        };
        self.published.insert(spec.name.clone(), info);
        self.connections_dirty = true;
        Ok(())
    }

    /// Adds the services spawned since the last call to the run's record.
    fn record_spawned(&mut self) {
        if self.unrecorded.is_empty() {
            return;
        }
        let _ = self.run.record_services(&self.unrecorded);
        self.unrecorded.clear();
    }

    /// Writes `connections.json` if a service was published since the last write.
    fn write_connections(&mut self) -> Result<(), StartError> {
        self.record_spawned();
        if !self.connections_dirty {
            return Ok(());
        }
        write_connections(&self.run, &self.published)?;
        self.connections_dirty = false;
        Ok(())
    }

    /// Waits (bounded) for a service's pipes to be drained, so its report has its last lines.
    async fn wait_finished(&mut self, i: usize) {
        let limit = tokio::time::sleep(Duration::from_secs(3));
        tokio::pin!(limit);
        while !self.slots[i].finished {
            tokio::select! {
                ev = self.ev_rx.recv() => match ev {
                    Some((j, ServiceEvent::Finished)) => self.slots[j].finished = true,
                    Some(_) => {}
                    None => break,
                },
                _ = &mut limit => break,
            }
        }
    }

    fn report(&self, i: usize, what: String, elapsed: Option<Duration>) -> ServiceReport {
        let spec = &self.slots[i].effective;
        let last_lines = self
            .hub
            .service(&spec.name)
            .and_then(|l| l.tail(REPORT_LINES).ok())
            .unwrap_or_default();
        ServiceReport {
            service: spec.name.clone(),
            what,
            waiting_for: spec.ready.iter().map(|r| r.to_string()).collect(),
            elapsed,
            last_lines,
            hint: None,
            exit: None,
        }
    }

    async fn timeout_error(&mut self) -> StartError {
        let mut reports = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let (what, elapsed) = match (slot.progress, &slot.link) {
                (Progress::Ready, _) => continue,
                (Progress::Launched { at }, Some(link)) => (
                    format!("was still {}", link.state.borrow().clone()),
                    Some(at.elapsed()),
                ),
                _ => {
                    let waiting: Vec<String> = self.graph.needs[i]
                        .iter()
                        .filter(|&&d| !matches!(self.slots[d].progress, Progress::Ready))
                        .map(|&d| format!("`{}`", self.spec.services[d].name))
                        .collect();
                    (
                        format!("never started: it needs {}", waiting.join(", ")),
                        None,
                    )
                }
            };
            let mut report = self.report(i, what, elapsed);
            if slot.link.is_some() {
                report.hint = self.clock.hang_hint(&slot.effective, &report.last_lines);
            }
            reports.push(report);
        }
        StartError::Timeout {
            timeout: self.spec.startup_timeout,
            not_ready: Reports(reports),
        }
    }
}

/// A recorder for the run's timeline, with every service waiting for its needs at once.
fn timeline_of(spec: &BundleSpec, run: &RunDir, events: &broadcast::Sender<Event>) -> Recorder {
    let recorder = Recorder::new(
        Some(run.path().join(crate::timeline::EVENTS_FILE)),
        Some(events.clone()),
    );
    for s in &spec.services {
        let needs = s.needs.clone();
        recorder.record(&s.name, Phase::Waiting { needs });
    }
    recorder
}

/// Draws a failed start next to its logs, so the failure message can point at it. The
/// start has failed already: a picture that cannot be written is not another error.
fn failed_start_picture(timeline: &Recorder, error: &StartError) {
    if matches!(error, StartError::Interrupted) {
        return;
    }
    let _ = timeline.flush();
    if let Some(path) = timeline.failed_start_svg() {
        let picture = crate::timeline::Timeline::from_entries(&timeline.entries()).svg();
        let _ = std::fs::write(path, picture);
    }
}

/// Resolves once `interrupt` holds `true`; never without one (or once its sender is gone).
async fn interrupted(interrupt: Option<&mut tokio::sync::watch::Receiver<bool>>) {
    match interrupt {
        Some(rx) => {
            if rx.wait_for(|i| *i).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

fn service_env(spec: &ServiceSpec, run: &RunDir, data: &std::path::Path) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = if spec.inherit_env {
        std::env::vars().collect()
    } else {
        BTreeMap::new()
    };
    env.insert("TEAMSTER_SERVICE".into(), spec.name.clone());
    env.insert(
        "TEAMSTER_RUN_DIR".into(),
        run.path().to_string_lossy().into_owned(),
    );
    env.insert(
        "TEAMSTER_DATA_DIR".into(),
        data.to_string_lossy().into_owned(),
    );
    for (k, v) in &spec.env {
        env.insert(k.clone(), v.clone());
    }
    env.into_iter().collect()
}

/// Writes `<run>/connections.json` atomically: `{ "service": { "key": "value" } }`.
fn write_connections(
    run: &RunDir,
    published: &BTreeMap<String, Vec<(String, String)>>,
) -> Result<(), StartError> {
    let map: BTreeMap<&str, BTreeMap<&str, &str>> = published
        .iter()
        .map(|(s, kv)| {
            (
                s.as_str(),
                kv.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            )
        })
        .collect();
    let path = run.path().join("connections.json");
    let tmp = run.path().join(".connections.json.tmp");
    let err = |source| StartError::RunDir {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, serde_json::to_vec_pretty(&map).expect("serializable")).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

/// The file the service's program will run, looked up as its `execvp` will: in its `PATH`,
/// from its working directory.
fn which(program: &str, cwd: &std::path::Path, env: &[(String, String)]) -> Option<PathBuf> {
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsStr::new(v));
    crate::process::find_program(std::path::Path::new(program), path, cwd)
}

pub(super) fn chown_to(path: &std::path::Path, user: &str) -> std::io::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(());
    }
    let u = nix::unistd::User::from_name(user)
        .map_err(std::io::Error::from)?
        .ok_or_else(|| std::io::Error::other(format!("user `{user}` does not exist")))?;
    nix::unistd::chown(path, Some(u.uid), Some(u.gid)).map_err(std::io::Error::from)
}
