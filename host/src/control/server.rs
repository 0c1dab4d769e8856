//! The host's end of the control protocol.
//!
//! One task accepts connections; each connection has one reader loop (requests in, and
//! the controlling client's answers) and one writer task fed by a channel, so replies,
//! pushed log lines and the host's own requests never interleave inside a line. A request
//! that can take long (`logs.wait`, `bundle.wait_ready`, a plugin call) runs in its own
//! task and answers when it is done, so it holds up nothing sent after it.
//!
//! The server exists before the bundle starts: a client may wait for readiness, take a
//! lease or claim control (to judge readiness itself) while services come up. What needs
//! a started bundle (logs, stats, sub-commands, the clock) answers "starting" until then.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::StreamExt as _;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::wire::{self, RpcError, code};
use crate::bundle::spec::ClientHook;
use crate::logs::{LogHub, LogLine, Logs, Stream};
use crate::orchestrator::{Event, EventStream, Running, ServiceHandle};
use crate::service::ServiceState;
use crate::service::client::{ClientError, ClientFuture, ClientSide};

/// Every method the server answers, for `-32601`'s data and the documentation test.
pub const METHODS: &[&str] = &[
    "hello",
    "status",
    "bundle.wait_ready",
    "bundle.keep",
    "logs.query",
    "logs.follow",
    "logs.unfollow",
    "logs.wait",
    "stats",
    "kernel",
    "subcommand",
    "travel",
    "now",
    "timeline",
    "message",
    "console",
    "lease.acquire",
    "lease.release",
    "control.claim",
    "stop",
];

/// How long a leased bundle waits for its first lease, at least.
pub const FIRST_LEASE_WAIT: Duration = Duration::from_secs(10);

/// How a host describes itself to clients.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The bundle file, if any.
    pub bundle: Option<PathBuf>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The bundle's hash.
    pub spec_hash: String,
    /// Whether the host was started with `up -d`.
    pub detached: bool,
    /// Whether the bundle outlives its last lease.
    pub kept: bool,
    /// How long a leased bundle waits, with no lease, before it stops.
    pub grace: Duration,
    /// The bundle's startup timeout (the default of `bundle.wait_ready`).
    pub startup_timeout: Duration,
}

/// Where the bundle is in its life, as clients see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Services are starting.
    Starting,
    /// Every service is ready.
    Ready,
    /// The bundle is stopping.
    Stopping,
    /// The start failed.
    Failed {
        /// The start error, in full.
        message: String,
        /// The same as data (see [`start_error_data`]).
        data: Value,
    },
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Stopping => "stopping",
            Phase::Failed { .. } => "failed",
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on the control socket {}", path.display())]
pub struct ServeError {
    /// The socket path.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// What the server knows of one service while the bundle starts (from its events).
#[derive(Debug, Clone, Default)]
struct Tracked {
    state: &'static str,
    pid: Option<u32>,
    ready_after: Option<Duration>,
    reason: Option<String>,
}

/// The started bundle's parts the server reads.
#[derive(Debug, Clone)]
struct View {
    services: Vec<ServiceHandle>,
    hub: LogHub,
    clock: crate::orchestrator::clock::BundleClock,
    connections: BTreeMap<String, Vec<(String, String)>>,
}

/// One connection, as the host's requests to it need it.
#[derive(Debug)]
struct Peer {
    out: mpsc::UnboundedSender<String>,
    /// The host's requests awaiting an answer, by id.
    pending: Mutex<PeerPending>,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct PeerPending {
    closed: bool,
    waiting: HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>,
}

impl Peer {
    /// Sends a request to this client; `None` if it is gone (now or before it answers).
    async fn ask(&self, method: &str, params: Value) -> Option<Result<Value, RpcError>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.closed {
                return None;
            }
            pending.waiting.insert(id, tx);
        }
        let line = wire::Request {
            jsonrpc: "2.0",
            id: json!(id),
            method,
            params,
        }
        .line();
        self.out.send(line).ok()?;
        rx.await.ok()
    }

    fn answer(&self, id: u64, answer: Result<Value, RpcError>) {
        let tx = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .waiting
            .remove(&id);
        if let Some(tx) = tx {
            let _ = tx.send(answer);
        }
    }

    /// Fails every outstanding request: the client is gone.
    fn close(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.closed = true;
        pending.waiting.clear();
    }
}

#[derive(Debug)]
struct Inner {
    options: ServerOptions,
    socket: PathBuf,
    phase: watch::Sender<Phase>,
    tracked: Mutex<Vec<(String, Tracked)>>,
    /// Every phase of every service so far, for `timeline` (also during a start, and
    /// after one failed).
    timeline: Mutex<Vec<crate::timeline::Entry>>,
    kinds: Vec<Option<String>>,
    view: Mutex<Option<View>>,
    leases: watch::Sender<usize>,
    next_lease: AtomicU64,
    kept: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    controller: watch::Sender<Option<Arc<Peer>>>,
    started: Instant,
    ready_after: Mutex<Option<Duration>>,
    /// The bundle's logs from the moment they exist (before the bundle is ready), so a
    /// client's hook or readiness code can read them during the start.
    early_logs: Mutex<Option<LogHub>>,
    /// Set when the host is about to exit: connections flush what they owe and close.
    closing: watch::Sender<bool>,
    connections: tokio_util::task::TaskTracker,
}

