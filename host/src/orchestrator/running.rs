//! A started bundle: handles to its services, its logs and events, and shutdown.
//!
//! # Caveats
//! Dropping a [`Running`] without calling [`Running::stop`] closes every supervisor's
//! control channel, which makes each supervisor stop its service (stop signal, grace,
//! SIGKILL) on its own. Drop returns at once, so the processes may outlive it by up to the
//! shutdown timeout, and the order of shutdown is not the reverse of the dependencies.
//! Call `stop().await` to wait for a clean, ordered shutdown.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{broadcast, mpsc, watch};

use super::clock::{BundleClock, TravelError};
use super::error::{CrashReport, REPORT_LINES, ServiceReport};
use super::event::{Event, EventStream};
use super::run_dir::RunDir;
use super::subcommand::{Subcommand, SubcommandError};
use crate::bundle::spec::{BundleSpec, ServiceSpec};
use crate::clock::{Travel, TravelReport};
use crate::logs::{LogHub, Logs};
use crate::service::ServiceState;
use crate::service::hooks::ServiceHooks;
use crate::service::run::{ServiceEvent, ServiceLink};
use crate::supervisor::protocol::Control;
use crate::timeline::{Phase, Recorder};

/// How long a stopped bundle waits for the console to print its last lines.
const CONSOLE_SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// What the starter hands over once the start is over, successful or not.
pub(crate) struct Parts {
    pub spec: Arc<BundleSpec>,
    pub run: RunDir,
    pub hub: LogHub,
    pub clock: BundleClock,
    pub events: broadcast::Sender<Event>,
    pub ev_rx: mpsc::UnboundedReceiver<(usize, ServiceEvent)>,
    /// For each service, the services that need it.
    pub dependents: Vec<Vec<usize>>,
    /// Every service, in declaration order.
    pub services: Vec<ServicePart>,
    pub published: std::collections::BTreeMap<String, Vec<(String, String)>>,
    pub shared: Arc<Shared>,
    /// The run's phases, for `events.jsonl`.
    pub timeline: Recorder,
}

/// One service as the starter leaves it.
pub(crate) struct ServicePart {
    /// Its spec after interpolation and `configure`.
    pub effective: Arc<ServiceSpec>,
    /// Its task, if it was launched.
    pub link: Option<ServiceLink>,
    /// Its kind (and port leases), if it has one.
    pub kind: Option<super::kinds::KindSlot>,
    pub hooks: Option<Arc<dyn ServiceHooks>>,
    /// Its complete environment, clock included.
    pub env: Vec<(String, String)>,
}

/// State shared between the handle and its monitor task.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Whether a stop was requested, per service (so an exit is expected).
    pub stopping: Vec<AtomicBool>,
}

/// A handle to one service of a running bundle.
#[derive(Debug, Clone)]
pub struct ServiceHandle {
    spec: Arc<ServiceSpec>,
    hooks: Option<Arc<dyn ServiceHooks>>,
    ports: Vec<(String, u16)>,
    /// What it published once ready, as `Running::connections` has it.
    connection: Arc<Vec<(String, String)>>,
    /// The service's complete environment, clock included.
    env: Arc<Vec<(String, String)>>,
    pub(crate) state: watch::Receiver<ServiceState>,
    pid: watch::Receiver<Option<u32>>,
    logs: Logs,
}

impl ServiceHandle {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The service's effective spec (after plugin `configure`).
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// The pid of the service's main process (also its process group id).
    pub fn pid(&self) -> Option<u32> {
        *self.pid.borrow()
    }

    /// Where the service is in its life.
    pub fn state(&self) -> ServiceState {
        self.state.borrow().clone()
    }

    /// Its logs.
    pub fn logs(&self) -> Logs {
        self.logs.clone()
    }

    /// The ports the host allocated for this service, by role (`main` first).
    pub fn ports(&self) -> &[(String, u16)] {
        &self.ports
    }

    /// The port the host allocated for `role` (`"main"` for the service's own port).
    pub fn port(&self, role: &str) -> Option<u16> {
        self.ports.iter().find(|(r, _)| r == role).map(|(_, p)| *p)
    }

    /// Every connection value the service published once ready (`url`, `host`, `port`,
    /// …): its kind's, or its `connection` table's. The same as
    /// [`Running::connections`] has for it.
    pub fn connections(&self) -> &[(String, String)] {
        &self.connection
    }

