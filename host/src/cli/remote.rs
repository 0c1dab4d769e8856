//! The commands that act on the bundle running in this project, through its control
//! socket: `exec`, `kernel`, `travel`, `now`, `status`, `logs` and `down`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::ExitCode;
use crate::control::{Client, ControlError, find_host};
use crate::orchestrator::ExecSpec;
use crate::process::{ProcessBuilder, SpawnError};

/// The run root of the bundle file `bundle` (`-`: the current directory's `.teamster`).
/// When the default `bundle.toml` is missing, a `.teamster` in the current directory is
/// used, so that a bundle started from stdin can be reached.
pub(super) fn run_root(bundle: &Path) -> Result<PathBuf, ExitCode> {
    let here = || {
        std::env::current_dir()
            .map(|d| d.join(".teamster"))
            .map_err(|e| {
                errln!("error: cannot read the current directory: {e}");
                ExitCode::Internal
            })
    };
    if bundle == Path::new("-") {
        return here();
    }
    if bundle == Path::new("bundle.toml") && !bundle.exists() {
        let root = here()?;
        if root.exists() {
            return Ok(root);
        }
    }
    match crate::BundleSpec::load(bundle) {
        Ok(spec) => Ok(spec.run_root),
        Err(e) => {
            errln!("error: {}", crate::error_chain(&e));
            Err(ExitCode::BundleInvalid)
        }
    }
}

/// Kills what dead hosts of this project left running, and says so.
pub(super) fn reap(run_root: &Path) {
    for r in crate::orchestrator::run_dir::reap_dead(run_root) {
        errln!(
            "teamster: killed {} process{} left by run {} (its host, pid {}, died without stopping them)",
            r.processes,
            if r.processes == 1 { "" } else { "es" },
            r.run,
            r.host_pid
        );
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            errln!("error: cannot start the async runtime: {e}");
            ExitCode::Internal
        })
}

/// Maps a failed exchange to a message and an exit code.
fn failed(e: &ControlError) -> ExitCode {
    errln!("error: {}", crate::error_chain(e));
    match e {
        ControlError::NotRunning { .. } | ControlError::Connect { .. } => ExitCode::NotRunning,
        ControlError::Rpc(_) => ExitCode::Usage,
        ControlError::Protocol(_) => ExitCode::Internal,
    }
}

/// Connects to the running bundle of `bundle`'s project and runs `f` with the client.
fn with_client<T>(
    bundle: &Path,
    f: impl AsyncFnOnce(&mut Client) -> Result<T, ControlError>,
) -> Result<T, ExitCode> {
    let root = run_root(bundle)?;
    let rt = runtime()?;
    rt.block_on(async {
        let record = find_host(&root).map_err(|e| {
            if matches!(e, ControlError::NotRunning { .. }) {
                reap(&root);
            }
            failed(&e)
        })?;
        let mut client = Client::connect(&record).await.map_err(|e| failed(&e))?;
        f(&mut client).await.map_err(|e| failed(&e))
    })
}

/// `teamster exec <service> <subcommand> [args…]`: runs with our stdin/stdout/stderr and
/// exits with the sub-command's status.
pub(super) fn exec(bundle: &Path, service: String, name: String, args: Vec<String>) -> ExitCode {
    let spec = match with_client(bundle, async |c| {
        c.call(
            "subcommand",
            json!({"service": service, "name": name, "args": args}),
        )
        .await
    }) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match serde_json::from_value::<ExecSpec>(spec) {
        Ok(spec) => run_here(spec),
        Err(e) => {
            errln!("error: the running bundle sent a command this teamster cannot read: {e}");
            ExitCode::Internal
        }
    }
}

/// Runs the sub-command the host built, here: in the caller's process group (so it stays in
/// the terminal's foreground and reads it), as the service's user, with every signal at its
/// default.
fn run_here(spec: ExecSpec) -> ExitCode {
    ignore_terminal_signals();
    let status = ProcessBuilder::from_argv(&spec.argv).and_then(|b| {
        b.env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
            .user(spec.user.as_deref())
            .spawn()
    });
    let status = match status {
        Ok(mut child) => child.wait(),
        Err(SpawnError::Empty) => {
            errln!("error: the plugin built an empty command");
            return ExitCode::Internal;
        }
        Err(e) => {
            errln!("error: {}", crate::error_chain(&e));
            return ExitCode::Internal;
        }
    };
    exit_with(&spec.argv[0], status)
}

