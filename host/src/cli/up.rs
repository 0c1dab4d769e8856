//! `teamster up`: run a bundle, in the foreground or detached (`-d`).
//!
//! One host function serves both: it takes the project's lock, listens on the control
//! socket, starts the bundle, and then waits for a reason to stop. Signals become domain
//! events here and only here: the first Ctrl-C, SIGTERM or SIGHUP asks for a graceful stop
//! in reverse dependency order, the second SIGKILLs every tree, the third exits at once
//! (the supervisors still clean up, as they do when the host dies). A detached host also
//! stops on `teamster down` (the protocol's `stop`) and, when leased, once its last lease
//! is gone.
//!
//! `up -d` itself is a short-lived parent: it attaches to a live host of the same bundle,
//! or starts one as a child in its own session (so the terminal's signals do not reach
//! it), relays the child's start-up reports, and exits once every service is ready.

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use super::ExitCode;
use crate::bundle::spec::BundleSpec;
use crate::control::place::{self, HostRecord, RootLock};
use crate::control::{Client, ControlError, ControlServer, ServerOptions};
use crate::logs::ConsoleMode;
use crate::orchestrator::Bundle;
use crate::orchestrator::run_dir::RunDir;
use crate::process::{Group, ProcessBuilder};

/// How many stop requests have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    Graceful,
    Kill,
}

/// The options of `teamster up`.
#[derive(Debug, Clone)]
pub(super) struct UpOptions {
    pub bundle: PathBuf,
    pub quiet: bool,
    pub detach: bool,
    pub json: bool,
    pub leased: bool,
    pub grace: Duration,
    pub reuse: bool,
    /// Set in the detached host that `up -d` started: report to stdout, run quiet.
    pub daemon_child: bool,
}

/// A bundle read from its file or stdin, with what identifies it.
struct Loaded {
    spec: BundleSpec,
    text: String,
    hash: String,
}

/// Where messages of a host go: the terminal, or the `up -d` parent's pipe.
enum Reporter {
    Terminal,
    /// JSON lines on stdout, read by the parent.
    Parent,
}

impl Reporter {
    fn send(&self, event: Value) {
        if let Reporter::Parent = self {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}").and_then(|()| out.flush());
        }
    }

    fn error(&self, code: ExitCode, message: &str) -> ExitCode {
        self.error_with(code, message, None)
    }

    /// An error, with structured details for a client (`services` of a failed start).
    fn error_with(&self, code: ExitCode, message: &str, data: Option<Value>) -> ExitCode {
        match self {
            Reporter::Terminal => errln!("error: {message}"),
            Reporter::Parent => {
                let mut event =
                    json!({"event": "error", "exit_code": code as u8, "message": message});
                if let Some(services) = data.as_ref().and_then(|d| d.get("services")) {
                    event["services"] = services.clone();
                }
                self.send(event);
            }
        }
        code
    }
}

/// Reads and validates the bundle. With `kinds`, kind services are checked against their
/// plugins too (kind, config, grants), so those errors point into the file and exit 3, as
/// at `check`; the `up -d` parent skips that (it only needs the hash to attach, and the host
/// it starts checks).
fn read_bundle(path: &Path, kinds: bool) -> Result<Loaded, (ExitCode, String)> {
    let invalid = |e: crate::bundle::BundleError| (ExitCode::BundleInvalid, crate::error_chain(&e));
    let checker = crate::orchestrator::kinds::ProcessKinds;
    let kinds: Option<&dyn crate::bundle::KindCheck> = kinds.then_some(&checker);
    let (text, name, source) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            (
                ExitCode::BundleInvalid,
                format!("cannot read the bundle from stdin: {e}"),
            )
        })?;
        (text, Path::new("<stdin>").to_owned(), None)
    } else {
        let text = BundleSpec::read_text(path).map_err(invalid)?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        (text, path.to_owned(), Some(absolute))
    };
    let is_json = source.is_none() || path.extension().is_some_and(|e| e == "json");
    let spec = if is_json {
        BundleSpec::parse_any_with(&text, &name, kinds)
    } else {
        // A `.toml` (or any other) file is TOML, whatever it starts with.
        BundleSpec::parse_with(&text, &name, kinds)
    }
    .map_err(invalid)?;
    let hash = place::spec_hash(source.as_deref(), &text);
    Ok(Loaded { spec, text, hash })
}