/// The control server of one host. Dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlServer {
    inner: Arc<Inner>,
    accept: tokio::task::JoinHandle<()>,
}

impl ControlServer {
    /// Binds `socket` (mode 0600) and starts accepting connections. `services` names the
    /// bundle's services with their kinds, for `status` while they start.
    pub fn bind(
        socket: &Path,
        options: ServerOptions,
        services: Vec<(String, Option<String>)>,
    ) -> Result<ControlServer, ServeError> {
        let err = |source| ServeError {
            path: socket.to_owned(),
            source,
        };
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).map_err(err)?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        let kinds = services.iter().map(|(_, k)| k.clone()).collect();
        let inner = Arc::new(Inner {
            kept: watch::Sender::new(options.kept),
            options,
            socket: socket.to_owned(),
            phase: watch::Sender::new(Phase::Starting),
            timeline: Mutex::new(Vec::new()),
            tracked: Mutex::new(
                services
                    .into_iter()
                    .map(|(name, _)| {
                        (
                            name,
                            Tracked {
                                state: "pending",
                                ..Tracked::default()
                            },
                        )
                    })
                    .collect(),
            ),
            kinds,
            view: Mutex::new(None),
            leases: watch::Sender::new(0),
            next_lease: AtomicU64::new(1),
            stop: watch::Sender::new(false),
            controller: watch::Sender::new(None),
            started: Instant::now(),
            ready_after: Mutex::new(None),
            early_logs: Mutex::new(None),
            closing: watch::Sender::new(false),
            connections: tokio_util::task::TaskTracker::new(),
        });
        let accept = tokio::spawn(accept_loop(inner.clone(), listener));
        Ok(ControlServer { inner, accept })
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.inner.socket
    }

    /// The client side services with `ready = { client = true }` or `client_hooks` ask:
    /// whichever connection claimed control.
    pub fn client(&self) -> Arc<dyn ClientSide> {
        Arc::new(Gate(self.inner.clone()))
    }

    /// Follows the bundle's events to report each service's state while it starts.
    pub fn track(&self, mut events: EventStream) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let Event::Phase {
                    service,
                    phase,
                    t_ms,
                } = &event
                {
                    inner
                        .timeline
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(crate::timeline::Entry {
                            t_ms: *t_ms,
                            service: service.clone(),
                            phase: phase.clone(),
                        });
                }
                let mut tracked = inner.tracked.lock().unwrap_or_else(|p| p.into_inner());
                let (name, update): (&str, fn(&mut Tracked, &Event)) = match &event {
                    Event::Starting { service } => (service, |t, _| t.state = "starting"),
                    Event::Spawned { service, .. } => (service, |t, e| {
                        if let Event::Spawned { pid, .. } = e {
                            t.pid = Some(*pid);
                        }
                    }),
                    Event::Ready { service, .. } => (service, |t, e| {
                        t.state = "ready";
                        if let Event::Ready { elapsed, .. } = e {
                            t.ready_after = Some(*elapsed);
                        }
                    }),
                    Event::Failed { service, .. } => (service, |t, e| {
                        t.state = "failed";
                        if let Event::Failed { reason, .. } = e {
                            t.reason = Some(reason.clone());
                        }
                    }),
                    Event::Exited { service, .. } => (service, |t, _| t.state = "exited"),
                    Event::Stopping { service } => (service, |t, _| t.state = "stopping"),
                    Event::Stopped { service } => (service, |_, _| {}),
                    Event::Phase { service, .. } => (service, |_, _| {}),
                };
                if let Some((_, t)) = tracked.iter_mut().find(|(n, _)| n == name) {
                    update(t, &event);
                }
            }
        });
    }

    /// An observer for [`Bundle::on_logs`](crate::Bundle::on_logs): with it the bundle's
    /// logs are readable (`logs.*`) while it starts.
    pub fn logs_sink(&self) -> impl FnOnce(LogHub) + Send + 'static {
        let inner = self.inner.clone();
        move |hub| *inner.early_logs.lock().unwrap_or_else(|p| p.into_inner()) = Some(hub)
    }

    /// The bundle is ready: its logs, services and clock become available.
    pub fn ready(&self, running: &Running) {
        *self.inner.view.lock().unwrap_or_else(|p| p.into_inner()) = Some(View {
            services: running.services().to_vec(),
            hub: running.log_hub(),
            clock: running.clock_handle(),
            connections: running.connections().clone(),
        });
        *self
            .inner
            .ready_after
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(self.inner.started.elapsed());
        self.inner.phase.send_replace(Phase::Ready);
    }

    /// The start failed with `message` (and `data`, from [`start_error_data`]).
    pub fn failed(&self, message: String, data: Value) {
        self.inner
            .phase
            .send_replace(Phase::Failed { message, data });
    }

    /// The bundle is stopping.
    pub fn stopping(&self) {
        self.inner.phase.send_replace(Phase::Stopping);
    }

    /// Resolves once a client asked the bundle to stop.
    pub async fn stop_requested(&self) {
        let mut stop = self.inner.stop.subscribe();
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Resolves once a leased bundle has had no lease for its grace, while ready. Never
    /// resolves for a kept bundle (until it is made leased with `bundle.keep`).
    pub async fn unleased(&self) {
        let mut leases = self.inner.leases.subscribe();
        let mut kept = self.inner.kept.subscribe();
        let mut phase = self.inner.phase.subscribe();
        let _ = phase.wait_for(|p| *p == Phase::Ready).await;
        let mut ever_leased = false;
        loop {
            if *kept.borrow_and_update() {
                if kept.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            }
            if *leases.borrow_and_update() > 0 {
                ever_leased = true;
                tokio::select! {
                    _ = leases.changed() => {}
                    _ = kept.changed() => {}
                }
                continue;
            }
            // Before its first lease a bundle gives its starter time to take one.
            let wait = if ever_leased {
                self.inner.options.grace
            } else {
                self.inner.options.grace.max(FIRST_LEASE_WAIT)
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    if *leases.borrow() == 0 && !*kept.borrow() {
                        return;
                    }
                }
                _ = leases.changed() => {}
                _ = kept.changed() => {}
            }
        }
    }
}

