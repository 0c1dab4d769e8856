//! Sub-commands of a service (`psql`, `redis-cli`, `manage.py …`) run in its environment.
//!
//! A sub-command sees what the service sees: the same variables (the faked clock
//! included), working directory and user, and starts with every signal at its default. It
//! runs in its own process group, killed when it exits or when the future running it is
//! dropped, so an abandoned `psql` cannot outlive a test.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use crate::process::{Group, ProcessBuilder, SpawnError, Spawned};
use crate::service::hooks::{CommandSpec, HookError};

/// Why a sub-command could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubcommandError {
    /// The service has no kind, so it offers no sub-commands.
    #[error("service `{service}` has no kind, so it offers no sub-commands")]
    NoKind {
        /// The service.
        service: String,
    },
    /// The plugin refused or failed to build the command.
    #[error("service `{service}` cannot build sub-command `{name}`")]
    Build {
        /// The service.
        service: String,
        /// The sub-command.
        name: String,
        /// The plugin's error.
        #[source]
        source: HookError,
    },
    /// The program could not be started.
    #[error("cannot run `{program}` for service `{service}`")]
    Spawn {
        /// The service.
        service: String,
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The user to run as does not exist.
    #[error("user `{user}` of service `{service}` does not exist")]
    NoUser {
        /// The service.
        service: String,
        /// The user.
        user: String,
    },
}

/// A built sub-command, ready to run.
#[derive(Debug, Clone)]
pub struct Subcommand {
    pub(crate) service: String,
    pub(crate) spec: CommandSpec,
    pub(crate) base_env: Arc<Vec<(String, String)>>,
    pub(crate) cwd: PathBuf,
    pub(crate) user: Option<String>,
    pub(crate) stdin: Option<Vec<u8>>,
}

/// A sub-command as data, for a client to run in its own process with its own stdio
/// (what `teamster exec` and the control protocol's `subcommand` hand over).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// User to switch to when running as root.
    pub user: Option<String>,
}

impl Subcommand {
    /// The command as data: the service's environment with the plugin's variables on top.
    pub fn exec_spec(&self) -> ExecSpec {
        let mut env: Vec<(String, String)> = self.base_env.as_ref().clone();
        for (k, v) in &self.spec.env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        ExecSpec {
            argv: self.spec.argv.clone(),
            env,
            cwd: self.spec.cwd.clone().unwrap_or_else(|| self.cwd.clone()),
            user: self.user.clone(),
        }
    }

    /// The program and arguments.
    pub fn argv(&self) -> &[String] {
        &self.spec.argv
    }

    /// Feeds these bytes to the command's stdin (default: none).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Subcommand {
        self.stdin = Some(input.into());
        self
    }

    /// The command as a tokio `Command`, for callers who want full control of its stdio.
    ///
    /// It is set up as [`run`](Self::run) sets it up (environment, directory, user, its own
    /// process group, default signal state), but only its leader is killed when its handle
    /// drops. [`spawn`](Self::spawn) gives the same control of stdio with a handle that
    /// kills the whole group.
    pub fn command(&self) -> Result<tokio::process::Command, SubcommandError> {
        self.builder()?
            .into_tokio()
            .map_err(|e| self.builder_error(e))
    }

    /// The sub-command as the one process builder sees it: the service's environment with
    /// the plugin's variables on top, its directory, its user, a group of its own that dies
    /// with the handle.
    fn builder(&self) -> Result<ProcessBuilder, SubcommandError> {
        let builder =
            ProcessBuilder::from_argv(&self.spec.argv).map_err(|_| SubcommandError::Spawn {
                service: self.service.clone(),
                program: String::new(),
                source: std::io::Error::other("the plugin built an empty command"),
            })?;
        Ok(builder
            .env_clear()
            .envs(self.base_env.iter().map(|(k, v)| (k, v)))
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.spec.cwd.as_ref().unwrap_or(&self.cwd))
            .user(self.user.as_deref())
            .group(Group::NewGroup)
            .kill_on_drop(true))
    }

    /// Maps a failure of the builder onto this sub-command's errors.
    fn builder_error(&self, e: SpawnError) -> SubcommandError {
        match e {
            SpawnError::NoUser { user } => SubcommandError::NoUser {
                service: self.service.clone(),
                user,
            },
            SpawnError::NotExecutable { source, .. } | SpawnError::Spawn { source, .. } => {
                self.spawn_error(source)
            }
            other => self.spawn_error(std::io::Error::other(other)),
        }
    }

    /// Starts it with `stdin`, `stdout` and `stderr` (its [`stdin`](Self::stdin) bytes are
    /// not fed: pass `Stdio::piped()` and write them yourself). Dropping the handle kills
    /// its whole process group, whatever the sub-command left running in it; the child
    /// itself is the handle's `Deref` target (`wait`, `stdout`, …).
    pub fn spawn(
        &self,
        stdin: Stdio,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<Spawned<tokio::process::Child>, SubcommandError> {
        self.builder()?
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn_tokio()
            .map_err(|e| self.builder_error(e))
    }

    fn spawn_error(&self, source: std::io::Error) -> SubcommandError {
        SubcommandError::Spawn {
            service: self.service.clone(),
            program: self.spec.argv.first().cloned().unwrap_or_default(),
            source,
        }
    }

    /// Runs it with the caller's stdout and stderr; returns its exit status. Whatever it
    /// left running in its process group is killed when it exits.
    pub async fn run(&self) -> Result<std::process::ExitStatus, SubcommandError> {
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let mut child = self.spawn(stdin, Stdio::inherit(), Stdio::inherit())?;
        self.feed(&mut child).await;
        child.wait().await.map_err(|e| self.spawn_error(e))
    }

    /// Runs it and collects its output. Whatever it left running in its process group is
    /// killed when it exits.
    pub async fn output(&self) -> Result<std::process::Output, SubcommandError> {
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self.spawn(stdin, Stdio::piped(), Stdio::piped())?;
        self.feed(&mut child).await;
        // The guard outlives the wait, so the group dies when this future ends or is dropped.
        let (_group, child) = child.into_parts();
        child
            .wait_with_output()
            .await
            .map_err(|e| self.spawn_error(e))
    }

    async fn feed(&self, child: &mut tokio::process::Child) {
        if let (Some(input), Some(mut stdin)) = (self.stdin.clone(), child.stdin.take()) {
            // Written concurrently with the child's run, so a large input cannot deadlock
            // against a full stdout pipe.
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = stdin.write_all(&input).await;
            });
        }
    }
}