/// `teamster kernel <service> [-- console args…]`: finds the kernel through the host, then
/// runs `jupyter console --existing <file>` with our stdio and exits with its status (or,
/// with `--print`, prints the file).
pub(super) fn kernel(
    bundle: &Path,
    service: String,
    timeout: Duration,
    print: bool,
    console_args: Vec<String>,
) -> ExitCode {
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let reply = match with_client(bundle, async |c| {
        c.call(
            "kernel",
            json!({"service": service, "timeout_ms": timeout_ms}),
        )
        .await
    }) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let Some(file) = reply["connection_file"].as_str() else {
        errln!("error: the running bundle sent a kernel reply this teamster cannot read: {reply}");
        return ExitCode::Internal;
    };
    if print {
        outln!("{file}");
        return ExitCode::Ok;
    }
    let mut argv = vec![
        "jupyter".to_owned(),
        "console".to_owned(),
        "--existing".to_owned(),
        file.to_owned(),
    ];
    argv.extend(console_args);
    ignore_terminal_signals();
    let status = ProcessBuilder::from_argv(&argv).and_then(|b| b.spawn());
    let status = match status {
        Ok(mut child) => child.wait(),
        Err(SpawnError::NotFound { .. }) => {
            errln!(
                "error: `jupyter` is not on PATH; install the console with `pip install jupyter-console` (the kernel's connection file is {file})"
            );
            return ExitCode::Internal;
        }
        Err(e) => {
            errln!("error: {}", crate::error_chain(&e));
            return ExitCode::Internal;
        }
    };
    exit_with(&argv[0], status)
}

/// While a child has the terminal (`exec`'s `psql`, `kernel`'s console), the `Ctrl-C` and
/// `Ctrl-\` typed into it reach this process too, since both are in the terminal's
/// foreground group: ignored here, as `system(3)` does, so that they interrupt the child
/// (a query, a cell) and not the wait that holds the terminal for it. The child starts
/// with default dispositions (the process builder resets them).
fn ignore_terminal_signals() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: SIG_IGN installs no handler code; this thread only waits afterwards.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}

/// Exits with a finished child's status (128 + its signal if a signal ended it).
fn exit_with(program: &str, status: std::io::Result<std::process::ExitStatus>) -> ExitCode {
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            std::process::exit(code);
        }
        Err(e) => {
            errln!("error: cannot wait for `{program}`: {e}");
            ExitCode::Internal
        }
    }
}

/// `teamster travel +30d` / `teamster travel --to 2027-01-01T09:00:00+01:00`.
pub(super) fn travel(bundle: &Path, by: Option<String>, to: Option<String>) -> ExitCode {
    let params = match (by, to) {
        (Some(by), _) => json!({"by": by}),
        (None, Some(to)) => json!({"to": to}),
        (None, None) => json!({}),
    };
    match with_client(bundle, async |c| c.call("travel", params).await) {
        Ok(reply) => {
            outln!("{}", reply["report"].as_str().unwrap_or_default());
            ExitCode::Ok
        }
        Err(code) => code,
    }
}

/// `teamster now`.
pub(super) fn now(bundle: &Path) -> ExitCode {
    match with_client(bundle, async |c| c.call("now", json!({})).await) {
        Ok(reply) => {
            outln!("{}", reply["now"].as_str().unwrap_or_default());
            ExitCode::Ok
        }
        Err(code) => code,
    }
}

