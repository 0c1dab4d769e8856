use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use crate::__bindings::teamster::plugin::host;
use crate::__bindings::teamster::plugin::types;
use crate::Error;
use crate::invocation::Invocation;

/// How long [`Command::run`] lets a program run unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A command: run by the host for the plugin ([`Command::run`]), or handed to the host as a
/// sub-command ([`crate::Kind::subcommand`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    invocation: Invocation,
    stdin: Option<String>,
    timeout: Duration,
}

impl Command {
    /// A command running `program`: a name looked up like [`find_program`], or the absolute
    /// path that name resolves to. Run or returned as a sub-command, it must be declared
    /// ([`crate::Info::program`]) and granted.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            invocation: Invocation::new(program),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
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

    /// Sets the working directory.
    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.invocation.cwd(dir);
        self
    }

    /// Feeds this text to the program's standard input ([`Command::run`] only).
    #[must_use]
    pub fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Kills the program if it runs longer than this ([`Command::run`] only; default 60 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.invocation.program
    }

    /// The arguments.
    pub fn get_args(&self) -> &[String] {
        &self.invocation.args
    }

    /// Runs the program through the host and waits for it. A non-zero exit is not an error
    /// here; see [`Command::run_checked`].
    ///
    /// Fails when the host refuses the program (not declared in [`crate::Info::program`] or
    /// not granted by the user), cannot start it, or it outlives its timeout.
    pub fn run(&self) -> Result<Output, Error> {
        let timeout_ms = u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX);
        let out =
            host::run(&self.to_wit(), self.stdin.as_deref(), timeout_ms).map_err(Error::msg)?;
        Ok(Output {
            exit_code: out.exit_code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// Like [`Command::run`], but a non-zero exit is an error carrying what the program
    /// printed: its stderr, then its stdout (many programs explain a failure on stdout).
    pub fn run_checked(&self) -> Result<Output, Error> {
        let out = self.run()?;
        if out.success() {
            Ok(out)
        } else {
            Err(failure(&self.invocation.program, &out))
        }
    }

    pub(crate) fn to_wit(&self) -> types::Command {
        self.invocation.clone().into()
    }
}

/// The error of a program that exited with `out`: its status, then what it printed.
fn failure(program: &str, out: &Output) -> Error {
    let status = match out.exit_code {
        Some(code) => format!("exit code {code}"),
        None => "a signal".to_string(),
    };
    let mut message = format!("`{program}` failed with {status}");
    let (stderr, stdout) = (out.stderr.trim(), out.stdout.trim());
    match (stderr.is_empty(), stdout.is_empty()) {
        (true, true) => message.push_str(" and printed nothing"),
        (false, true) => message.push_str(&format!(": {stderr}")),
        (true, false) => message.push_str(&format!("; its stdout: {stdout}")),
        (false, false) => message.push_str(&format!(": {stderr}; its stdout: {stdout}")),
    }
    Error::msg(message)
}

/// What a program run through [`Command::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when a signal killed it.
    pub exit_code: Option<i32>,
    /// Standard output (truncated past the host's limit).
    pub stdout: String,
    /// Standard error (truncated past the host's limit).
    pub stderr: String,
}

impl Output {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Where the host would find `name`: the service's PATH, then well-known directories such as
/// `/usr/lib/postgresql/<version>/bin`. Returns an absolute path.
pub fn find_program(name: &str) -> Option<String> {
    host::find_program(name)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{Command, Output, failure};
    use crate::{Process, Readiness};

    #[test]
    fn paths_are_arguments_as_they_are() {
        let data = PathBuf::from("/run/data/db");
        let cmd = Command::new(Path::new("/usr/bin/initdb"))
            .arg("-D")
            .arg(data.join("pgdata"))
            .args([Path::new("/a"), Path::new("/b")])
            .cwd(&data);
        assert_eq!(cmd.program(), "/usr/bin/initdb");
        assert_eq!(cmd.get_args(), ["-D", "/run/data/db/pgdata", "/a", "/b"]);
        assert_eq!(cmd.to_wit().cwd.as_deref(), Some("/run/data/db"));
        let process = Process::new(data.join("bin/server"))
            .arg(data.join("conf"))
            .cwd(Path::new("/srv"))
            .ready(Readiness::file(data.join("ready")))
            .ready(Readiness::unix_socket(data.join("sock")))
            .ready(Readiness::probe([Path::new("/bin/true")]));
        let spec = process.into_wit();
        assert_eq!(spec.program, "/run/data/db/bin/server");
        assert_eq!(spec.args, ["/run/data/db/conf"]);
        assert_eq!(spec.cwd.as_deref(), Some("/srv"));
        assert_eq!(spec.readiness.len(), 3);
    }

    fn out(code: Option<i32>, stdout: &str, stderr: &str) -> Output {
        Output {
            exit_code: code,
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
    }

    #[test]
    fn a_failure_carries_stderr_and_stdout() {
        let msg = |o: Output| failure("initdb", &o).to_string();
        assert_eq!(
            msg(out(Some(1), "", "initdb: error: directory exists\n")),
            "`initdb` failed with exit code 1: initdb: error: directory exists"
        );
        assert_eq!(
            msg(out(Some(2), "mysql_install_db: cannot run as root\n", "")),
            "`initdb` failed with exit code 2; its stdout: mysql_install_db: cannot run as root"
        );
        assert_eq!(
            msg(out(None, "partial\n", "killed\n")),
            "`initdb` failed with a signal: killed; its stdout: partial"
        );
        assert_eq!(
            msg(out(Some(3), " \n", "")),
            "`initdb` failed with exit code 3 and printed nothing"
        );
    }
}
