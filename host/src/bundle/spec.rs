//! The validated model of a bundle, shared by the TOML loader and the Rust builder.
//!
//! Both front doors (a `bundle.toml` and [`BundleSpec::builder`]) produce exactly these
//! types, so the orchestrator never needs to know where a service came from. A service's
//! spec comes either from the file or, for `kind = "…"` services, from a plugin's
//! `configure` export; [`ServiceSpec::kind`] is the seam for that.

use std::path::PathBuf;
use std::time::Duration;

/// Default deadline for the whole bundle to become ready.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Default grace between the stop signal and SIGKILL, per service.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of run directories kept under `<run_root>/runs`.
pub const DEFAULT_KEEP_RUNS: usize = 10;

/// Which clock injector a bundle uses for services with `faketime = true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockKind {
    /// teamster's own preload library (realtime clocks only, shared mmap offset).
    #[default]
    Preload,
    /// The system's libfaketime, driven through `FAKETIME_TIMESTAMP_FILE`.
    Libfaketime,
}

/// A whole bundle: global settings plus its services in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSpec {
    /// Directory relative paths are resolved against (default: the bundle file's dir).
    pub project_dir: PathBuf,
    /// The bundle file this spec was loaded from, if any (used in messages).
    pub source: Option<PathBuf>,
    /// Deadline for every service to become ready.
    pub startup_timeout: Duration,
    /// Default grace between stop signal and SIGKILL, per service.
    pub shutdown_timeout: Duration,
    /// Where run directories live (default `<project_dir>/.teamster`).
    pub run_root: PathBuf,
    /// How many old runs to keep when pruning.
    pub keep_runs: usize,
    /// The clock injector for time travel.
    pub clock: ClockKind,
    /// The services, in declaration order. Names are unique and `needs` form a DAG.
    pub services: Vec<ServiceSpec>,
}

/// One service of a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// `[A-Za-z0-9_-]+`, unique within the bundle.
    pub name: String,
    /// Program and arguments. Empty only for `kind` services before `configure`.
    pub command: Vec<String>,
    /// Working directory (absolute once validated; default: the project dir).
    pub directory: Option<PathBuf>,
    /// Variables set on top of the base environment, in declaration order. Values may hold
    /// `${service.key}` references, filled in by [`ServiceSpec::interpolated`]; so may the
    /// words of `command`.
    pub env: Vec<(String, String)>,
    /// Whether the base environment is the host's (`true`) or empty (`false`).
    pub inherit_env: bool,
    /// Services that must be ready before this one starts.
    pub needs: Vec<String>,
    /// Signal sent to the process group to ask for a graceful stop.
    pub stop_signal: super::signal::StopSignal,
    /// When the host runs as root, the user the service runs as.
    pub user: Option<String>,
    /// Whether the service sees the bundle's (possibly travelled) clock.
    pub faketime: bool,
    /// Readiness conditions; all must hold. Empty means ready as soon as spawned.
    pub ready: Vec<Readiness>,
    /// Per-service override of the bundle's shutdown timeout.
    pub shutdown_timeout: Option<Duration>,
    /// The plugin kind that configures this service, if any.
    pub kind: Option<KindRef>,
    /// The connection info this service offers to the services that need it (`url`,
    /// `port`, …), as written: values may hold references. Only services without a `kind`
    /// have one; a plugin provides its service's info itself.
    pub connection: Vec<(String, String)>,
    /// Hooks the controlling client runs for this service, in addition to its plugin's.
    pub client_hooks: Vec<ClientHook>,
}

/// A reference to a plugin kind and its config table.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRef {
    /// Plugin name, e.g. `postgres`.
    pub name: String,
    /// The `[services.<name>.config]` table as JSON.
    pub config: serde_json::Value,
    /// Programs this bundle grants the plugin on top of its install-time grants
    /// (`grants = ["psql"]`); each must be one the plugin declares.
    pub grants: Vec<String>,
    /// Whether the bundle set the service's `faketime`. When it did not, the kind's
    /// default applies at start: a kind that does not follow the clock (`chromedriver`)
    /// turns [`ServiceSpec::faketime`] off.
    pub faketime_set: bool,
}

