//! The `teamster` command line: argument parsing and the commands.
//!
//! Only this module and `main.rs` know about exit codes; the library returns typed errors.

mod exit;
mod plugin;
mod remote;
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use exit::ExitCode;

/// Start, supervise and time-travel bundles of real services for integration tests.
#[derive(Debug, Parser)]
#[command(name = "teamster", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a bundle in the foreground, with its logs, until Ctrl-C or a crash.
    Up {
        /// The bundle file.
        #[arg(default_value = "bundle.toml")]
        bundle: PathBuf,
        /// Print nothing but readiness and errors.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a service's sub-command (`psql`, `cli`, `manage`, …) in its environment, in the
    /// bundle `teamster up` runs in this project; exits with the sub-command's status.
    Exec {
        /// The bundle file whose running bundle to use.
        #[arg(short = 'f', long, default_value = "bundle.toml")]
        bundle: PathBuf,
        /// The service.
        service: String,
        /// The sub-command.
        subcommand: String,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Move the clock of every service in the running bundle: `+30d`, `-2h`, `1d2h30m`, or
    /// `--to 2027-01-01T09:00:00+01:00`.
    Travel {
        /// The bundle file whose running bundle to use.
        #[arg(short = 'f', long, default_value = "bundle.toml")]
        bundle: PathBuf,
        /// A relative jump.
        #[arg(
            allow_hyphen_values = true,
            required_unless_present = "to",
            conflicts_with = "to"
        )]
        by: Option<String>,
        /// An absolute instant (RFC 3339, time zone respected).
        #[arg(long)]
        to: Option<String>,
    },
    /// Print the running bundle's (possibly travelled) time.
    Now {
        /// The bundle file whose running bundle to use.
        #[arg(short = 'f', long, default_value = "bundle.toml")]
        bundle: PathBuf,
    },
    /// Manage service-kind plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// A mock SMTP server: accepts every message and prints one JSON object per message.
    SmtpSink {
        /// Port to listen on (0: any free port; the ready line names it).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
    },
    /// Validate a bundle file without starting anything.
    Check {
        /// The bundle file.
        #[arg(default_value = "bundle.toml")]
        bundle: PathBuf,
    },
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { bundle } => match crate::BundleSpec::load(&bundle) {
            Ok(spec) => {
                println!(
                    "{}: ok ({} services)",
                    bundle.display(),
                    spec.services.len()
                );
                ExitCode::Ok
            }
            Err(e) => {
                eprintln!("error: {}", crate::error_chain(&e));
                ExitCode::BundleInvalid
            }
        },
        Command::Up { bundle, quiet } => up::up(&bundle, quiet),
        Command::Exec {
            bundle,
            service,
            subcommand,
            args,
        } => remote::exec(&bundle, service, subcommand, args),
        Command::Travel { bundle, by, to } => remote::travel(&bundle, by, to),
        Command::Now { bundle } => remote::now(&bundle),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::SmtpSink { port, host } => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::Internal;
                }
            };
            match rt.block_on(crate::smtp::run(std::net::SocketAddr::new(host, port))) {
                Ok(()) => ExitCode::Ok,
                Err(e) => {
                    eprintln!("error: {}", crate::error_chain(&e));
                    ExitCode::Internal
                }
            }
        }
    }
}
