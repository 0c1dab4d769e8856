//! `teamster up`: run a bundle in the foreground.
//!
//! Signals become domain events here and only here: the first Ctrl-C (or SIGTERM) asks
//! for a graceful stop in reverse dependency order, the second SIGKILLs every tree, the
//! third exits at once (the supervisors still clean up, as they do when the host dies).

use std::path::Path;

use tokio::signal::unix::{SignalKind, signal};

use super::ExitCode;
use crate::logs::ConsoleMode;
use crate::orchestrator::Bundle;

/// How many stop requests have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    Graceful,
    Kill,
}

pub(super) fn up(path: &Path, quiet: bool) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Internal;
        }
    };
    rt.block_on(up_async(path, quiet))
}

async fn up_async(path: &Path, quiet: bool) -> ExitCode {
    let bundle = match Bundle::load(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            return ExitCode::BundleInvalid;
        }
    };
    let console = if quiet {
        ConsoleMode::Quiet
    } else {
        ConsoleMode::detect()
    };
    let (Ok(mut sigint), Ok(mut sigterm)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        eprintln!("error: cannot install signal handlers");
        return ExitCode::Internal;
    };
    let start = bundle.console(console).publish(true).start();
    tokio::pin!(start);
    let running = tokio::select! {
        r = &mut start => match r {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}", crate::error_chain(&e));
                return ExitCode::StartupFailed;
            }
        },
        // Interrupted during startup: dropping the start closes every control channel, and
        // each supervisor stops its tree.
        _ = sigint.recv() => return ExitCode::Ok,
        _ = sigterm.recv() => return ExitCode::Ok,
    };
    let _control = match running.serve_control() {
        Ok(task) => Some(task),
        Err(e) => {
            running.warning(&format!("`teamster exec`, `travel` and `now` are unavailable: cannot open the control socket: {e}"));
            None
        }
    };
    running.message(&format!(
        "all {} services ready; Ctrl-C to stop",
        running.services().len()
    ));

    let mut code = ExitCode::Ok;
    tokio::select! {
        crash = running.crashed() => {
            eprintln!("error: {crash}");
            code = ExitCode::ServiceCrashed;
        }
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    running.message("stopping (Ctrl-C again to kill)");
    let kill = running.kill_switch();
    let stop = running.stop();
    tokio::pin!(stop);
    let mut state = Shutdown::Graceful;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = async { tokio::select! { _ = sigint.recv() => {}, _ = sigterm.recv() => {} } } => {
                state = match state {
                    Shutdown::Graceful => {
                        eprintln!("teamster: killing every service (Ctrl-C again to exit at once)");
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
