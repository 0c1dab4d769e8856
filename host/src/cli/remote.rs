//! `teamster exec`, `travel` and `now`: commands that act on the bundle `teamster up` runs
//! in this project, through its control socket.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use super::ExitCode;
use crate::orchestrator::control::{ExecSpec, Reply, Request, request};

/// The run directory of the bundle `teamster up` runs for this bundle file.
fn current_run(bundle: &Path) -> Result<PathBuf, ExitCode> {
    match crate::BundleSpec::load(bundle) {
        Ok(spec) => Ok(spec.run_root.join("current")),
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            Err(ExitCode::BundleInvalid)
        }
    }
}

fn ask(bundle: &Path, req: Request) -> Result<Reply, ExitCode> {
    let run = current_run(bundle)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::Internal
        })?;
    match rt.block_on(request(&run, &req)) {
        Ok(Reply::Error { message }) => {
            eprintln!("error: {message}");
            Err(ExitCode::Usage)
        }
        Ok(reply) => Ok(reply),
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            Err(ExitCode::NotRunning)
        }
    }
}

/// `teamster exec <service> <subcommand> [args…]`: runs with our stdin/stdout/stderr and
/// exits with the sub-command's status.
pub(super) fn exec(bundle: &Path, service: String, name: String, args: Vec<String>) -> ExitCode {
    let spec = match ask(
        bundle,
        Request::Exec {
            service,
            name,
            args,
        },
    ) {
        Ok(Reply::Exec(spec)) => spec,
        Ok(_) => return ExitCode::Internal,
        Err(code) => return code,
    };
    run_here(spec)
}

fn run_here(spec: ExecSpec) -> ExitCode {
    let Some((program, args)) = spec.argv.split_first() else {
        eprintln!("error: the plugin built an empty command");
        return ExitCode::Internal;
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd);
    if let Some(user) = &spec.user
        && nix::unistd::Uid::effective().is_root()
    {
        match nix::unistd::User::from_name(user) {
            Ok(Some(u)) => {
                cmd.uid(u.uid.as_raw())
                    .gid(u.gid.as_raw())
                    .env("HOME", &u.dir)
                    .env("USER", user);
            }
            _ => {
                eprintln!("error: user `{user}` does not exist");
                return ExitCode::Internal;
            }
        }
    }
    match cmd.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("error: cannot run `{program}`: {e}");
            ExitCode::Internal
        }
    }
}

/// `teamster travel +30d` / `teamster travel --to 2027-01-01T09:00:00+01:00`.
pub(super) fn travel(bundle: &Path, by: Option<String>, to: Option<String>) -> ExitCode {
    match ask(bundle, Request::Travel { by, to }) {
        Ok(Reply::Travelled { report }) => {
            println!("{report}");
            ExitCode::Ok
        }
        Ok(_) => ExitCode::Internal,
        Err(code) => code,
    }
}

/// `teamster now`.
pub(super) fn now(bundle: &Path) -> ExitCode {
    match ask(bundle, Request::Now) {
        Ok(Reply::Now { now }) => {
            println!("{now}");
            ExitCode::Ok
        }
        Ok(_) => ExitCode::Internal,
        Err(code) => code,
    }
}