impl ControlServer {
    /// Closes every connection once it has sent what it owes (the last followed lines and
    /// `logs.end`), waiting at most `limit`. Call after the bundle stopped, before exiting.
    pub async fn close(&self, limit: Duration) {
        self.accept.abort();
        self.inner.closing.send_replace(true);
        self.inner.connections.close();
        let _ = tokio::time::timeout(limit, self.inner.connections.wait()).await;
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_file(&self.inner.socket);
    }
}

/// The client side seen by services: the connection that claimed control.
#[derive(Debug)]
struct Gate(Arc<Inner>);

impl Gate {
    /// Records `service`'s pid for `stats` and `status` while the bundle starts.
    fn note_pid(&self, service: &str, pid: u32) {
        let mut tracked = self.0.tracked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, t)) = tracked.iter_mut().find(|(n, _)| n == service) {
            t.pid = Some(pid);
        }
    }

    async fn ask(
        &self,
        service: &str,
        what: String,
        method: &str,
        params: Value,
    ) -> Result<Value, ClientError> {
        let mut controller = self.0.controller.subscribe();
        let peer = loop {
            if let Some(peer) = controller.borrow_and_update().clone() {
                break peer;
            }
            if controller.changed().await.is_err() {
                return Err(ClientError::Disconnected {
                    service: service.to_owned(),
                    what,
                });
            }
        };
        match peer.ask(method, params).await {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => Err(ClientError::Refused(error.message)),
            None => Err(ClientError::Disconnected {
                service: service.to_owned(),
                what,
            }),
        }
    }
}

impl ClientSide for Gate {
    fn ready_check<'a>(&'a self, service: &'a str, line: &'a LogLine) -> ClientFuture<'a, bool> {
        Box::pin(async move {
            let answer = self
                .ask(
                    service,
                    "readiness verdict".to_owned(),
                    "ready.check",
                    json!({"service": service, "line": line_json(line)}),
                )
                .await?;
            match answer.get("ready").and_then(Value::as_bool) {
                Some(ready) => Ok(ready),
                None => Err(ClientError::Refused(format!(
                    "its answer to `ready.check` has no boolean `ready`: {answer}"
                ))),
            }
        })
    }

    fn run_hook<'a>(
        &'a self,
        service: &'a str,
        hook: ClientHook,
        pid: Option<u32>,
    ) -> ClientFuture<'a, ()> {
        Box::pin(async move {
            // The hook may ask for the service's stats: its pid must be known here, not
            // only once the bundle's events reach this server.
            if let Some(pid) = pid {
                self.note_pid(service, pid);
            }
            self.ask(
                service,
                format!("`{}` hook", hook.as_str()),
                "hook.run",
                json!({"service": service, "hook": hook.as_str()}),
            )
            .await
            .map(|_| ())
        })
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                inner.connections.spawn(connection(inner.clone(), stream));
            }
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                // Out of descriptors: wait for some to close rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// What one connection holds.
#[derive(Debug, Default)]
struct ConnState {
    greeted: bool,
    lease: Option<LeaseGuard>,
    controller: bool,
    follows: HashMap<u64, tokio::task::JoinHandle<()>>,
    next_follow: u64,
}

/// A lease: counted while it lives.
#[derive(Debug)]
struct LeaseGuard {
    id: u64,
    inner: Arc<Inner>,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.inner.leases.send_modify(|n| *n = n.saturating_sub(1));
    }
}