pub(super) fn up(options: UpOptions) -> ExitCode {
    if options.detach && !options.daemon_child {
        return detach(&options);
    }
    if options.daemon_child {
        // Out of the terminal's session: its Ctrl-C and hang-up are not ours. `up -d` starts
        // it in a session of its own already; this covers a daemon child started by hand
        // (where `setsid` fails harmlessly if it leads a session).
        let _ = nix::unistd::setsid();
    }
    let reporter = if options.daemon_child {
        Reporter::Parent
    } else {
        Reporter::Terminal
    };
    let loaded = match read_bundle(&options.bundle, true) {
        Ok(l) => l,
        Err((code, message)) => return reporter.error(code, &message),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return reporter.error(
                ExitCode::Internal,
                &format!("cannot start the async runtime: {e}"),
            );
        }
    };
    rt.block_on(host(loaded, &options, &reporter))
}

/// The message for a second host in a project.
fn already_running(run_root: &Path) -> String {
    let who = match place::read_record(run_root) {
        Some(r) => format!(
            "pid {}, started {}{}",
            r.pid,
            r.started,
            if r.detached { ", detached" } else { "" }
        ),
        None => "its pid is not recorded yet".to_owned(),
    };
    format!(
        "a bundle already runs in this project ({who}; run root {}): stop it with `teamster down`, or attach with `teamster up -d`",
        run_root.display()
    )
}

async fn host(loaded: Loaded, options: &UpOptions, reporter: &Reporter) -> ExitCode {
    let Loaded { spec, hash, .. } = loaded;
    let run_root = spec.run_root.clone();
    // Never created: a typo in `project_dir` must not scatter run directories.
    if !spec.project_dir.is_dir() {
        return reporter.error(
            ExitCode::StartupFailed,
            &crate::error_chain(&crate::StartError::NoProjectDir {
                path: spec.project_dir.clone(),
            }),
        );
    }
    // One host per project: the lock lives as long as this process.
    let _lock = match RootLock::take_within(&run_root, place::LOCK_FILE, Duration::from_millis(200))
    {
        Ok(Some(lock)) => lock,
        Ok(None) => return reporter.error(ExitCode::AlreadyRunning, &already_running(&run_root)),
        Err(e) => return reporter.error(ExitCode::Internal, &crate::error_chain(&e)),
    };
    // No host runs here now: whatever a dead one left goes first.
    super::remote::reap(&run_root);
    let socket = match place::socket_path(&run_root) {
        Ok(s) => s,
        Err(e) => return reporter.error(ExitCode::Internal, &crate::error_chain(&e)),
    };
    let run = match RunDir::create(
        &run_root,
        spec.keep_runs,
        spec.source.as_deref(),
        Some(&socket),
    ) {
        Ok(run) => run,
        Err(e) => {
            return reporter.error(
                ExitCode::StartupFailed,
                &format!(
                    "cannot create the run directory in {}: {e}",
                    run_root.display()
                ),
            );
        }
    };
    let leased = options.detach && options.leased && !options.reuse;
    let server = match ControlServer::bind(
        &socket,
        ServerOptions {
            bundle: spec.source.clone(),
            run_dir: run.path().to_owned(),
            spec_hash: hash.clone(),
            detached: options.detach,
            kept: !leased,
            grace: options.grace,
            startup_timeout: spec.startup_timeout,
        },
        spec.services
            .iter()
            .map(|s| (s.name.clone(), s.kind.as_ref().map(|k| k.name.clone())))
            .collect(),
    ) {
        Ok(s) => s,
        Err(e) => return reporter.error(ExitCode::Internal, &crate::error_chain(&e)),
    };
    let record = HostRecord {
        pid: std::process::id(),
        socket: socket.clone(),
        run_dir: run.path().to_owned(),
        spec_hash: hash.clone(),
        detached: options.detach,
        started: chrono::Local::now().to_rfc3339(),
    };
    if let Err(e) = place::write_record(&run_root, &record) {
        return reporter.error(ExitCode::Internal, &crate::error_chain(&e));
    }
    let code = run_bundle(spec, run, &server, &record, options, reporter).await;
    place::remove_record(&run_root, std::process::id());
    server.close(Duration::from_secs(1)).await;
    drop(server);
    code
}

