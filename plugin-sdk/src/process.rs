use std::ffi::OsStr;
use std::path::Path;

use crate::__bindings::teamster::plugin::types;
use crate::invocation::{Invocation, text};

/// One readiness condition; a service is ready when all of its conditions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness(pub(crate) types::Readiness);

impl Readiness {
    /// A line containing `text` appears on stdout or stderr.
    pub fn log_line(text: impl Into<String>) -> Self {
        Readiness(types::Readiness::LogLine(text.into()))
    }

    /// A line matching this regular expression (Rust `regex` syntax) appears.
    pub fn log_regex(pattern: impl Into<String>) -> Self {
        Readiness(types::Readiness::LogRegex(pattern.into()))
    }

    /// A TCP connection to 127.0.0.1 on `port` succeeds.
    pub fn tcp(port: u16) -> Self {
        Readiness(types::Readiness::Tcp(port))
    }

    /// An HTTP GET on `url` answers with a 2xx status.
    pub fn http(url: impl Into<String>) -> Self {
        Readiness(types::Readiness::Http(url.into()))
    }

    /// A unix socket at `path` accepts a connection.
    pub fn unix_socket(path: impl AsRef<Path>) -> Self {
        Readiness(types::Readiness::UnixSocket(text(
            path.as_ref().as_os_str(),
        )))
    }

    /// A file exists at `path`.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Readiness(types::Readiness::File(text(path.as_ref().as_os_str())))
    }

    /// This command exits with status 0 (the host retries it until the deadline). Its
    /// program must be declared and granted, like the service's own.
    pub fn probe<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Readiness(types::Readiness::Probe(
            argv.into_iter().map(|arg| text(arg.as_ref())).collect(),
        ))
    }

    /// The host feeds log lines to [`crate::Kind::ready_check`] until it returns `true`.
    pub fn plugin_check() -> Self {
        Readiness(types::Readiness::PluginCheck)
    }

    /// Ready as soon as the process is spawned.
    pub fn none() -> Self {
        Readiness(types::Readiness::None)
    }
}

/// The process the host starts for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    invocation: Invocation,
    stop_signal: Option<String>,
    readiness: Vec<Readiness>,
}

impl Process {
    /// A process running `program`: a name looked up like [`crate::find_program`], or the
    /// absolute path that name resolves to. The program must be declared
    /// ([`crate::Info::program`]) and granted, or the host refuses to start the service.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Process {
            invocation: Invocation::new(program),
            stop_signal: None,
            readiness: Vec::new(),
        }
    }

    /// Adds an argument: text or a path (`&str`, `String`, `&Path`, `PathBuf`, ...).
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.invocation.arg(arg);
        self
    }

    /// Adds arguments: text or paths.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.invocation.args(args);
        self
    }

    /// Sets a variable on top of the service's environment.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.invocation.env(key, value);
        self
    }

    /// Sets the working directory (default: the project directory).
    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.invocation.cwd(dir);
        self
    }

    /// Sets the signal that asks the process to stop gracefully (`SIGINT`, `SIGQUIT`, ...).
    #[must_use]
    pub fn stop_signal(mut self, signal: impl Into<String>) -> Self {
        self.stop_signal = Some(signal.into());
        self
    }

    /// Adds a readiness condition; all must hold.
    #[must_use]
    pub fn ready(mut self, condition: Readiness) -> Self {
        self.readiness.push(condition);
        self
    }

    pub(crate) fn into_wit(self) -> types::ProcessSpec {
        let Invocation {
            program,
            args,
            env,
            cwd,
        } = self.invocation;
        types::ProcessSpec {
            program,
            args,
            env,
            cwd,
            stop_signal: self.stop_signal,
            readiness: self.readiness.into_iter().map(|r| r.0).collect(),
        }
    }
}
