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
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            invocation: Invocation::new(program),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.invocation.arg(arg);
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
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
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
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

    /// Like [`Command::run`], but a non-zero exit is an error carrying the program's stderr.
    pub fn run_checked(&self) -> Result<Output, Error> {
        let out = self.run()?;
        if out.success() {
            Ok(out)
        } else {
            let status = match out.exit_code {
                Some(code) => format!("exit code {code}"),
                None => "a signal".to_string(),
            };
            Err(Error::msg(format!(
                "`{}` failed with {status}: {}",
                self.invocation.program,
                out.stderr.trim()
            )))
        }
    }

    pub(crate) fn to_wit(&self) -> types::Command {
        self.invocation.clone().into()
    }
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