async fn connection(inner: Arc<Inner>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(mut line) = out_rx.recv().await {
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let peer = Arc::new(Peer {
        out: out.clone(),
        pending: Mutex::new(PeerPending::default()),
        next_id: AtomicU64::new(1),
    });
    let mut state = ConnState::default();
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(wire::MAX_LINE));
    let mut closing = inner.closing.subscribe();
    loop {
        let line = tokio::select! {
            line = lines.next() => line,
            () = async { let _ = closing.wait_for(|c| *c).await; } => {
                // The logs are closed by now: followers send their last lines and end.
                for (_, follow) in state.follows.drain() {
                    let _ = follow.await;
                }
                break;
            }
        };
        let Some(line) = line else { break };
        let text = match line {
            Ok(text) => text,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                let _ = out.send(wire::error_line(
                    &Value::Null,
                    &RpcError::new(
                        code::INVALID_REQUEST,
                        format!("a message is longer than {} bytes", wire::MAX_LINE),
                    ),
                ));
                break;
            }
            Err(LinesCodecError::Io(_)) => break,
        };
        if text.trim().is_empty() {
            continue;
        }
        if !message(&inner, &peer, &mut state, &text) {
            break;
        }
    }
    // Gone: its lease, its control and its followers end with it.
    for (_, follow) in state.follows.drain() {
        follow.abort();
    }
    state.lease = None;
    if state.controller {
        inner.controller.send_if_modified(|c| {
            if c.as_ref().is_some_and(|p| Arc::ptr_eq(p, &peer)) {
                *c = None;
                true
            } else {
                false
            }
        });
    }
    peer.close();
    drop(peer);
    drop(out);
    // Tasks still answering slow requests hold senders; the writer waits for them a
    // little, then the connection closes under them.
    let mut writer = writer;
    if tokio::time::timeout(Duration::from_secs(1), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Handles one message; `false` closes the connection.
fn message(inner: &Arc<Inner>, peer: &Arc<Peer>, state: &mut ConnState, text: &str) -> bool {
    let out = &peer.out;
    let parsed = serde_json::from_str::<Value>(text);
    // `"id": null` is a request to answer (JSON-RPC 2.0); only a missing `id` makes a
    // notification.
    let has_id = parsed
        .as_ref()
        .is_ok_and(|v| v.as_object().is_some_and(|o| o.contains_key("id")));
    let incoming: wire::Incoming = match parsed {
        Err(e) => {
            let _ = out.send(wire::error_line(
                &Value::Null,
                &RpcError::new(code::PARSE, format!("not JSON: {e}")),
            ));
            return true;
        }
        Ok(value) => match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                let _ = out.send(wire::error_line(
                    &Value::Null,
                    &RpcError::new(
                        code::INVALID_REQUEST,
                        format!("not a JSON-RPC 2.0 message: {e}"),
                    ),
                ));
                return true;
            }
        },
    };
    if incoming.jsonrpc.as_deref() != Some("2.0") {
        let id = incoming.id.unwrap_or(Value::Null);
        let _ = out.send(wire::error_line(
            &id,
            &RpcError::new(code::INVALID_REQUEST, "`jsonrpc` must be \"2.0\""),
        ));
        return true;
    }
    let Some(method) = incoming.method else {
        // An answer to one of the host's requests.
        if let Some(id) = incoming.id.as_ref().and_then(Value::as_u64) {
            let answer = match (incoming.result, incoming.error) {
                (_, Some(error)) => Err(error),
                (Some(result), None) => Ok(result),
                (None, None) => Err(RpcError::new(
                    code::INVALID_REQUEST,
                    "a response needs `result` or `error`",
                )),
            };
            peer.answer(id, answer);
        }
        return true;
    };
    if !has_id {
        // Clients send no notifications the host acts on.
        return true;
    }
    let id = incoming.id.unwrap_or(Value::Null);
    let params = incoming.params;
    if !state.greeted && method != "hello" {
        let _ = out.send(wire::error_line(
            &id,
            &RpcError::new(
                code::HANDSHAKE_REQUIRED,
                format!("say `hello` first (protocol {})", wire::PROTOCOL),
            ),
        ));
        return true;
    }
    let reply = |result: Result<Value, RpcError>| {
        let line = match result {
            Ok(value) => wire::result_line(&id, value),
            Err(error) => wire::error_line(&id, &error),
        };
        let _ = out.send(line);
    };
    match method.as_str() {
        "hello" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Hello {
                protocol: u32,
                #[serde(default)]
                #[allow(dead_code, reason = "accepted for the client's own messages")]
                client: Option<String>,
            }
            match wire::params::<Hello>(params) {
                Ok(hello) if hello.protocol == wire::PROTOCOL => {
                    state.greeted = true;
                    reply(Ok(hello_result(inner)));
                }
                Ok(hello) => {
                    reply(Err(RpcError::new(
                        code::VERSION,
                        format!(
                            "this teamster ({}) speaks control protocol {}, not {}; use a client for protocol {}",
                            env!("CARGO_PKG_VERSION"),
                            wire::PROTOCOL,
                            hello.protocol,
                            wire::PROTOCOL
                        ),
                    )
                    .with_data(json!({"supported": [wire::PROTOCOL]}))));
                    return false;
                }
                Err(e) => reply(Err(e)),
            }
        }
        "lease.acquire" => {
            if matches!(
                *inner.phase.borrow(),
                Phase::Stopping | Phase::Failed { .. }
            ) {
                reply(Err(RpcError::new(code::STOPPING, "the bundle is stopping")));
            } else {
                if state.lease.is_none() {
                    inner.leases.send_modify(|n| *n += 1);
                    state.lease = Some(LeaseGuard {
                        id: inner.next_lease.fetch_add(1, Ordering::Relaxed),
                        inner: inner.clone(),
                    });
                }
                let id = state.lease.as_ref().map_or(0, |l| l.id);
                reply(Ok(json!({"lease": id, "leases": *inner.leases.borrow()})));
            }
        }
        "lease.release" => {
            state.lease = None;
            reply(Ok(json!({"leases": *inner.leases.borrow()})));
        }
        "control.claim" => {
            let mine = peer.clone();
            let taken = inner.controller.send_if_modified(|c| match c {
                Some(p) if !Arc::ptr_eq(p, &mine) => false,
                _ => {
                    *c = Some(mine.clone());
                    true
                }
            });
            if taken || state.controller {
                state.controller = true;
                reply(Ok(json!({})));
            } else {
                reply(Err(RpcError::new(
                    code::CONTROLLED,
                    "another client controls this bundle",
                )));
            }
        }
        "logs.follow" => match start_follow(inner, peer, state, params) {
            Ok(value) => reply(Ok(value)),
            Err(e) => reply(Err(e)),
        },
        "logs.unfollow" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Unfollow {
                subscription: u64,
            }
            match wire::params::<Unfollow>(params) {
                Ok(u) => match state.follows.remove(&u.subscription) {
                    Some(task) => {
                        task.abort();
                        reply(Ok(json!({})));
                    }
                    None => reply(Err(RpcError::params(format!(
                        "no subscription {} on this connection",
                        u.subscription
                    )))),
                },
                Err(e) => reply(Err(e)),
            }
        }
        "stop" => {
            inner.stop.send_replace(true);
            reply(Ok(json!({})));
        }
        other if METHODS.contains(&other) => {
            // The rest may wait or call into a plugin: they answer from their own task.
            let inner = inner.clone();
            let out = out.clone();
            let method = other.to_owned();
            tokio::spawn(async move {
                let result = slow_method(&inner, &method, params).await;
                let line = match result {
                    Ok(value) => wire::result_line(&id, value),
                    Err(error) => wire::error_line(&id, &error),
                };
                let _ = out.send(line);
            });
        }
        other => reply(Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("unknown method `{other}`"),
        )
        .with_data(json!({"methods": METHODS})))),
    }
    true
}

