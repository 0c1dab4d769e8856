//! The one select loop that drives a service from setup to its last log line.
//!
//! Everything about one service happens here, in one task: reading both output streams (in
//! every phase, so a child can never block on a full pipe), the backend's status stream,
//! log-line readiness (event-driven, checked on each line as it arrives), network and
//! command probes, the plugin hooks, and stop requests. Every branch is cancel-safe: the
//! streams' `next`, `recv` and the phase's futures lose nothing when another branch wins.
//!
//! Where the service runs is the backend's business ([`crate::backend`]): this task hands
//! it a [`LaunchSpec`] and gets back streams and a control sender, so it never names a
//! socket, a supervisor or a wire format.
//!
//! Where the start is lives in one [`Phase`] value whose variants hold what they wait
//! for (the outstanding readiness conditions, the poststart hooks), so nothing can be
//! awaited in a phase where it no longer counts, and the futures of a start step leave
//! with the phase: a stop or an exit drops them. The output is read in every phase; it is
//! not part of it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt as _;

use crate::backend::{Backend, Control, LaunchSpec, LaunchStatus, Launched};
use crate::bundle::spec::{ClientHook, Readiness, ServiceSpec};
use crate::logs::{LineSplitter, LogLine, ServiceSink, Stream};
use crate::ready::{LogMatcher, ProbeContext};
use crate::service::client::ClientSide;
use crate::service::hooks::{HookError, ServiceHooks};
use crate::service::state::{ExitStatus, ServiceState};

/// How long to keep reading the output after the backend's side ended (the supervisor
/// exited): a process that escaped the tree could hold the pipes open forever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// What a service task reports to the orchestrator.
#[derive(Debug)]
pub(crate) enum ServiceEvent {
    /// Its `setup` hooks run (for the run's timeline).
    SettingUp,
    /// The backend is launching it (for the run's timeline).
    Spawning,
    /// Every readiness condition holds; `poststart` runs (for the run's timeline).
    Poststart,
    /// The backend launched it and the service process exists.
    Spawned { pid: u32 },
    /// Every readiness condition holds and poststart ran.
    Ready { elapsed: Duration },
    /// The main process ended.
    Exited {
        status: ExitStatus,
        elapsed: Duration,
    },
    /// Setup, spawn, a hook or a probe failed.
    Failed { reason: String, elapsed: Duration },
    /// The task is over: the tree is gone and the pipes are drained.
    Finished,
}

/// Everything a service task needs.
pub(crate) struct Launch {
    pub index: usize,
    pub spec: Arc<ServiceSpec>,
    /// What the backend starts.
    pub launch_spec: LaunchSpec,
    /// Where it runs.
    pub backend: Arc<dyn Backend>,
    pub sink: ServiceSink,
    pub hub: crate::logs::LogHub,
    pub hooks: Option<Arc<dyn ServiceHooks>>,
    /// Judges `ready = { client = true }` and runs `client_hooks`.
    pub client: Arc<dyn ClientSide>,
    pub probe: ProbeContext,
    pub max_line_len: usize,
}