async fn run_bundle(
    spec: BundleSpec,
    run: RunDir,
    server: &ControlServer,
    record: &HostRecord,
    options: &UpOptions,
    reporter: &Reporter,
) -> ExitCode {
    reporter.send(json!({
        "event": "listening",
        "pid": record.pid,
        "socket": record.socket,
        "run_dir": record.run_dir,
    }));
    let console = if options.daemon_child {
        ConsoleMode::Quiet
    } else if options.quiet {
        // Each readiness line, warnings and errors, but no service output.
        ConsoleMode::Summary
    } else {
        ConsoleMode::detect()
    };
    let (Ok(mut sigint), Ok(mut sigterm), Ok(mut sighup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return reporter.error(ExitCode::Internal, "cannot install signal handlers");
    };
    let (interrupt, interrupted) = tokio::sync::watch::channel(false);
    let mut bundle = Bundle::new(spec)
        .console(console)
        .publish(true)
        .in_run_dir(run)
        .client(server.client())
        .on_logs(server.logs_sink())
        .interruptible(interrupted);
    server.track(bundle.events());
    let progress = if !options.quiet && !options.daemon_child && super::progress::wanted() {
        let names: Vec<String> = bundle
            .spec()
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let (progress, writer) = super::progress::Progress::start(&names, bundle.events());
        bundle = bundle.console_writer(Box::new(writer));
        Some(progress)
    } else {
        None
    };
    let start = bundle.start();
    tokio::pin!(start);
    let outcome = loop {
        tokio::select! {
            r = &mut start => break r,
            // Interrupted during startup: the start stops what it started, in order, and
            // returns once every tree is gone.
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
            _ = sighup.recv() => {}
            _ = server.stop_requested(), if !*interrupt.borrow() => {}
        }
        interrupt.send_replace(true);
    };
    if let Some(progress) = progress {
        progress.finish();
    }
    let running = match outcome {
        Ok(r) => r,
        Err(crate::StartError::Interrupted) => {
            server.stopping();
            return ExitCode::Ok;
        }
        Err(e) => {
            let mut message = crate::error_chain(&e);
            let picture = record.run_dir.join(crate::timeline::FAILED_START_SVG);
            if picture.is_file() {
                message.push_str(&format!("\ntimeline of the start: {}", picture.display()));
            }
            let mut data = crate::control::server::start_error_data(&e);
            if let Some(obj) = data.as_object_mut()
                && picture.is_file()
            {
                obj.insert("timeline_svg".into(), json!(picture));
            }
            server.failed(message.clone(), data.clone());
            return reporter.error_with(ExitCode::StartupFailed, &message, Some(data));
        }
    };
    server.ready(&running);
    reporter.send(ready_event(
        record,
        false,
        &connections_json(running.connections()),
    ));
    if options.detach {
        running.message(&format!(
            "all {} services ready (detached, pid {}); `teamster down` stops them",
            running.services().len(),
            std::process::id()
        ));
        if options.daemon_child {
            // The parent has what it waited for; later writes must not fail on its pipe.
            detach_stdio();
        }
    } else {
        running.message(&format!(
            "all {} services ready; Ctrl-C to stop",
            running.services().len()
        ));
    }

    let mut code = ExitCode::Ok;
    tokio::select! {
        crash = running.crashed() => {
            errln!("error: {crash}");
            running.warning(&crash.to_string());
            code = ExitCode::ServiceCrashed;
        }
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
        _ = sighup.recv() => {}
        _ = server.stop_requested() => running.message("stop requested by a client"),
        _ = server.unleased() => running.message("the last lease was released; stopping"),
    }
    server.stopping();
    running.message("stopping (Ctrl-C again to kill)");
    let kill = running.kill_switch();
    let stop = running.stop();
    tokio::pin!(stop);
    let mut state = Shutdown::Graceful;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = async { tokio::select! { _ = sigint.recv() => {}, _ = sigterm.recv() => {}, _ = sighup.recv() => {} } } => {
                state = match state {
                    Shutdown::Graceful => {
                        errln!("teamster: killing every service (Ctrl-C again to exit at once)");
                        kill.kill();
                        Shutdown::Kill
                    }
                    Shutdown::Kill => std::process::exit(ExitCode::Interrupted as i32),
                };
            }
        }
    }
    code
}

/// Points stdout and stderr at `/dev/null`.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsFd as _;
        let _ = nix::unistd::dup2_stdout(null.as_fd());
    }
}

