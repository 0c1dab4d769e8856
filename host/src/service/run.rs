//! The one select loop that drives a service from setup to its last log line.
//!
//! Everything about one service happens here, in one task: reading both pipes (in every
//! phase, so a child can never block on a full pipe), status lines from the supervisor,
//! log-line readiness (event-driven, checked on each line as it arrives), network and
//! command probes, the plugin hooks, and stop requests. Every branch is cancel-safe:
//! `read` into a buffer, `next_line`, `recv` and `wait` lose nothing when another branch
//! wins.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::bundle::spec::{ClientHook, Readiness, ServiceSpec};
use crate::logs::{LineSplitter, LogLine, ServiceSink, Stream};
use crate::ready::{LogMatcher, ProbeContext};
use crate::service::client::ClientSide;
use crate::service::hooks::{HookError, ServiceHooks};
use crate::service::state::{ExitStatus, ServiceState};
use crate::supervisor::protocol::{Control, Status, SuperviseSpec};
use crate::supervisor::spawn_supervisor;

/// How long to keep reading pipes after the supervisor exited: a process that escaped the
/// tree could hold them open forever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// What a service task reports to the orchestrator.
#[derive(Debug)]
pub(crate) enum ServiceEvent {
    /// Its `setup` hooks run (for the run's timeline).
    SettingUp,
    /// Its supervisor is being started (for the run's timeline).
    Spawning,
    /// Every readiness condition holds; `poststart` runs (for the run's timeline).
    Poststart,
    /// The supervisor started and the service process exists.
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
    pub supervise: SuperviseSpec,
    pub sink: ServiceSink,
    pub hub: crate::logs::LogHub,
    pub hooks: Option<Arc<dyn ServiceHooks>>,
    /// Judges `ready = { client = true }` and runs `client_hooks`.
    pub client: Arc<dyn ClientSide>,
    pub probe: ProbeContext,
    pub bin: PathBuf,
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
        use tokio_stream::StreamExt as _;
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
    /// that spins to its deadline (100 ms) would stall every other service of the bundle
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
    let sup = match spawn_supervisor(&launch.bin, &launch.supervise) {
        Ok(s) => s,
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
    let mut control = Some(sup.control);
    let mut stdout = sup.stdout;
    let mut stderr = sup.stderr;
    let mut status_lines = BufReader::new(sup.status).lines();

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

    let mut poststart: Option<BoxFut<Result<(), String>>> = None;
    let mut is_ready = false;
    // Nothing is ready before the supervisor has confirmed that the process exists.
    let mut spawned = false;
    let mut stopping = false;

    let mut out_split = LineSplitter::new(launch.max_line_len);
    let mut err_split = LineSplitter::new(launch.max_line_len);
    let mut obuf = vec![0u8; 64 * 1024];
    let mut ebuf = vec![0u8; 64 * 1024];
    let (mut out_open, mut err_open, mut status_open) = (true, true, true);
    let mut main_exit: Option<ExitStatus> = None;
    let mut drain_deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;

    loop {
        // Lines the plugin has not judged yet go to its `ready-check`, one call at a time.
        if !is_ready && !stopping {
            pending.start_plugin_call(&launch.hooks);
        }
        // Readiness: once every condition holds, run poststart (if any), then report.
        if !is_ready
            && spawned
            && poststart.is_none()
            && main_exit.is_none()
            && !stopping
            && pending.satisfied()
        {
            let client = client_for(ClientHook::Poststart);
            match (&launch.hooks, client) {
                (None, None) => {
                    is_ready = true;
                    state.send_replace(ServiceState::Ready);
                    send(ServiceEvent::Ready {
                        elapsed: started.elapsed(),
                    });
                }
                (hooks, client) => {
                    send(ServiceEvent::Poststart);
                    poststart = Some(Box::pin(run_phase_hooks(
                        hooks.clone(),
                        client,
                        |h| h.poststart(),
                        ClientHook::Poststart,
                    )));
                }
            }
        }
        // Done when the supervisor is gone and every pipe, its status channel included, is
        // drained: its last status line may arrive after the output pipes' EOF.
        if !out_open && !err_open && !status_open {
            break;
        }

        tokio::select! {
            n = stdout.read(&mut obuf), if out_open => {
                ingest(&launch, Stream::Out, &mut out_split, n, &obuf, &mut out_open, is_ready, &mut pending);
            },
            n = stderr.read(&mut ebuf), if err_open => {
                ingest(&launch, Stream::Err, &mut err_split, n, &ebuf, &mut err_open, is_ready, &mut pending);
            },
            line = status_lines.next_line(), if status_open => match line {
                Ok(Some(line)) => match serde_json::from_str::<Status>(&line) {
                    Ok(Status::Spawned { pid }) => {
                        spawned = true;
                        pid_tx.send_replace(Some(pid));
                        send(ServiceEvent::Spawned { pid });
                    }
                    Ok(Status::SpawnFailed { error }) => {
                        state.send_replace(ServiceState::Failed(error.clone()));
                        send(ServiceEvent::Failed { reason: error, elapsed: started.elapsed() });
                        stopping = true;
                    }
                    Ok(Status::Exited { code, signal }) => {
                        let st = match (code, signal) {
                            (Some(c), _) => ExitStatus::Code(c),
                            (None, Some(s)) => ExitStatus::Signal(s),
                            _ => ExitStatus::Unknown,
                        };
                        main_exit = Some(st);
                        state.send_replace(ServiceState::Exited(st));
                        send(ServiceEvent::Exited { status: st, elapsed: started.elapsed() });
                    }
                    Ok(Status::Escalated) => {
                        launch.hub.warning(&format!("{} did not stop within its grace period; sent SIGKILL", launch.spec.name));
                    }
                    Err(_) => {}
                },
                // The supervisor is gone: its end of the channel closed with it.
                Ok(None) | Err(_) => {
                    status_open = false;
                    if main_exit.is_none() {
                        // It died before its service (it was killed): the tree it watched
                        // is the host's to stop now.
                        kill_orphaned_group(*pid_tx.borrow(), &launch);
                    }
                    unknown_exit_if_silent(&mut main_exit, &state, &send, started);
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
                    stopping = true;
                    if let Some(w) = control.as_mut() {
                        let _ = w.write_all(c.as_line()).await;
                    }
                }
                // The orchestrator is gone: closing the control direction makes the supervisor stop the tree.
                None => control = None,
            },
            res = async { pending.probes.as_mut().expect("guarded").await }, if pending.probes.is_some() && !stopping => {
                pending.probes = None;
                if let Err(reason) = res {
                    fail_and_stop(&reason, &mut control, &state, &send, started, &mut stopping).await;
                }
            },
            res = async { pending.plugin_call.as_mut().expect("guarded").await }, if pending.plugin_call.is_some() && !stopping => {
                pending.plugin_call = None;
                match res {
                    Ok(true) => {
                        pending.plugin = false;
                        pending.plugin_lines.clear();
                    }
                    Ok(false) => {}
                    Err(reason) => fail_and_stop(&reason, &mut control, &state, &send, started, &mut stopping).await,
                }
            },
            res = async { pending.client.as_mut().expect("guarded").await }, if pending.client.is_some() && !stopping => {
                pending.client = None;
                if let Err(reason) = res {
                    fail_and_stop(&reason, &mut control, &state, &send, started, &mut stopping).await;
                }
            },
            res = async { poststart.as_mut().expect("guarded").await }, if poststart.is_some() => {
                poststart = None;
                match res {
                    Ok(()) if main_exit.is_none() && !stopping => {
                        is_ready = true;
                        state.send_replace(ServiceState::Ready);
                        send(ServiceEvent::Ready { elapsed: started.elapsed() });
                    }
                    Ok(()) => {}
                    Err(reason) => fail_and_stop(&reason, &mut control, &state, &send, started, &mut stopping).await,
                }
            },
            _ = async { drain_deadline.as_mut().expect("guarded").await }, if drain_deadline.is_some() => {
                launch.hub.warning(&format!("{}: a process outside its tree still holds its output pipes; stopped reading them", launch.spec.name));
                out_open = false;
                err_open = false;
            },
        }
    }
    // Keep the partial lines of a pipe that was cut short.
    out_split.finish(|t| {
        launch.sink.push(Stream::Out, t);
    });
    err_split.finish(|t| {
        launch.sink.push(Stream::Err, t);
    });
    send(ServiceEvent::Finished);
}

/// Handles one read from a service pipe: splits it into lines, stores them, and checks
/// each against the log and plugin readiness conditions while the service is not ready.
/// EOF (or a read error) closes the pipe and flushes its partial last line. Returns why
/// the service failed, if a plugin's `ready-check` did.
#[expect(
    clippy::too_many_arguments,
    reason = "the pieces of one pipe's state in the select loop"
)]
fn ingest(
    launch: &Launch,
    stream: Stream,
    split: &mut LineSplitter,
    read: std::io::Result<usize>,
    buf: &[u8],
    open: &mut bool,
    is_ready: bool,
    pending: &mut Outstanding,
) {
    let mut emit = |text: String| {
        let line = launch.sink.push(stream, text);
        if !is_ready {
            check_line(&line, pending);
        }
    };
    match read {
        Ok(0) | Err(_) => {
            *open = false;
            split.finish(&mut emit);
        }
        Ok(n) => split.feed(&buf[..n], &mut emit),
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

/// SIGKILLs the process group (and the cgroup, if any) of a service whose supervisor died
/// before it: the service's main process leads its own group (the supervisor made it a
/// session leader), so the group is everything the supervisor would have stopped, short of
/// a process that left it, which only the cgroup still holds.
fn kill_orphaned_group(pid: Option<u32>, launch: &Launch) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // The service's cgroup also holds what left the group (a daemon that called setsid).
    if let Some(cgroup) = &launch.supervise.cgroup {
        crate::process::cgroup::kill_and_remove(std::path::Path::new(cgroup));
    }
    let group = nix::unistd::Pid::from_raw(pid);
    if nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).is_ok() {
        launch.hub.warning(&format!(
            "{}: its supervisor died before it; killed its process group {pid}",
            launch.spec.name
        ));
    }
}