/// `teamster status [--json]`.
pub(super) fn status(bundle: &Path, json_out: bool) -> ExitCode {
    let status = match with_client(bundle, async |c| c.call("status", json!({})).await) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if json_out {
        outln!("{status}");
        return ExitCode::Ok;
    }
    outln!(
        "bundle {} (pid {}{}, {} lease{}), run {}",
        status["phase"].as_str().unwrap_or("?"),
        status["pid"],
        if status["detached"] == true {
            ", detached"
        } else {
            ""
        },
        status["leases"],
        if status["leases"] == 1 { "" } else { "s" },
        status["run_dir"].as_str().unwrap_or("?"),
    );
    let services = status["services"].as_array().cloned().unwrap_or_default();
    let width = services
        .iter()
        .filter_map(|s| s["name"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(0);
    for s in &services {
        let mut line = format!(
            "  {:width$}  {:10}",
            s["name"].as_str().unwrap_or("?"),
            s["state"].as_str().unwrap_or("?"),
        );
        if let Some(pid) = s["pid"].as_u64() {
            line.push_str(&format!("  pid {pid}"));
        }
        if let Some(ms) = s["ready_after_ms"].as_u64() {
            line.push_str(&format!("  ready in {ms} ms"));
        }
        if let Some(url) = s["connection"]["url"].as_str() {
            line.push_str(&format!("  {url}"));
        }
        if let Some(reason) = s["reason"].as_str() {
            line.push_str(&format!("  ({reason})"));
        }
        outln!("{line}");
    }
    ExitCode::Ok
}

/// Options of `teamster logs`.
#[derive(Debug)]
pub(super) struct LogsOptions {
    pub bundle: PathBuf,
    pub services: Vec<String>,
    pub follow: bool,
    pub lines: Option<usize>,
    pub json: bool,
    pub stream: Option<String>,
}

fn print_line(line: &Value, json_out: bool) {
    if json_out {
        outln!("{line}");
        return;
    }
    let service = line["service"].as_str().unwrap_or("?");
    let text = line["text"].as_str().unwrap_or_default();
    if line["stream"] == "err" && service != crate::logs::BUNDLE_SERVICE {
        outln!("[Err {service}] {text}");
    } else {
        outln!("[{service}] {text}");
    }
}

/// `teamster logs [SERVICE…] [-f] [-n N] [--json]`.
pub(super) fn logs(options: LogsOptions) -> ExitCode {
    let wanted = |line: &Value| {
        options.services.is_empty()
            || line["service"]
                .as_str()
                .is_some_and(|s| options.services.iter().any(|w| w == s))
    };
    // One service is narrowed in the host; several are filtered here.
    let service = match options.services.as_slice() {
        [one] => json!(one),
        _ => Value::Null,
    };
    let mut view = json!({"service": service});
    if let Some(stream) = &options.stream {
        view["stream"] = json!(stream);
    }
    let result = with_client(&options.bundle, async |c| {
        if options.follow {
            let mut params = view.clone();
            params["lines_back"] = json!(options.lines.unwrap_or(10));
            params["json"] = json!(false);
            c.call("logs.follow", params).await?;
            while let Some((method, params)) = c.notification().await? {
                match method.as_str() {
                    "logs.line" if wanted(&params["line"]) => {
                        print_line(&params["line"], options.json);
                    }
                    "logs.end" => break,
                    _ => {}
                }
            }
            return Ok(());
        }
        let mut params = view.clone();
        if let Some(n) = options.lines
            && options.services.len() <= 1
        {
            params["tail"] = json!(n);
        }
        let reply = c.call("logs.query", params).await?;
        let mut lines: Vec<&Value> = reply["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| wanted(l))
            .collect();
        if let Some(n) = options.lines {
            let excess = lines.len().saturating_sub(n);
            lines.drain(..excess);
        }
        for line in lines {
            print_line(line, options.json);
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::Ok,
        Err(code) => code,
    }
}

/// `teamster down`: stops the running bundle and waits until its host is gone.
pub(super) fn down(bundle: &Path) -> ExitCode {
    let root = match run_root(bundle) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = with_client(bundle, async |c| {
        let pid = c.hello["pid"].clone();
        c.call("stop", json!({})).await?;
        // The host closes every connection when it exits, after the last tree is gone.
        c.closed().await;
        Ok(pid)
    });
    let pid = match result {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    // The lock is released when the host process is gone, not merely its socket.
    match crate::control::place::RootLock::take_within(
        &root,
        crate::control::place::LOCK_FILE,
        Duration::from_secs(60),
    ) {
        Ok(Some(_)) => {
            outln!("stopped the bundle (pid {pid})");
            ExitCode::Ok
        }
        Ok(None) => {
            errln!("error: the host (pid {pid}) did not exit within 60 s of `stop`");
            ExitCode::Internal
        }
        Err(e) => {
            errln!("error: {}", crate::error_chain(&e));
            ExitCode::Internal
        }
    }
}