/// One readiness condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// A log line matched `nth` times on the selected stream(s).
    Log(LogReady),
    /// A TCP connect to `host:port` succeeds.
    Tcp {
        /// Host name or address (default `127.0.0.1`).
        host: String,
        /// Port.
        port: u16,
    },
    /// An HTTP GET returns the expected status.
    Http {
        /// `http://host:port/path`.
        url: String,
        /// Expected status; `None` means any 2xx.
        status: Option<u16>,
    },
    /// A unix socket accepts a connection.
    Socket {
        /// Path of the socket.
        path: PathBuf,
    },
    /// A file exists.
    File {
        /// Path of the file.
        path: PathBuf,
    },
    /// A probe command exits 0.
    Command {
        /// Program and arguments, run in the service's env and directory.
        argv: Vec<String>,
    },
    /// The plugin's `ready-check` export accepts a log line.
    Plugin,
    /// The client that controls the bundle over the control protocol accepts a log line
    /// (a Python `log_line_ready_checker`, say).
    Client,
}

/// A hook that the controlling client runs for a service (see `client_hooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientHook {
    /// Before the process is spawned, after the plugin's `setup`.
    Setup,
    /// Once every readiness condition holds, after the plugin's `poststart`.
    Poststart,
}

impl ClientHook {
    /// The name used in bundle files and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientHook::Setup => "setup",
            ClientHook::Poststart => "poststart",
        }
    }
}

/// A log-line readiness condition.
#[derive(Debug, Clone, PartialEq)]
pub struct LogReady {
    /// What to look for.
    pub pattern: LinePattern,
    /// Which stream(s) to look at.
    pub stream: StreamFilter,
    /// Which match counts (1 = the first).
    pub nth: usize,
}

/// A line pattern: substring or regex.
#[derive(Debug, Clone)]
pub enum LinePattern {
    /// The line contains this text.
    Contains(String),
    /// The line matches this regex.
    Regex(regex::Regex),
}

impl LinePattern {
    /// Whether `line` matches.
    pub fn is_match(&self, line: &str) -> bool {
        match self {
            LinePattern::Contains(s) => line.contains(s.as_str()),
            LinePattern::Regex(r) => r.is_match(line),
        }
    }
}

impl std::fmt::Display for LinePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinePattern::Contains(s) => write!(f, "{s:?}"),
            LinePattern::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// Which output stream(s) a condition or query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamFilter {
    /// Standard output only.
    Stdout,
    /// Standard error only.
    Stderr,
    /// Either stream.
    #[default]
    Any,
}

impl StreamFilter {
    /// Whether a line from `stream` passes this filter.
    pub fn accepts(self, stream: crate::logs::Stream) -> bool {
        use crate::logs::Stream;
        matches!(
            (self, stream),
            (StreamFilter::Any, _)
                | (StreamFilter::Stdout, Stream::Out)
                | (StreamFilter::Stderr, Stream::Err)
        )
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Log(l) => {
                let stream = match l.stream {
                    StreamFilter::Stdout => "stdout",
                    StreamFilter::Stderr => "stderr",
                    StreamFilter::Any => "output",
                };
                if l.nth > 1 {
                    write!(f, "log line {} on {stream} (match #{})", l.pattern, l.nth)
                } else {
                    write!(f, "log line {} on {stream}", l.pattern)
                }
            }
            Readiness::Tcp { host, port } => write!(f, "tcp {host}:{port}"),
            Readiness::Http {
                url,
                status: Some(s),
            } => write!(f, "http GET {url} → {s}"),
            Readiness::Http { url, status: None } => write!(f, "http GET {url} → 2xx"),
            Readiness::Socket { path } => write!(f, "unix socket {}", path.display()),
            Readiness::File { path } => write!(f, "file {}", path.display()),
            Readiness::Command { argv } => write!(f, "probe command `{}`", shell_words::join(argv)),
            Readiness::Plugin => write!(f, "plugin ready-check"),
            Readiness::Client => write!(f, "a verdict from the controlling client"),
        }
    }
}