fn hello_result(inner: &Inner) -> Value {
    json!({
        "protocol": wire::PROTOCOL,
        "teamster": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "run_dir": inner.options.run_dir,
        "bundle": inner.options.bundle,
        "spec_hash": inner.options.spec_hash,
        "phase": inner.phase.borrow().name(),
        "detached": inner.options.detached,
        "kept": *inner.kept.borrow(),
    })
}

fn view(inner: &Inner) -> Result<View, RpcError> {
    match inner.view.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        Some(view) => Ok(view),
        None => Err(match &*inner.phase.borrow() {
            Phase::Failed { message, data } => {
                RpcError::new(code::START_FAILED, message.clone()).with_data(data.clone())
            }
            Phase::Stopping => RpcError::new(code::STOPPING, "the bundle is stopping"),
            _ => RpcError::new(
                code::STARTING,
                "the bundle is still starting; call `bundle.wait_ready` first",
            ),
        }),
    }
}

fn service<'a>(view: &'a View, name: &str) -> Result<&'a ServiceHandle, RpcError> {
    view.services
        .iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = view.services.iter().map(|s| s.name()).collect();
            no_such(name, &names)
        })
}

/// The error for a service the bundle does not have, listing those it has.
fn no_service(inner: &Inner, name: &str) -> RpcError {
    let tracked = inner.tracked.lock().unwrap_or_else(|p| p.into_inner());
    let names: Vec<&str> = tracked.iter().map(|(n, _)| n.as_str()).collect();
    no_such(name, &names)
}

fn no_such(name: &str, names: &[&str]) -> RpcError {
    RpcError::new(
        code::NO_SERVICE,
        format!(
            "no service `{name}` in this bundle (services: {})",
            names.join(", ")
        ),
    )
    .with_data(json!({"services": names}))
}

/// The params of a method that takes none: `{}` (or absent), nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// The log view that a `logs.*` request's `service` and `stream` name.
/// The pid of `name`'s main process, for any service that has one, ready or still starting.
fn service_pid(inner: &Inner, name: &str) -> Result<Option<u32>, RpcError> {
    match view(inner) {
        Ok(view) => Ok(service(&view, name)?.pid()),
        Err(e) if e.code == code::STARTING => {
            let tracked = inner.tracked.lock().unwrap_or_else(|p| p.into_inner());
            match tracked.iter().find(|(n, _)| n == name) {
                Some((_, t)) => Ok(t.pid),
                None => Err(no_service(inner, name)),
            }
        }
        Err(e) => Err(e),
    }
}

fn view_logs(
    inner: &Inner,
    service_name: Option<String>,
    stream: Option<Stream>,
) -> Result<Logs, RpcError> {
    let hub = match view(inner) {
        Ok(view) => view.hub,
        // Starting: the logs exist as soon as the start made them.
        Err(e) if e.code == code::STARTING => inner
            .early_logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(e)?,
        Err(e) => return Err(e),
    };
    let logs = match service_name.as_deref() {
        None => hub.logs(),
        Some(name) => hub.service(name).ok_or_else(|| no_service(inner, name))?,
    };
    Ok(match stream {
        None => logs,
        Some(Stream::Out) => logs.out(),
        Some(Stream::Err) => logs.err(),
    })
}

fn line_json(line: &LogLine) -> Value {
    json!({"seq": line.seq, "service": &*line.service, "stream": line.stream, "text": line.text})
}

fn json_line_json(line: &crate::logs::JsonLine) -> Value {
    let mut v = line_json(&line.line);
    v["value"] = line.value.clone();
    v
}