/// Once the supervisor is gone (its status channel drained to EOF), a service whose exit
/// was never reported ended in an unknown way (its supervisor was killed).
fn unknown_exit_if_silent(
    main_exit: &mut Option<ExitStatus>,
    state: &watch::Sender<ServiceState>,
    send: &impl Fn(ServiceEvent),
    started: Instant,
) {
    if main_exit.is_some() || matches!(*state.borrow(), ServiceState::Failed(_)) {
        return;
    }
    *main_exit = Some(ExitStatus::Unknown);
    state.send_replace(ServiceState::Exited(ExitStatus::Unknown));
    send(ServiceEvent::Exited {
        status: ExitStatus::Unknown,
        elapsed: started.elapsed(),
    });
}

async fn fail_and_stop(
    reason: &str,
    control: &mut Option<tokio::net::unix::OwnedWriteHalf>,
    state: &watch::Sender<ServiceState>,
    send: &impl Fn(ServiceEvent),
    started: Instant,
    stopping: &mut bool,
) {
    state.send_replace(ServiceState::Failed(reason.to_owned()));
    send(ServiceEvent::Failed {
        reason: reason.to_owned(),
        elapsed: started.elapsed(),
    });
    *stopping = true;
    if let Some(w) = control.as_mut() {
        let _ = w.write_all(Control::Stop.as_line()).await;
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