fn connections_json(
    connections: &std::collections::BTreeMap<String, Vec<(String, String)>>,
) -> Value {
    let map: serde_json::Map<String, Value> = connections
        .iter()
        .map(|(service, info)| {
            let info: serde_json::Map<String, Value> =
                info.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            (service.clone(), Value::Object(info))
        })
        .collect();
    Value::Object(map)
}

fn ready_event(record: &HostRecord, attached: bool, connections: &Value) -> Value {
    json!({
        "event": "ready",
        "attached": attached,
        "pid": record.pid,
        "socket": record.socket,
        "run_dir": record.run_dir,
        "spec_hash": record.spec_hash,
        "connections": connections,
    })
}

/// Prints what `up -d` has to say once the bundle is ready.
fn print_ready(event: &Value, json_out: bool) {
    if json_out {
        outln!("{event}");
        return;
    }
    let attached = event["attached"].as_bool().unwrap_or(false);
    outln!(
        "bundle ready ({} pid {}; `teamster down` stops it)",
        if attached { "attached to" } else { "detached," },
        event["pid"]
    );
    if let Some(map) = event["connections"].as_object() {
        for (service, info) in map {
            let Some(info) = info.as_object() else {
                continue;
            };
            if info.is_empty() {
                continue;
            }
            let pairs: Vec<String> = info
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            outln!("  {service}: {}", pairs.join(" "));
        }
    }
}

fn detach_error(json_out: bool, code: ExitCode, message: &str) -> ExitCode {
    if json_out {
        outln!(
            "{}",
            json!({"event": "error", "exit_code": code as u8, "message": message})
        );
    } else {
        errln!("error: {message}");
    }
    code
}

/// What an attach attempt found.
enum Attach {
    /// Attached: the exit code to return.
    Done(ExitCode),
    /// No live host.
    Nobody,
}

/// Attaches to the live host of `run_root` if it runs the same bundle.
fn try_attach(run_root: &Path, hash: &str, options: &UpOptions) -> Attach {
    let Ok(record) = crate::control::find_host(run_root) else {
        return Attach::Nobody;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Attach::Done(detach_error(
                options.json,
                ExitCode::Internal,
                &format!("cannot start the async runtime: {e}"),
            ));
        }
    };
    rt.block_on(async {
        let mut client = match Client::connect(&record).await {
            Ok(c) => c,
            // A host that does not answer is going away; start anew.
            Err(ControlError::Connect { .. }) => return Attach::Nobody,
            Err(e) => {
                return Attach::Done(detach_error(
                    options.json,
                    ExitCode::NotRunning,
                    &crate::error_chain(&e),
                ));
            }
        };
        let running_hash = client.hello["spec_hash"].as_str().unwrap_or_default();
        if running_hash != hash {
            let message = format!(
                "a different bundle runs in this project (pid {}, from {}): the bundle changed since it started; `teamster down` stops it, then `teamster up -d` starts this one",
                record.pid,
                client.hello["bundle"].as_str().unwrap_or("stdin")
            );
            return Attach::Done(detach_error(options.json, ExitCode::AlreadyRunning, &message));
        }
        if client.hello["phase"] == "stopping" {
            return Attach::Nobody;
        }
        if options.reuse
            && let Err(e) = client.call("bundle.keep", json!({"keep": true})).await
        {
            return Attach::Done(detach_error(
                options.json,
                ExitCode::Internal,
                &crate::error_chain(&e),
            ));
        }
        match client.call("bundle.wait_ready", json!({})).await {
            Ok(status) => {
                let connections = connections_of_status(&status);
                print_ready(&ready_event(&record, true, &connections), options.json);
                Attach::Done(ExitCode::Ok)
            }
            Err(ControlError::Rpc(e)) if e.code == crate::control::wire::code::STOPPING => {
                Attach::Nobody
            }
            Err(ControlError::Rpc(e)) if e.code == crate::control::wire::code::START_FAILED => {
                Attach::Done(detach_error(options.json, ExitCode::StartupFailed, &e.message))
            }
            Err(e) => Attach::Done(detach_error(
                options.json,
                ExitCode::StartupFailed,
                &crate::error_chain(&e),
            )),
        }
    })
}

fn connections_of_status(status: &Value) -> Value {
    let mut map = serde_json::Map::new();
    for service in status["services"].as_array().into_iter().flatten() {
        if let Some(name) = service["name"].as_str() {
            map.insert(name.to_owned(), service["connection"].clone());
        }
    }
    Value::Object(map)
}