/// The orchestrator's end of a service task.
#[derive(Debug)]
pub(crate) struct ServiceLink {
    pub control: mpsc::UnboundedSender<Control>,
    pub state: watch::Receiver<ServiceState>,
    pub pid: watch::Receiver<Option<u32>>,
    pub task: tokio::task::JoinHandle<()>,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Starts the task of one service.
pub(crate) fn launch(
    launch: Launch,
    events: mpsc::UnboundedSender<(usize, ServiceEvent)>,
) -> ServiceLink {
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (state_tx, state_rx) = watch::channel(ServiceState::Pending);
    let (pid_tx, pid_rx) = watch::channel(None);
    let task = tokio::spawn(run(launch, control_rx, events, state_tx, pid_tx));
    ServiceLink {
        control: control_tx,
        state: state_rx,
        pid: pid_rx,
        task,
    }
}

fn hook_failed(e: HookError) -> String {
    crate::error_chain(&e)
}

async fn run_hook(
    hooks: Arc<dyn ServiceHooks>,
    f: fn(&dyn ServiceHooks) -> Result<(), HookError>,
) -> Result<(), String> {
    match tokio::task::spawn_blocking(move || f(hooks.as_ref())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(hook_failed(e)),
        Err(e) => Err(format!("plugin hook panicked: {e}")),
    }
}

/// Runs the plugin's hook (if any), then the client's (if the service asks for it): the
/// client's code may rely on what the plugin prepared.
async fn run_phase_hooks(
    hooks: Option<Arc<dyn ServiceHooks>>,
    client: Option<(Arc<dyn ClientSide>, String, Option<u32>)>,
    plugin_hook: fn(&dyn ServiceHooks) -> Result<(), HookError>,
    client_hook: ClientHook,
) -> Result<(), String> {
    if let Some(h) = hooks {
        run_hook(h, plugin_hook).await?;
    }
    if let Some((client, service, pid)) = client {
        client
            .run_hook(&service, client_hook, pid)
            .await
            .map_err(|e| format!("`{}` hook: {e}", client_hook.as_str()))?;
    }
    Ok(())
}

/// Offers every line of the service, from its first, to the controlling client until it
/// says the service is ready.
fn client_readiness(launch: &Launch) -> BoxFut<Result<(), String>> {
    let client = launch.client.clone();
    let name = launch.spec.name.clone();
    let logs = launch.hub.service(&name);
    Box::pin(async move {
        let Some(logs) = logs else {
            return Err(format!("no logs for `{name}`"));
        };
        let mut follow = logs.follow(usize::MAX);
        while let Some(line) = follow.next().await {
            match client.ready_check(&name, &line).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("its output ended before the controlling client found it ready".to_owned())
    })
}

/// What is still missing before the service is ready.
struct Outstanding {
    logs: Vec<LogMatcher>,
    /// The plugin's `ready-check` has not said ready yet.
    plugin: bool,
    /// Lines captured since the last `ready-check` call began, for the next one.
    plugin_lines: Vec<(Stream, String)>,
    /// The `ready-check` call in flight, on a blocking thread.
    plugin_call: Option<BoxFut<Result<bool, String>>>,
    probes: Option<BoxFut<Result<(), String>>>,
    /// The controlling client's verdict, when `ready = { client = true }`.
    client: Option<BoxFut<Result<(), String>>>,
}

impl Outstanding {
    fn satisfied(&self) -> bool {
        self.logs.is_empty() && !self.plugin && self.probes.is_none() && self.client.is_none()
    }

    /// Starts a `ready-check` call for the lines captured so far, if the plugin still has
    /// to judge and no call is in flight.
    ///
    /// Plugin code never runs on the runtime's threads, `ready-check` included: a call
    /// that spins to its deadline would stall every other service of the bundle
    /// on a current-thread runtime. One call takes every line waiting at the time, so the
    /// hop to a blocking thread (tens of microseconds) is paid per burst, not per line,
    /// and only until the service is ready.
    fn start_plugin_call(&mut self, hooks: &Option<Arc<dyn ServiceHooks>>) {
        if !self.plugin || self.plugin_call.is_some() || self.plugin_lines.is_empty() {
            return;
        }
        let Some(hooks) = hooks.clone() else {
            return;
        };
        let lines = std::mem::take(&mut self.plugin_lines);
        self.plugin_call = Some(Box::pin(async move {
            let verdict = tokio::task::spawn_blocking(move || {
                for (stream, text) in &lines {
                    if hooks.ready_check(*stream, text)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await;
            match verdict {
                Ok(Ok(ready)) => Ok(ready),
                Ok(Err(e)) => Err(hook_failed(e)),
                Err(e) => Err(format!("plugin ready-check panicked: {e}")),
            }
        }));
    }
}

/// Where a service's start is, once the backend has launched it. Each variant holds what
/// that phase waits for, so a condition cannot be awaited in a phase where it no longer
/// counts.
enum Phase {
    /// The backend has not confirmed that the process exists; the readiness conditions
    /// already gather what they see (output can arrive before the confirmation).
    Spawning { pending: Outstanding },
    /// The process exists; the conditions still outstanding.
    AwaitingReady { pending: Outstanding },
    /// Every condition held; the `poststart` hooks run.
    PostStart { hooks: BoxFut<Result<(), String>> },
    /// Ready.
    Ready,
    /// A stop was asked for, or a start step failed: nothing more is awaited but the end of
    /// the tree (which the backend stops) and of its output.
    Stopping,
    /// The main process ended before the service was ready, while its plugin still had
    /// lines to judge: the rest of its output is read and judged before the exit is
    /// reported, so that a kind's `failed` verdict on the server's last words (an app that
    /// cannot load, a bad option) is the reason the start gives, not the bare exit.
    Exiting {
        status: ExitStatus,
        pending: Outstanding,
    },
    /// The main process ended (or the backend's side vanished without saying how); the
    /// output drains until every holder has closed it.
    Exited,
}

/// A start step of the current phase that finished.
enum Step {
    Probes(Result<(), String>),
    PluginCall(Result<bool, String>),
    Client(Result<(), String>),
    PostStart(Result<(), String>),
}

impl Phase {
    /// The readiness conditions still outstanding, while the start awaits them.
    fn pending_mut(&mut self) -> Option<&mut Outstanding> {
        match self {
            Phase::Spawning { pending }
            | Phase::AwaitingReady { pending }
            | Phase::Exiting { pending, .. } => Some(pending),
            _ => None,
        }
    }

    /// Whether the phase waits for a future: a probe, a `ready-check` call, the client's
    /// verdict, or poststart.
    fn awaits(&self) -> bool {
        match self {
            Phase::Spawning { pending } | Phase::AwaitingReady { pending } => {
                pending.probes.is_some()
                    || pending.plugin_call.is_some()
                    || pending.client.is_some()
            }
            Phase::Exiting { pending, .. } => pending.plugin_call.is_some(),
            Phase::PostStart { .. } => true,
            Phase::Ready | Phase::Stopping | Phase::Exited => false,
        }
    }

    /// The next of the phase's futures to finish, taken out of its slot. Cancel-safe: a
    /// future stays in its slot until it is done.
    fn next_step(&mut self) -> impl Future<Output = Step> + '_ {
        use std::task::Poll;
        fn take<T>(slot: &mut Option<BoxFut<T>>, cx: &mut std::task::Context<'_>) -> Option<T> {
            let Poll::Ready(out) = slot.as_mut()?.as_mut().poll(cx) else {
                return None;
            };
            *slot = None;
            Some(out)
        }
        std::future::poll_fn(move |cx| match self {
            Phase::Spawning { pending } | Phase::AwaitingReady { pending } => {
                if let Some(out) = take(&mut pending.probes, cx) {
                    return Poll::Ready(Step::Probes(out));
                }
                if let Some(out) = take(&mut pending.plugin_call, cx) {
                    return Poll::Ready(Step::PluginCall(out));
                }
                if let Some(out) = take(&mut pending.client, cx) {
                    return Poll::Ready(Step::Client(out));
                }
                Poll::Pending
            }
            Phase::Exiting { pending, .. } => match take(&mut pending.plugin_call, cx) {
                Some(out) => Poll::Ready(Step::PluginCall(out)),
                None => Poll::Pending,
            },
            Phase::PostStart { hooks } => hooks.as_mut().poll(cx).map(Step::PostStart),
            Phase::Ready | Phase::Stopping | Phase::Exited => Poll::Pending,
        })
    }
}

async fn run(
    launch: Launch,
    mut control_rx: mpsc::UnboundedReceiver<Control>,
    events: mpsc::UnboundedSender<(usize, ServiceEvent)>,
    state: watch::Sender<ServiceState>,
    pid_tx: watch::Sender<Option<u32>>,
) {
    let idx = launch.index;
    let send = |e: ServiceEvent| {
        let _ = events.send((idx, e));
    };
    let started = Instant::now();

    let client_for = |hook: ClientHook| {
        launch.spec.client_hooks.contains(&hook).then(|| {
            (
                launch.client.clone(),
                launch.spec.name.clone(),
                *pid_tx.borrow(),
            )
        })
    };
    if launch.hooks.is_some() || launch.spec.client_hooks.contains(&ClientHook::Setup) {
        state.send_replace(ServiceState::SettingUp);
        send(ServiceEvent::SettingUp);
        let setup = run_phase_hooks(
            launch.hooks.clone(),
            client_for(ClientHook::Setup),
            |h| h.setup(),
            ClientHook::Setup,
        );
        if let Err(reason) = setup.await {
            state.send_replace(ServiceState::Failed(reason.clone()));
            send(ServiceEvent::Failed {
                reason,
                elapsed: started.elapsed(),
            });
            send(ServiceEvent::Finished);
            return;
        }
    }

    state.send_replace(ServiceState::Starting);
    send(ServiceEvent::Spawning);
    let launched = match launch.backend.launch(&launch.launch_spec).await {
        Ok(l) => l,
        Err(e) => {
            let reason = crate::error_chain(&e);
            state.send_replace(ServiceState::Failed(reason.clone()));
            send(ServiceEvent::Failed {
                reason,
                elapsed: started.elapsed(),
            });
            send(ServiceEvent::Finished);
            return;
        }
    };
    let Launched {
        mut stdout,
        mut stderr,
        mut status,
        control,
    } = launched;
    let mut control = Some(control);

    let mut pending = Outstanding {
        logs: Vec::new(),
        plugin: false,
        plugin_lines: Vec::new(),
        plugin_call: None,
        probes: None,
        client: None,
    };
    let mut probes = Vec::new();
    for r in &launch.spec.ready {
        match r {
            Readiness::Log(l) => pending.logs.push(LogMatcher::new(l.clone())),
            Readiness::Plugin => pending.plugin = launch.hooks.is_some(),
            Readiness::Client => pending.client = Some(client_readiness(&launch)),
            other => probes.push(other.clone()),
        }
    }
    if !probes.is_empty() {
        let ctx = launch.probe.clone();
        pending.probes = Some(Box::pin(async move {
            let waits = probes.iter().map(|p| crate::ready::wait_ready(p, &ctx));
            futures_join_all(waits).await
        }));
    }
    let mut phase = Phase::Spawning { pending };
    let exited = |st: ExitStatus| {
        state.send_replace(ServiceState::Exited(st));
        send(ServiceEvent::Exited {
            status: st,
            elapsed: started.elapsed(),
        });
        Phase::Exited
    };
    // The move to Ready, made from two places: every condition held (no poststart), or
    // poststart finished.
    let ready = || {
        state.send_replace(ServiceState::Ready);
        send(ServiceEvent::Ready {
            elapsed: started.elapsed(),
        });
        Phase::Ready
    };

    let mut out_split = LineSplitter::new(launch.max_line_len);
    let mut err_split = LineSplitter::new(launch.max_line_len);
    let (mut out_open, mut err_open, mut status_open) = (true, true, true);
    let mut drain_deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;

    loop {
        if let Some(pending) = phase.pending_mut() {
            // Lines the plugin has not judged yet go to its `ready-check`, one call at a time.
            pending.start_plugin_call(&launch.hooks);
        }
        // Readiness: once every condition holds, run poststart (if any), then report.
        if let Phase::AwaitingReady { pending } = &phase
            && pending.satisfied()
        {
            phase = match (&launch.hooks, client_for(ClientHook::Poststart)) {
                (None, None) => ready(),
                (hooks, client) => {
                    send(ServiceEvent::Poststart);
                    Phase::PostStart {
                        hooks: Box::pin(run_phase_hooks(
                            hooks.clone(),
                            client,
                            |h| h.poststart(),
                            ClientHook::Poststart,
                        )),
                    }
                }
            };
        }
        // An exit held back for the plugin's verdict: reported once the output is read to
        // its end and judged, unless the verdict failed the start.
        if let Phase::Exiting { status, pending } = &phase
            && !out_open
            && !err_open
            && pending.plugin_call.is_none()
            && (pending.plugin_lines.is_empty() || !pending.plugin)
        {
            phase = exited(*status);
        }
        // Done when the backend's side is gone and every stream, the status stream included,
        // is drained: its last status may arrive after the output's end.
        if !out_open && !err_open && !status_open && !matches!(phase, Phase::Exiting { .. }) {
            break;
        }

        tokio::select! {
            chunk = stdout.next(), if out_open => {
                ingest(&launch, Stream::Out, &mut out_split, chunk, &mut out_open, phase.pending_mut());
            },
            chunk = stderr.next(), if err_open => {
                ingest(&launch, Stream::Err, &mut err_split, chunk, &mut err_open, phase.pending_mut());
            },
            st = status.next(), if status_open => match st {
                Some(LaunchStatus::Spawned { pid }) => {
                    pid_tx.send_replace(Some(pid));
                    send(ServiceEvent::Spawned { pid });
                    // Nothing is ready before the backend has confirmed that the process
                    // exists; what was seen before counts.
                    if let Phase::Spawning { .. } = phase
                        && let Phase::Spawning { pending } = std::mem::replace(&mut phase, Phase::Stopping)
                    {
                        phase = Phase::AwaitingReady { pending };
                    }
                }
                Some(LaunchStatus::SpawnFailed { error }) => {
                    state.send_replace(ServiceState::Failed(error.clone()));
                    send(ServiceEvent::Failed { reason: error, elapsed: started.elapsed() });
                    phase = Phase::Stopping;
                }
                Some(LaunchStatus::Exited(st)) => {
                    phase = match std::mem::replace(&mut phase, Phase::Exited) {
                        Phase::Spawning { pending } | Phase::AwaitingReady { pending } if pending.plugin => {
                            Phase::Exiting { status: st, pending }
                        }
                        _ => exited(st),
                    };
                }
                Some(LaunchStatus::Escalated) => {
                    launch.hub.warning(&format!("{} did not stop within its grace period; sent SIGKILL", launch.spec.name));
                }
                Some(LaunchStatus::Orphaned { cleanup }) => {
                    launch.hub.warning(&format!("{}: {cleanup}", launch.spec.name));
                }
                // The backend's side is gone (the supervisor exited).
                None => {
                    status_open = false;
                    if !matches!(phase, Phase::Exited | Phase::Exiting { .. }) {
                        // It ended before its service reported an exit (it was killed; the
                        // backend has killed what the service left).
                        if !matches!(*state.borrow(), ServiceState::Failed(_)) {
                            // Its exit was never reported: it ended in an unknown way.
                            state.send_replace(ServiceState::Exited(ExitStatus::Unknown));
                            send(ServiceEvent::Exited { status: ExitStatus::Unknown, elapsed: started.elapsed() });
                        }
                        phase = Phase::Exited;
                    }
                    if out_open || err_open {
                        drain_deadline = Some(Box::pin(tokio::time::sleep(DRAIN_AFTER_EXIT)));
                    }
                }
            },
            cmd = control_rx.recv(), if control.is_some() => match cmd {
                Some(c) => {
                    if !matches!(state.borrow().clone(), ServiceState::Exited(_) | ServiceState::Failed(_)) {
                        state.send_replace(ServiceState::Stopping);
                    }
                    if !matches!(phase, Phase::Exited | Phase::Exiting { .. }) {
                        phase = Phase::Stopping;
                    }
                    if let Some(control) = &control {
                        let _ = control.send(c);
                    }
                }
                // The orchestrator is gone: dropping the control sender makes the backend stop the tree.
                None => control = None,
            },
            step = phase.next_step(), if phase.awaits() => {
                let failed = match step {
                    Step::Probes(res) | Step::Client(res) => res.err(),
                    Step::PluginCall(Ok(true)) => {
                        if let Some(pending) = phase.pending_mut() {
                            pending.plugin = false;
                            pending.plugin_lines.clear();
                        }
                        None
                    }
                    Step::PluginCall(Ok(false)) => None,
                    Step::PluginCall(Err(reason)) => Some(reason),
                    Step::PostStart(Ok(())) => {
                        phase = ready();
                        None
                    }
                    Step::PostStart(Err(reason)) => Some(reason),
                };
                if let Some(reason) = failed {
                    fail_and_stop(&reason, control.as_ref(), &state, &send, started);
                    phase = match phase {
                        Phase::Exiting { .. } => Phase::Exited,
                        _ => Phase::Stopping,
                    };
                }
            },
            _ = async { drain_deadline.as_mut().expect("guarded").await }, if drain_deadline.is_some() => {
                launch.hub.warning(&format!("{}: a process outside its tree still holds its output pipes; stopped reading them", launch.spec.name));
                out_open = false;
                err_open = false;
            },
        }
    }
    // Keep the partial lines of an output stream that was cut short.
    out_split.finish(|t| {
        launch.sink.push(Stream::Out, t);
    });
    err_split.finish(|t| {
        launch.sink.push(Stream::Err, t);
    });
    send(ServiceEvent::Finished);
}

/// Handles one chunk of a service's output: splits it into lines, stores them, and checks
/// each against the log and plugin readiness conditions while the service's start awaits
/// them (`pending`). The stream's end (`None`) closes it and flushes its partial last line.
fn ingest(
    launch: &Launch,
    stream: Stream,
    split: &mut LineSplitter,
    chunk: Option<bytes::Bytes>,
    open: &mut bool,
    mut pending: Option<&mut Outstanding>,
) {
    let mut emit = |text: String| {
        let line = launch.sink.push(stream, text);
        if let Some(pending) = pending.as_deref_mut() {
            check_line(&line, pending);
        }
    };
    match chunk {
        Some(bytes) => split.feed(&bytes, &mut emit),
        None => {
            *open = false;
            split.finish(&mut emit);
        }
    }
}

/// Checks a captured line against the log conditions still outstanding, and keeps it for
/// the plugin's next `ready-check` call if the plugin still has to judge.
fn check_line(line: &LogLine, pending: &mut Outstanding) {
    pending
        .logs
        .retain_mut(|m| !m.feed(line.stream, &line.text));
    if pending.plugin {
        pending.plugin_lines.push((line.stream, line.text.clone()));
    }
}

/// Fails the start and asks the backend to stop the service.
fn fail_and_stop(
    reason: &str,
    control: Option<&mpsc::UnboundedSender<Control>>,
    state: &watch::Sender<ServiceState>,
    send: &impl Fn(ServiceEvent),
    started: Instant,
) {
    state.send_replace(ServiceState::Failed(reason.to_owned()));
    send(ServiceEvent::Failed {
        reason: reason.to_owned(),
        elapsed: started.elapsed(),
    });
    if let Some(control) = control {
        let _ = control.send(Control::Stop);
    }
}

/// Awaits every probe concurrently; the first error wins.
async fn futures_join_all<F, E>(futs: impl Iterator<Item = F>) -> Result<(), String>
where
    F: Future<Output = Result<(), E>>,
    E: std::error::Error,
{
    let mut set: Vec<Pin<Box<F>>> = futs.map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        let mut failure = None;
        set.retain_mut(|f| match f.as_mut().poll(cx) {
            std::task::Poll::Pending => true,
            std::task::Poll::Ready(Ok(())) => false,
            std::task::Poll::Ready(Err(e)) => {
                failure.get_or_insert_with(|| crate::error_chain(&e));
                false
            }
        });
        match failure {
            Some(f) => std::task::Poll::Ready(Err(f)),
            None if set.is_empty() => std::task::Poll::Ready(Ok(())),
            None => std::task::Poll::Pending,
        }
    })
    .await
}
