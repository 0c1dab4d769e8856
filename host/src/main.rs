//! The `teamster` binary: a thin CLI over the library; the only place that maps errors to
//! exit codes.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // The spawner and the supervisors it forks (or, failing that, one re-exec per service):
    // take the short path, with no argument parser and no async runtime.
    let mut args = std::env::args_os();
    let first = args.nth(1);
    if first.as_ref().is_some_and(|a| a == "__spawner") {
        return std::process::ExitCode::from(teamster::supervisor::run_spawner() as u8);
    }
    if first.is_some_and(|a| a == "__supervise") {
        let spec = args
            .next()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return std::process::ExitCode::from(teamster::supervisor::run_supervisor(&spec) as u8);
    }
    let cli = match teamster::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                teamster::cli::ExitCode::Usage.into()
            } else {
                std::process::ExitCode::SUCCESS
            };
        }
    };
    teamster::cli::run(cli).into()
}
