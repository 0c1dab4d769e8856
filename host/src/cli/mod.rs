//! The `teamster` command line: argument parsing and the commands.
//!
//! Only this module and `main.rs` know about exit codes; the library returns typed errors.

/// `println!` that never panics: a closed or full stdout (`teamster status | head -0`,
/// `>/dev/full`) must end in the command's own exit code, not a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics (`2>/dev/full`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod exit;
mod plugin;
mod progress;
mod remote;
mod timeline;
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
    /// Start a bundle: in the foreground, with its logs, until Ctrl-C or a crash; or
    /// detached (`-d`), returning once every service is ready.
    Up {
        /// The bundle file (TOML, or JSON if it ends in `.json`); `-` reads it from stdin.
        #[arg(default_value = "bundle.toml")]
        bundle: PathBuf,
        /// Print nothing but readiness and errors.
        #[arg(short, long)]
        quiet: bool,
        /// Detach: start the bundle in the background, print its connection info once it
        /// is ready, and return. Attaches instead if the same bundle already runs here.
        #[arg(short, long)]
        detach: bool,
        /// With `-d`: print JSON lines (`listening`, then `ready` or `error`).
        #[arg(long, requires = "detach")]
        json: bool,
        /// With `-d`: stop the bundle once it has had no lease for `--grace`.
        #[arg(long, requires = "detach")]
        leased: bool,
        /// How long a leased bundle waits without a lease before it stops.
        #[arg(long, default_value = "2s", value_parser = parse_grace)]
        grace: std::time::Duration,
        /// With `-d`: keep the bundle running after its last lease (across test runs);
        /// attaching makes a running bundle kept too.
        #[arg(long, requires = "detach")]
        reuse: bool,
        /// The detached host itself (started by `up -d`).
        #[arg(long, hide = true)]
        daemon_child: bool,
    },
    /// Stop the bundle running in this project and wait until every process is gone.
    Down {
        /// The bundle file whose running bundle to stop.
        #[arg(short = 'f', long = "file", default_value = "bundle.toml")]
        bundle: PathBuf,
    },
    /// Show the state of every service of the running bundle.
    Status {
        /// The bundle file whose running bundle to show.
        #[arg(short = 'f', long = "file", default_value = "bundle.toml")]
        bundle: PathBuf,
        /// Print the control protocol's `status` result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print (or follow) the logs of the running bundle.
    Logs {
        /// The bundle file whose running bundle to read.
        #[arg(long = "file", default_value = "bundle.toml")]
        bundle: PathBuf,
        /// Only these services (default: all, with the bundle's own messages).
        services: Vec<String>,
        /// Keep printing new lines until the bundle stops.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines (with `-f`: the last N before following; default 10).
        #[arg(short = 'n', long = "lines")]
        lines: Option<usize>,
        /// One JSON object per line (`seq`, `service`, `stream`, `text`).
        #[arg(long)]
        json: bool,
        /// Only stdout (`out`) or stderr (`err`).
        #[arg(long, value_parser = ["out", "err"])]
        stream: Option<String>,
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
    /// Open a Jupyter console on the IPython kernel a service embedded
    /// (`IPython.embed_kernel()`): waits for the kernel's `--existing` line in the service's
    /// log, finds its connection file, then runs `jupyter console --existing <file>` here.
    Kernel {
        /// The bundle file whose running bundle to use.
        #[arg(short = 'f', long, default_value = "bundle.toml")]
        bundle: PathBuf,
        /// The service.
        service: String,
        /// How long to wait for the service to announce a kernel.
        #[arg(long, default_value = "30s", value_parser = parse_grace)]
        timeout: std::time::Duration,
        /// Print the connection file's path and exit, instead of starting a console (for
        /// `jupyter_client` or another front end).
        #[arg(long)]
        print: bool,
        /// Arguments for `jupyter console`, after `--` (e.g. `-- --simple-prompt`).
        #[arg(last = true)]
        console_args: Vec<String>,
    },
    /// Draw a run: a Gantt chart of each service's phases and the critical chain (the
    /// waits that made the start slow), from the run's `events.jsonl`.
    Timeline {
        /// The run: its directory, or its id under the project's `runs/`. By default the
        /// project's current run, or else its newest.
        run: Option<String>,
        /// The bundle file whose project's runs to look in.
        #[arg(short = 'f', long = "file", default_value = "bundle.toml")]
        bundle: PathBuf,
        /// Also write the picture as a self-contained SVG file (opens in any browser).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
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
        /// The bundle file (TOML, or JSON if it ends in `.json`); `-` reads it from stdin.
        #[arg(default_value = "bundle.toml")]
        bundle: PathBuf,
    },
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { bundle } => match check_load(&bundle) {
            Ok(spec) => {
                outln!(
                    "{}: ok ({} services)",
                    bundle.display(),
                    spec.services.len()
                );
                ExitCode::Ok
            }
            Err(e) => {
                errln!("error: {}", crate::error_chain(&e));
                ExitCode::BundleInvalid
            }
        },
        Command::Up {
            bundle,
            quiet,
            detach,
            json,
            leased,
            grace,
            reuse,
            daemon_child,
        } => up::up(up::UpOptions {
            bundle,
            quiet,
            detach: detach || daemon_child,
            json,
            leased,
            grace,
            reuse,
            daemon_child,
        }),
        Command::Down { bundle } => remote::down(&bundle),
        Command::Status { bundle, json } => remote::status(&bundle, json),
        Command::Logs {
            bundle,
            services,
            follow,
            lines,
            json,
            stream,
        } => remote::logs(remote::LogsOptions {
            bundle,
            services,
            follow,
            lines,
            json,
            stream,
        }),
        Command::Exec {
            bundle,
            service,
            subcommand,
            args,
        } => remote::exec(&bundle, service, subcommand, args),
        Command::Kernel {
            bundle,
            service,
            timeout,
            print,
            console_args,
        } => remote::kernel(&bundle, service, timeout, print, console_args),
        Command::Travel { bundle, by, to } => remote::travel(&bundle, by, to),
        Command::Now { bundle } => remote::now(&bundle),
        Command::Timeline { run, bundle, svg } => {
            timeline::timeline(run.as_deref(), &bundle, svg.as_deref())
        }
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::SmtpSink { port, host } => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    errln!("error: cannot start the async runtime: {e}");
                    return ExitCode::Internal;
                }
            };
            match rt.block_on(crate::smtp::run(std::net::SocketAddr::new(host, port))) {
                Ok(()) => ExitCode::Ok,
                Err(e) => {
                    errln!("error: {}", crate::error_chain(&e));
                    ExitCode::Internal
                }
            }
        }
    }
}

/// `--grace`: a duration as bundle files write them.
fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    crate::bundle::duration::parse_duration(text).map_err(|e| e.to_string())
}

/// Loads a bundle for `check`: from a file, or from stdin for `-`. Kind services are
/// checked against the plugins too (kind, config, grants), as a start would check them.
fn check_load(bundle: &std::path::Path) -> Result<crate::BundleSpec, crate::bundle::BundleError> {
    let kinds = crate::orchestrator::kinds::ProcessKinds;
    if bundle == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
            crate::bundle::BundleError::Read {
                path: bundle.to_owned(),
                source,
            }
        })?;
        return crate::BundleSpec::parse_any_with(
            &text,
            std::path::Path::new("<stdin>"),
            Some(&kinds),
        );
    }
    crate::BundleSpec::load_with_kinds(bundle, &kinds)
}