/// `teamster up -d`: attach, or start a detached host and relay its reports.
fn detach(options: &UpOptions) -> ExitCode {
    let loaded = match read_bundle(&options.bundle, false) {
        Ok(l) => l,
        Err((code, message)) => return detach_error(options.json, code, &message),
    };
    let run_root = loaded.spec.run_root.clone();
    if let Attach::Done(code) = try_attach(&run_root, &loaded.hash, options) {
        return code;
    }
    // Concurrent `up -d` (every test worker at once) start one host: the others wait here,
    // then attach to it.
    let start_lock =
        match RootLock::take_within(&run_root, place::START_LOCK_FILE, Duration::from_secs(120)) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                return detach_error(
                    options.json,
                    ExitCode::Internal,
                    &format!(
                        "another `teamster up -d` has held {} for 2 minutes",
                        run_root.join(place::START_LOCK_FILE).display()
                    ),
                );
            }
            Err(e) => {
                return detach_error(options.json, ExitCode::Internal, &crate::error_chain(&e));
            }
        };
    if let Attach::Done(code) = try_attach(&run_root, &loaded.hash, options) {
        return code;
    }
    if place::host_running(&run_root) {
        return detach_error(
            options.json,
            ExitCode::AlreadyRunning,
            &already_running(&run_root),
        );
    }
    spawn_daemon(options, &loaded, &run_root, start_lock)
}

fn spawn_daemon(
    options: &UpOptions,
    loaded: &Loaded,
    run_root: &Path,
    start_lock: RootLock,
) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return detach_error(
                options.json,
                ExitCode::Internal,
                &format!("cannot find the teamster binary: {e}"),
            );
        }
    };
    let log_path = run_root.join("daemon.log");
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => {
            return detach_error(
                options.json,
                ExitCode::Internal,
                &format!("cannot create {}: {e}", log_path.display()),
            );
        }
    };
    let mut args = vec![
        "up".into(),
        "--detach".into(),
        "--daemon-child".into(),
        "--grace".into(),
        std::ffi::OsString::from(format!("{}ms", options.grace.as_millis())),
    ];
    if options.leased {
        args.push("--leased".into());
    }
    if options.reuse {
        args.push("--reuse".into());
    }
    args.push(options.bundle.clone().into_os_string());
    let from_stdin = options.bundle == Path::new("-");
    // A session of its own, so the terminal's Ctrl-C and hang-up never reach the host, and
    // default signal dispositions, as every process teamster starts gets. It outlives this
    // parent: its group is not killed when the handle goes.
    let spawned = ProcessBuilder::new(exe)
        .args(args)
        .group(Group::NewSession)
        .stdin(if from_stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn();
    let (_group, mut child) = match spawned {
        Ok(c) => c.into_parts(),
        Err(e) => {
            return detach_error(
                options.json,
                ExitCode::Internal,
                &format!("cannot start the detached host: {}", crate::error_chain(&e)),
            );
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(loaded.text.as_bytes());
    }
    let mut start_lock = Some(start_lock);
    let stdout = child.stdout.take().expect("piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match event["event"].as_str() {
            Some("listening") => {
                // Others may attach now: the host's socket answers.
                start_lock = None;
                if options.json {
                    outln!("{event}");
                }
            }
            Some("ready") => {
                print_ready(&event, options.json);
                return ExitCode::Ok;
            }
            Some("error") => {
                let code = match event["exit_code"].as_u64() {
                    Some(3) => ExitCode::BundleInvalid,
                    Some(4) => ExitCode::StartupFailed,
                    Some(8) => ExitCode::AlreadyRunning,
                    _ => ExitCode::Internal,
                };
                let _ = child.wait();
                if options.json {
                    // Relayed whole: clients read `services` (who failed, how, last lines).
                    let mut event = event.clone();
                    event["exit_code"] = json!(code as u8);
                    outln!("{event}");
                    return code;
                }
                return detach_error(
                    options.json,
                    code,
                    event["message"]
                        .as_str()
                        .unwrap_or("the detached host failed"),
                );
            }
            _ => {}
        }
    }
    drop(start_lock);
    let status = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let last: Vec<&str> = log
        .lines()
        .rev()
        .take(10)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    detach_error(
        options.json,
        ExitCode::Internal,
        &format!(
            "the detached host exited ({}) before its bundle was ready; its log, {}:\n{}",
            status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            log_path.display(),
            last.join("\n")
        ),
    )
}
