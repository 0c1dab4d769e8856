//! The `teamster` binary: a thin CLI over the library; the only place that maps errors to
//! exit codes.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // The supervisor is re-executed for every service: take the short path, with no
    // argument parser and no async runtime.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == "__supervise") {
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