fn parse_json_line(line: &LogLine) -> Option<Value> {
    let text = line.text.trim_start();
    if !text.starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str(text).ok()
}

fn start_follow(
    inner: &Arc<Inner>,
    peer: &Arc<Peer>,
    state: &mut ConnState,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Follow {
        service: Option<String>,
        stream: Option<Stream>,
        #[serde(default)]
        lines_back: usize,
        #[serde(default)]
        json: bool,
    }
    let p: Follow = wire::params(params)?;
    let logs = view_logs(inner, p.service, p.stream)?;
    state.next_follow += 1;
    let subscription = state.next_follow;
    let out = peer.out.clone();
    let json_only = p.json;
    let lines_back = p.lines_back;
    let task = tokio::spawn(async move {
        let mut follow = logs.follow(lines_back);
        while let Some(line) = follow.next().await {
            let value = if json_only {
                match parse_json_line(&line) {
                    Some(value) => {
                        let mut v = line_json(&line);
                        v["value"] = value;
                        v
                    }
                    None => continue,
                }
            } else {
                line_json(&line)
            };
            let note = wire::notification_line(
                "logs.line",
                json!({"subscription": subscription, "line": value}),
            );
            if out.send(note).is_err() {
                return;
            }
        }
        let _ = out.send(wire::notification_line(
            "logs.end",
            json!({"subscription": subscription}),
        ));
    });
    state.follows.insert(subscription, task);
    Ok(json!({"subscription": subscription}))
}

async fn slow_method(
    inner: &Arc<Inner>,
    method: &str,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    match method {
        "status" => {
            wire::params::<NoParams>(params)?;
            Ok(status(inner))
        }
        "bundle.wait_ready" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Wait {
                timeout_ms: Option<u64>,
            }
            let p: Wait = wire::params(params)?;
            let timeout = p.timeout_ms.map_or(
                inner.options.startup_timeout + Duration::from_secs(5),
                Duration::from_millis,
            );
            let mut phase = inner.phase.subscribe();
            let reached =
                tokio::time::timeout(timeout, phase.wait_for(|p| !matches!(p, Phase::Starting)))
                    .await;
            let phase = match reached {
                Err(_) => {
                    return Err(RpcError::new(
                        code::TIMEOUT,
                        format!("the bundle was not ready after {timeout:?}"),
                    ));
                }
                Ok(Err(_)) => return Err(RpcError::new(code::STOPPING, "the host is going away")),
                Ok(Ok(p)) => p.clone(),
            };
            match phase {
                Phase::Ready => Ok(status(inner)),
                Phase::Failed { message, data } => {
                    Err(RpcError::new(code::START_FAILED, message).with_data(data))
                }
                Phase::Stopping => Err(RpcError::new(code::STOPPING, "the bundle is stopping")),
                Phase::Starting => unreachable!("waited for another phase"),
            }
        }
        "bundle.keep" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Keep {
                keep: bool,
            }
            let p: Keep = wire::params(params)?;
            inner.kept.send_replace(p.keep);
            Ok(json!({"kept": p.keep}))
        }
        "logs.query" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Query {
                service: Option<String>,
                stream: Option<Stream>,
                tail: Option<usize>,
                since: Option<u64>,
                #[serde(default)]
                json: bool,
            }
            let p: Query = wire::params(params)?;
            let logs = view_logs(inner, p.service, p.stream)?;
            let read_error =
                |e: crate::logs::LogError| RpcError::new(code::FAILED, crate::error_chain(&e));
            let mut lines = match p.tail {
                Some(n) => logs.tail(n).map_err(read_error)?,
                None => logs.lines().map_err(read_error)?,
            };
            if let Some(since) = p.since {
                lines.retain(|l| l.seq >= since);
            }
            let next_seq = lines.last().map_or(p.since.unwrap_or(0), |l| l.seq + 1);
            let lines: Vec<Value> = if p.json {
                lines
                    .iter()
                    .filter_map(|l| {
                        parse_json_line(l).map(|value| {
                            json_line_json(&crate::logs::JsonLine {
                                line: l.clone(),
                                value,
                            })
                        })
                    })
                    .collect()
            } else {
                lines.iter().map(line_json).collect()
            };
            Ok(json!({"lines": lines, "next_seq": next_seq}))
        }
        "logs.wait" => logs_wait(inner, params).await,
        "stats" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Stats {
                service: String,
            }
            let p: Stats = wire::params(params)?;
            let pid = service_pid(inner, &p.service)?.ok_or_else(|| {
                RpcError::new(
                    code::FAILED,
                    format!("service `{}` has no process yet", p.service),
                )
            })?;
            let stats = tokio::task::spawn_blocking(move || crate::process::stats(pid))
                .await
                .map_err(|e| RpcError::new(code::FAILED, e.to_string()))?
                .map_err(|e| RpcError::new(code::FAILED, crate::error_chain(&e)))?;
            Ok(stats_json(&stats))
        }
        "kernel" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Kernel {
                service: String,
                timeout_ms: u64,
            }
            let p: Kernel = wire::params(params)?;
            let logs = view_logs(inner, Some(p.service.clone()), None)?;
            service_pid(inner, &p.service)?;
            let found = crate::kernel::find(
                &p.service,
                &logs,
                || service_pid(inner, &p.service).ok().flatten(),
                Duration::from_millis(p.timeout_ms),
            )
            .await
            .map_err(|e| match &e {
                crate::KernelError::NoAnnouncement {
                    source: crate::logs::LogWaitError::Timeout { last_lines, .. },
                    ..
                } => {
                    let last: Vec<Value> = last_lines.iter().map(line_json).collect();
                    RpcError::new(code::TIMEOUT, crate::error_chain(&e))
                        .with_data(json!({"last_lines": last}))
                }
                _ => RpcError::new(code::FAILED, crate::error_chain(&e)),
            })?;
            Ok(json!({"connection_file": found.file, "line": line_json(&found.line)}))
        }
        "subcommand" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Sub {
                service: String,
                name: String,
                #[serde(default)]
                args: Vec<String>,
            }
            let p: Sub = wire::params(params)?;
            let view = view(inner)?;
            let svc = service(&view, &p.service)?.clone();
            // A plugin call may run up to its deadline: keep it off the async workers.
            let built = tokio::task::spawn_blocking(move || svc.subcommand(&p.name, &p.args))
                .await
                .map_err(|e| RpcError::new(code::FAILED, e.to_string()))?
                .map_err(|e| RpcError::new(code::FAILED, crate::error_chain(&e)))?;
            let spec = built.exec_spec();
            Ok(json!({"argv": spec.argv, "env": spec.env, "cwd": spec.cwd, "user": spec.user}))
        }
        "travel" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Travel {
                by: Option<String>,
                to: Option<String>,
            }
            let p: Travel = wire::params(params)?;
            let view = view(inner)?;
            let travel = match (p.by, p.to) {
                (Some(by), None) => crate::clock::Travel::parse(&by),
                (None, Some(to)) => crate::clock::Travel::to_rfc3339(&to),
                _ => {
                    return Err(RpcError::params(
                        "give exactly one of `by` (a relative travel) or `to` (an instant)",
                    ));
                }
            }
            .map_err(|e| RpcError::new(code::FAILED, crate::error_chain(&e)))?;
            let report = view
                .clock
                .travel(travel)
                .map_err(|e| RpcError::new(code::FAILED, crate::error_chain(&e)))?;
            view.hub.message(&report.to_string());
            Ok(json!({"report": report.to_string(), "now": view.clock.now().to_rfc3339()}))
        }
        "timeline" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct TimelineParams {
                #[serde(default)]
                svg: bool,
            }
            let p: TimelineParams = wire::params(params)?;
            let entries = inner
                .timeline
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let timeline = crate::timeline::Timeline::from_entries(&entries);
            let mut reply = json!({
                "events": entries,
                "text": timeline.text(),
                "critical_chain": timeline.critical_chain(),
            });
            if p.svg {
                reply["svg"] = json!(timeline.svg());
            }
            Ok(reply)
        }
        "now" => {
            wire::params::<NoParams>(params)?;
            let view = view(inner)?;
            Ok(json!({"now": view.clock.now().to_rfc3339()}))
        }
        "message" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Message {
                text: String,
                #[serde(default)]
                warning: bool,
            }
            let p: Message = wire::params(params)?;
            let view = view(inner)?;
            if p.warning {
                view.hub.warning(&p.text);
            } else {
                view.hub.message(&p.text);
            }
            Ok(json!({}))
        }
        "console" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Console {
                paused: bool,
            }
            let p: Console = wire::params(params)?;
            let view = view(inner)?;
            view.hub.pause_console(p.paused);
            Ok(json!({}))
        }
        other => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("unknown method `{other}`"),
        )),
    }
}