    /// One connection value, e.g. `db.connection("url")`; the same as
    /// [`Running::connection`] gives for this service.
    pub fn connection(&self, key: &str) -> Option<&str> {
        self.connection
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Builds one of the service's sub-commands (`psql`, `cli`, `manage`, …) to run in the
    /// service's environment, directory, user and clock.
    pub fn subcommand<S: AsRef<str>>(
        &self,
        name: &str,
        args: impl IntoIterator<Item = S>,
    ) -> Result<Subcommand, SubcommandError> {
        let hooks = self.hooks.as_ref().ok_or_else(|| SubcommandError::NoKind {
            service: self.name().to_owned(),
        })?;
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let spec = hooks
            .subcommand(name, &args)
            .map_err(|source| SubcommandError::Build {
                service: self.name().to_owned(),
                name: name.to_owned(),
                source,
            })?;
        Ok(Subcommand {
            service: self.name().to_owned(),
            spec,
            base_env: self.env.clone(),
            cwd: self.spec.directory.clone().unwrap_or_default(),
            user: self.spec.user.clone(),
            stdin: None,
        })
    }

    /// Waits up to `timeout` for the IPython kernel the service embedded
    /// (`IPython.embed_kernel()`) and finds its connection file, for
    /// `jupyter console --existing <file>` or a `jupyter_client` client. The newest kernel
    /// the service announced wins; see [`crate::kernel`] for where the file is looked for.
    pub async fn kernel(
        &self,
        timeout: std::time::Duration,
    ) -> Result<crate::KernelConnection, crate::KernelError> {
        crate::kernel::find(self.name(), &self.logs, || self.pid(), timeout).await
    }

    /// Process statistics of the service and its whole tree, read from /proc.
    pub fn stats(&self) -> Result<crate::process::ProcessStats, crate::process::ProcessError> {
        let pid = self
            .pid()
            .ok_or(crate::process::ProcessError::NotFound { pid: 0 })?;
        crate::process::stats(pid)
    }
}

/// Sends SIGKILL to every service's tree; usable while `stop` is running.
#[derive(Debug, Clone)]
pub struct KillSwitch {
    controls: Vec<mpsc::UnboundedSender<Control>>,
    /// Spare data directories being prepared are called off too.
    spares: super::spares::CallOff,
}

impl KillSwitch {
    /// SIGKILLs every service's process tree now, and the helpers preparing spares.
    pub fn kill(&self) {
        for c in &self.controls {
            let _ = c.send(Control::Kill);
        }
        self.spares.now();
    }
}

/// A running bundle. Dropping it stops the services (see the module's caveats).
#[must_use = "dropping a running bundle stops it; keep it alive while you use the services"]
#[derive(Debug)]
pub struct Running {
    spec: Arc<BundleSpec>,
    run: RunDir,
    hub: LogHub,
    clock: BundleClock,
    services: Vec<ServiceHandle>,
    links: Vec<Option<ServiceLink>>,
    /// For each service, the services that need it: they stop first.
    dependents: Vec<Vec<usize>>,
    /// Port leases of kind services: held until the bundle is gone.
    _kinds: Vec<Option<super::kinds::KindSlot>>,
    published: std::collections::BTreeMap<String, Vec<(String, String)>>,
    events: broadcast::Sender<Event>,
    crash: watch::Receiver<Option<CrashReport>>,
    shared: Arc<Shared>,
    monitor: tokio::task::JoinHandle<()>,
    timeline: Recorder,
    /// Spare data directories being prepared for the next start.
    spares: super::spares::Spares,
}

impl Running {
    pub(crate) fn assemble(parts: Parts) -> Running {
        let Parts {
            spec,
            run,
            hub,
            clock,
            events,
            ev_rx,
            dependents,
            services: parts,
            published,
            shared,
            timeline,
        } = parts;
        let mut links = Vec::with_capacity(parts.len());
        let mut kinds = Vec::with_capacity(parts.len());
        let services: Vec<ServiceHandle> = parts
            .into_iter()
            .map(|part| {
                let (state, pid) = match &part.link {
                    Some(l) => (l.state.clone(), l.pid.clone()),
                    None => (
                        watch::channel(ServiceState::Pending).1,
                        watch::channel(None).1,
                    ),
                };
                let handle = ServiceHandle {
                    connection: Arc::new(
                        published
                            .get(&part.effective.name)
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    env: Arc::new(part.env),
                    hooks: part.hooks,
                    ports: part
                        .kind
                        .as_ref()
                        .map(|k| {
                            k.leases
                                .iter()
                                .map(|(r, l)| (r.clone(), l.port()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    state,
                    pid,
                    logs: hub
                        .service(&part.effective.name)
                        .expect("every service has logs"),
                    spec: part.effective,
                };
                links.push(part.link);
                kinds.push(part.kind);
                handle
            })
            .collect();
        let (crash_tx, crash) = watch::channel(None);
        let monitor = tokio::spawn(monitor(
            ev_rx,
            events.clone(),
            crash_tx,
            shared.clone(),
            services.clone(),
            timeline.clone(),
        ));
        Running {
            spec,
            run,
            hub,
            clock,
            services,
            links,
            dependents,
            _kinds: kinds,
            published,
            events,
            crash,
            shared,
            monitor,
            timeline,
            spares: super::spares::Spares::default(),
        }
    }

    /// Every phase every service went through so far, as `events.jsonl` will have it.
    pub fn timeline(&self) -> crate::timeline::Timeline {
        crate::timeline::Timeline::from_entries(&self.timeline.entries())
    }

    /// The bundle's spec.
    pub fn spec(&self) -> &BundleSpec {
        &self.spec
    }

    /// Every service, in declaration order.
    pub fn services(&self) -> &[ServiceHandle] {
        &self.services
    }

    /// One service by name.
    pub fn service(&self, name: &str) -> Option<&ServiceHandle> {
        self.services.iter().find(|s| s.name() == name)
    }

    /// The logs of the whole bundle.
    pub fn logs(&self) -> Logs {
        self.hub.logs()
    }

    /// Prints a bundle-level message in the log stream.
    pub fn message(&self, text: &str) {
        self.hub.message(text);
    }

    /// Prints a bundle-level warning in the log stream.
    pub fn warning(&self, text: &str) {
        self.hub.warning(text);
    }

    /// The log hub, for the control server.
    pub(crate) fn log_hub(&self) -> LogHub {
        self.hub.clone()
    }

    /// The clock, for the control server.
    pub(crate) fn clock_handle(&self) -> BundleClock {
        self.clock.clone()
    }

    /// Every service's connection info (`url`, `host`, `port`, …), as in
    /// `<run>/connections.json`.
    pub fn connections(&self) -> &std::collections::BTreeMap<String, Vec<(String, String)>> {
        &self.published
    }

    /// One connection value, e.g. `bundle.connection("db", "url")`.
    pub fn connection(&self, service: &str, key: &str) -> Option<&str> {
        self.published
            .get(service)?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Moves the clock of every service with `faketime` on (the default), at once.
    ///
    /// Relative travels add up; an absolute one sets the clock to that instant. Logs one
    /// bundle line such as `Time travelling to 2026-12-21 10:00:00 UTC (+30d)`.
    pub fn time_travel(&self, travel: impl Into<Travel>) -> Result<TravelReport, TravelError> {
        let report = self.clock.travel(travel.into())?;
        self.hub.message(&report.to_string());
        Ok(report)
    }

    /// What time the bundle's services think it is.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// This run's directory (`<run_root>/runs/<id>`).
    pub fn run_dir(&self) -> &Path {
        self.run.path()
    }

    /// Subscribes to events from now on.
    pub fn events(&self) -> EventStream {
        EventStream(tokio_stream::wrappers::BroadcastStream::new(
            self.events.subscribe(),
        ))
    }

    /// A handle that SIGKILLs everything, for use while [`Running::stop`] runs.
    pub fn kill_switch(&self) -> KillSwitch {
        KillSwitch {
            controls: self
                .links
                .iter()
                .flatten()
                .map(|l| l.control.clone())
                .collect(),
            spares: self.spares.call_off(),
        }
    }

    /// Starts preparing spare data directories for the next start (see `spares`).
    pub(crate) fn prepare_spares(&mut self, jobs: Vec<super::spares::Job>) {
        for job in jobs {
            self.spares.prepare(job);
        }
    }

    /// Resolves when a service exits or fails without having been asked to stop.
    pub async fn crashed(&self) -> CrashReport {
        let mut crash = self.crash.clone();
        loop {
            if let Some(c) = crash.borrow_and_update().clone() {
                return c;
            }
            if crash.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops every service in reverse dependency order and waits until every process tree
    /// is gone and every pipe is drained.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        let n = self.links.len();
        let dependents = &self.dependents;
        let mut done: Vec<bool> = self.links.iter().map(Option::is_none).collect();
        while done.iter().any(|d| !d) {
            let batch: Vec<usize> = (0..n)
                .filter(|&i| !done[i] && dependents[i].iter().all(|&j| done[j]))
                .collect();
            let mut waits = Vec::new();
            for &i in &batch {
                let link = self.links[i].take().expect("not done");
                self.shared.stopping[i].store(true, Ordering::SeqCst);
                let _ = self.events.send(Event::Stopping {
                    service: self.spec.services[i].name.clone(),
                });
                self.timeline
                    .record(&self.spec.services[i].name, Phase::Stopping);
                let _ = link.control.send(Control::Stop);
                waits.push((i, link));
            }
            for (i, link) in waits {
                let _ = link.task.await;
                done[i] = true;
                let _ = self.events.send(Event::Stopped {
                    service: self.spec.services[i].name.clone(),
                });
                self.timeline
                    .record(&self.spec.services[i].name, Phase::Stopped);
            }
        }
        // Began when the bundle was ready; what is left of it is short, and the next
        // start is the faster for it.
        self.spares.finish().await;
        let _ = self.hub.flush();
        let _ = self.timeline.flush();
        // Every pipe is drained: followers end after the last line.
        self.hub.close();
        // Every tree is gone: nothing is left for a reaper.
        self.run.end();
        // The last lines reach the terminal unless it stopped reading.
        self.hub.settle_console(CONSOLE_SETTLE);
    }
}

impl std::ops::Index<&str> for Running {
    type Output = ServiceHandle;

    fn index(&self, name: &str) -> &ServiceHandle {
        self.service(name)
            .unwrap_or_else(|| panic!("no service named `{name}` in this bundle"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropping the control senders closes each supervisor's control channel; each
        // supervisor then stops its tree by itself.
        for link in self.links.iter_mut().filter_map(Option::take) {
            let _ = link.control.send(Control::Stop);
        }
        let _ = self.hub.flush();
        let _ = self.timeline.flush();
        self.monitor.abort();
    }
}

async fn monitor(
    mut ev_rx: mpsc::UnboundedReceiver<(usize, ServiceEvent)>,
    events: broadcast::Sender<Event>,
    crash: watch::Sender<Option<CrashReport>>,
    shared: Arc<Shared>,
    services: Vec<ServiceHandle>,
    timeline: Recorder,
) {
    // An unexpected exit is reported once the service's pipes are drained, so the report
    // carries its very last lines.
    let mut crashed: Vec<Option<(crate::service::ExitStatus, std::time::Duration)>> =
        vec![None; services.len()];
    while let Some((i, ev)) = ev_rx.recv().await {
        let name = services[i].name().to_owned();
        let expected = shared.stopping[i].load(Ordering::SeqCst);
        if let Some(public) = ev.public(&name, expected) {
            let _ = events.send(public);
        }
        if let Some(phase) = ev.phase(&services[i].spec().ready, expected) {
            timeline.record(&name, phase);
        }
        match ev {
            ServiceEvent::Exited { status, elapsed } if !expected => {
                crashed[i] = Some((status, elapsed));
            }
            ServiceEvent::Finished => {
                if let Some((status, elapsed)) = crashed[i].take()
                    && crash.borrow().is_none()
                {
                    let report = ServiceReport {
                        service: name,
                        what: format!("{} while the bundle was running", status.ended()),
                        waiting_for: Vec::new(),
                        elapsed: Some(elapsed),
                        last_lines: services[i].logs().tail(REPORT_LINES).unwrap_or_default(),
                        hint: None,
                        exit: Some(status),
                    };
                    crash.send_replace(Some(CrashReport(Box::new(report))));
                }
            }
            _ => {}
        }
    }
}