/// Two patterns are equal when they are the same kind and the same text; two regexes
/// compiled from the same source behave the same.
impl PartialEq for LinePattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LinePattern::Contains(a), LinePattern::Contains(b)) => a == b,
            (LinePattern::Regex(a), LinePattern::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl ServiceSpec {
    /// A service with every setting at its default: no command yet, the project dir as
    /// working directory, the host environment, `SIGTERM` to stop, the bundle's clock, and
    /// ready as soon as it is spawned.
    pub fn new(name: impl Into<String>) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            command: Vec::new(),
            directory: None,
            env: Vec::new(),
            inherit_env: true,
            needs: Vec::new(),
            stop_signal: super::signal::StopSignal::TERM,
            user: None,
            faketime: true,
            ready: Vec::new(),
            shutdown_timeout: None,
            kind: None,
            connection: Vec::new(),
            client_hooks: Vec::new(),
        }
    }

    /// The grace between this service's stop signal and SIGKILL: its own override, else the
    /// bundle's default.
    pub fn effective_shutdown_timeout(&self, bundle: &BundleSpec) -> Duration {
        self.shutdown_timeout.unwrap_or(bundle.shutdown_timeout)
    }
}

impl BundleSpec {
    /// The service called `name`, if any.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl Readiness {
    /// Ready once a line on either stream contains `text`.
    pub fn log(text: impl Into<String>) -> Readiness {
        Readiness::log_on(StreamFilter::Any, LinePattern::Contains(text.into()), 1)
    }

    /// Ready once a line on either stream matches the regex `pattern`.
    pub fn log_regex(pattern: &str) -> Result<Readiness, regex::Error> {
        let regex = regex::Regex::new(pattern)?;
        Ok(Readiness::log_on(
            StreamFilter::Any,
            LinePattern::Regex(regex),
            1,
        ))
    }

    /// Ready once `pattern` has matched `nth` lines (1 = the first) on `stream`.
    pub fn log_on(stream: StreamFilter, pattern: LinePattern, nth: usize) -> Readiness {
        Readiness::Log(LogReady {
            pattern,
            stream,
            nth,
        })
    }

    /// Ready once a TCP connection to `127.0.0.1:port` succeeds.
    pub fn tcp(port: u16) -> Readiness {
        Readiness::tcp_at("127.0.0.1", port)
    }

    /// Ready once a TCP connection to `host:port` succeeds.
    pub fn tcp_at(host: impl Into<String>, port: u16) -> Readiness {
        Readiness::Tcp {
            host: host.into(),
            port,
        }
    }

    /// Ready once a GET of `url` answers with any 2xx status.
    pub fn http(url: impl Into<String>) -> Readiness {
        Readiness::Http {
            url: url.into(),
            status: None,
        }
    }

    /// Ready once a GET of `url` answers with exactly `status`.
    pub fn http_status(url: impl Into<String>, status: u16) -> Readiness {
        Readiness::Http {
            url: url.into(),
            status: Some(status),
        }
    }

    /// Ready once the unix socket at `path` accepts a connection. A relative path is
    /// resolved against the service's directory.
    pub fn socket(path: impl Into<PathBuf>) -> Readiness {
        Readiness::Socket { path: path.into() }
    }

    /// Ready once `path` exists. A relative path is resolved against the service's
    /// directory.
    pub fn file(path: impl Into<PathBuf>) -> Readiness {
        Readiness::File { path: path.into() }
    }

    /// Ready once the probe command `argv` exits with status 0.
    pub fn command<I, S>(argv: I) -> Readiness
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Readiness::Command {
            argv: argv.into_iter().map(Into::into).collect(),
        }
    }

    /// Ready once the service's plugin accepts a log line in its `ready-check` export.
    pub fn plugin() -> Readiness {
        Readiness::Plugin
    }

    /// Ready once the client controlling the bundle accepts a log line.
    pub fn client() -> Readiness {
        Readiness::Client
    }
}