async fn logs_wait(inner: &Arc<Inner>, params: Option<Value>) -> Result<Value, RpcError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wait {
        service: Option<String>,
        stream: Option<Stream>,
        contains: Option<String>,
        regex: Option<String>,
        json_contains: Option<Value>,
        timeout_ms: u64,
        #[serde(default)]
        lines_back: usize,
    }
    let p: Wait = wire::params(params)?;
    let logs = view_logs(inner, p.service, p.stream)?;
    let timeout = Duration::from_millis(p.timeout_ms);
    let wait_error = |e: crate::logs::LogWaitError| match &e {
        crate::logs::LogWaitError::Timeout { last_lines, .. } => {
            let last: Vec<Value> = last_lines.iter().map(line_json).collect();
            RpcError::new(code::TIMEOUT, e.to_string()).with_data(json!({"last_lines": last}))
        }
        crate::logs::LogWaitError::Closed { .. } => RpcError::new(code::CLOSED, e.to_string()),
        crate::logs::LogWaitError::Read { .. } => {
            RpcError::new(code::FAILED, crate::error_chain(&e))
        }
    };
    match (p.contains, p.regex, p.json_contains) {
        (Some(text), None, None) => {
            let line = logs
                .until(text, timeout)
                .lines_back(p.lines_back)
                .await
                .map_err(wait_error)?;
            Ok(json!({"line": line_json(&line)}))
        }
        (None, Some(pattern), None) => {
            let regex = regex::Regex::new(&pattern)
                .map_err(|e| RpcError::params(format!("`regex` is not a valid regex: {e}")))?;
            let line = logs
                .until(regex, timeout)
                .lines_back(p.lines_back)
                .await
                .map_err(wait_error)?;
            Ok(json!({"line": line_json(&line)}))
        }
        (None, None, Some(pattern)) => {
            let found = logs
                .until_json(pattern, timeout)
                .lines_back(p.lines_back)
                .await
                .map_err(wait_error)?;
            Ok(json!({"line": json_line_json(&found)}))
        }
        _ => Err(RpcError::params(
            "give exactly one of `contains`, `regex` or `json_contains`",
        )),
    }
}

fn status(inner: &Inner) -> Value {
    let view = inner.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let tracked = inner
        .tracked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let services: Vec<Value> = tracked
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            let handle = view
                .as_ref()
                .and_then(|v| v.services.iter().find(|s| s.name() == name));
            let mut entry = json!({
                "name": name,
                "kind": inner.kinds.get(i).cloned().flatten(),
                "state": t.state,
                "pid": t.pid,
                "ready_after_ms": t.ready_after.map(|d| d.as_millis() as u64),
                "ports": {},
                "connection": {},
            });
            if let Some(reason) = &t.reason {
                entry["reason"] = json!(reason);
            }
            if let (Some(view), Some(handle)) = (&view, handle) {
                entry["pid"] = json!(handle.pid());
                let state = handle.state();
                entry["state"] = json!(state_name(&state));
                match state {
                    ServiceState::Exited(status) => entry["exit"] = exit_json(status),
                    ServiceState::Failed(reason) => entry["reason"] = json!(reason),
                    _ => {}
                }
                let ports: serde_json::Map<String, Value> = handle
                    .ports()
                    .iter()
                    .map(|(role, port)| (role.clone(), json!(port)))
                    .collect();
                entry["ports"] = Value::Object(ports);
                if let Some(info) = view.connections.get(name) {
                    let info: serde_json::Map<String, Value> =
                        info.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                    entry["connection"] = Value::Object(info);
                }
            }
            entry
        })
        .collect();
    let ready_after = *inner.ready_after.lock().unwrap_or_else(|p| p.into_inner());
    json!({
        "phase": inner.phase.borrow().name(),
        "pid": std::process::id(),
        "run_dir": inner.options.run_dir,
        "bundle": inner.options.bundle,
        "spec_hash": inner.options.spec_hash,
        "detached": inner.options.detached,
        "kept": *inner.kept.borrow(),
        "leases": *inner.leases.borrow(),
        "ready_after_ms": ready_after.map(|d| d.as_millis() as u64),
        "services": services,
    })
}

/// A start error as data, for clients that act on it rather than print it:
/// `{"exit_code": 4, "services": [{"service", "what", "exit", "waiting_for", "last_lines"}]}`
/// (one entry per failed or unready service; none for errors that concern no service).
pub fn start_error_data(error: &crate::StartError) -> Value {
    let report = |r: &crate::orchestrator::ServiceReport| {
        json!({
            "service": r.service,
            "what": r.what,
            "exit": r.exit.map(exit_json),
            "waiting_for": r.waiting_for,
            "elapsed_ms": r.elapsed.map(|d| d.as_millis() as u64),
            "last_lines": r.last_lines.iter().map(line_json).collect::<Vec<_>>(),
            "hint": r.hint,
        })
    };
    let services: Vec<Value> = match error {
        crate::StartError::ServiceFailed(r) => vec![report(r)],
        crate::StartError::Timeout { not_ready, .. } => not_ready.0.iter().map(report).collect(),
        _ => Vec::new(),
    };
    json!({"exit_code": 4, "services": services})
}

fn state_name(state: &ServiceState) -> &'static str {
    match state {
        ServiceState::Pending => "pending",
        ServiceState::SettingUp => "setting_up",
        ServiceState::Starting => "starting",
        ServiceState::Ready => "ready",
        ServiceState::Stopping => "stopping",
        ServiceState::Exited(_) => "exited",
        ServiceState::Failed(_) => "failed",
    }
}

fn exit_json(status: crate::service::ExitStatus) -> Value {
    match status {
        crate::service::ExitStatus::Code(c) => json!({"code": c}),
        crate::service::ExitStatus::Signal(s) => json!({
            "signal": s,
            "name": nix::sys::signal::Signal::try_from(s).map(|s| s.as_str()).unwrap_or("unknown"),
        }),
        crate::service::ExitStatus::Unknown => json!({"unknown": true}),
    }
}

fn stats_json(s: &crate::process::ProcessStats) -> Value {
    let ms = |d: Duration| d.as_millis() as u64;
    json!({
        "pid": s.pid,
        "parent": s.parent,
        "process_group": s.process_group,
        "session": s.session,
        "name": s.name,
        "state": format!("{:?}", s.state),
        "user_cpu_ms": ms(s.user_cpu),
        "system_cpu_ms": ms(s.system_cpu),
        "rss_bytes": s.rss_bytes,
        "threads": s.threads,
        "started_at": s.started_at.map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()),
        "children": s.children,
        "open_fds": s.open_fds,
        "listening": s.listening.iter().map(|l| json!({"addr": l.addr.to_string(), "pid": l.pid})).collect::<Vec<_>>(),
        "tree": {
            "processes": s.tree.processes,
            "user_cpu_ms": ms(s.tree.user_cpu),
            "system_cpu_ms": ms(s.tree.system_cpu),
            "rss_bytes": s.tree.rss_bytes,
        },
    })
}
