//! [`ProcessBuilder`]: what to run and how, turned into a started child.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{Group, GroupGuard, Identity, SpawnError, signals};

/// Whether a child gets the default signal state or the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signals {
    /// Every disposition at its default, nothing blocked (see [`signals`]).
    Reset,
    /// As the caller has them: only for teamster's own helper processes, which set up
    /// their signals themselves and reset them for what they start.
    Inherit,
}

/// A process to start: program, arguments, environment, working directory, user, process
/// group, signal state, stdio, and whether its group dies with its handle.
///
/// By default a child inherits the host's environment, directory, user and process group,
/// gets its signal state reset, and outlives its handle, as with
/// [`std::process::Command`].
#[derive(Debug)]
pub struct ProcessBuilder {
    program: OsString,
    args: Vec<OsString>,
    clear_env: bool,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    user: Option<String>,
    group: Group,
    signals: Signals,
    kill_on_drop: bool,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
}

impl ProcessBuilder {
    /// A builder of `program` (a path, or a name looked up on the child's `PATH`).
    pub fn new(program: impl AsRef<OsStr>) -> ProcessBuilder {
        ProcessBuilder {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            clear_env: false,
            env: Vec::new(),
            cwd: None,
            user: None,
            group: Group::Inherit,
            signals: Signals::Reset,
            kill_on_drop: false,
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    /// A builder of `argv[0]` with the rest as arguments; an empty `argv` is an error.
    pub fn from_argv<S: AsRef<OsStr>>(argv: &[S]) -> Result<ProcessBuilder, SpawnError> {
        let (program, args) = argv.split_first().ok_or(SpawnError::Empty)?;
        Ok(ProcessBuilder::new(program).args(args))
    }

    /// The program as given.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> ProcessBuilder {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> ProcessBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Starts from an empty environment rather than the host's.
    pub fn env_clear(mut self) -> ProcessBuilder {
        self.clear_env = true;
        self.env.clear();
        self
    }

    /// Sets one variable; a later value of the same variable wins.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> ProcessBuilder {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets variables, in order.
    pub fn envs<I, K, V>(mut self, vars: I) -> ProcessBuilder
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// The working directory (default: the host's).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> ProcessBuilder {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs as `user` (its ids, groups, `HOME`, `USER` and `LOGNAME`) when the host is root;
    /// `None`, or a host that is not root, keeps the host's identity.
    pub fn user(mut self, user: Option<&str>) -> ProcessBuilder {
        self.user = user.map(str::to_owned);
        self
    }

    /// The child's session and process group (default: the caller's).
    pub fn group(mut self, group: Group) -> ProcessBuilder {
        self.group = group;
        self
    }

    /// Keeps the caller's signal dispositions and mask instead of resetting them: only for
    /// teamster's own helpers (the spawner, a supervisor), which set up their signals
    /// themselves and reset them for the service.
    pub fn inherit_signals(mut self) -> ProcessBuilder {
        self.signals = Signals::Inherit;
        self
    }

    /// Whether dropping the child's handle SIGKILLs its whole group (default: no). Only a
    /// child in a group of its own ([`Group::NewGroup`], [`Group::NewSession`]) can be
    /// killed this way.
    pub fn kill_on_drop(mut self, kill: bool) -> ProcessBuilder {
        self.kill_on_drop = kill;
        self
    }

    /// The child's stdin (default: the host's).
    pub fn stdin(mut self, stdio: impl Into<Stdio>) -> ProcessBuilder {
        self.stdin = Some(stdio.into());
        self
    }

    /// The child's stdout (default: the host's).
    pub fn stdout(mut self, stdio: impl Into<Stdio>) -> ProcessBuilder {
        self.stdout = Some(stdio.into());
        self
    }

    /// The child's stderr (default: the host's).
    pub fn stderr(mut self, stdio: impl Into<Stdio>) -> ProcessBuilder {
        self.stderr = Some(stdio.into());
        self
    }

    /// The file the program will run, found as the child's `execvp` will find it (see
    /// [`find_program`](super::find_program)).
    pub fn find_program(&self) -> Option<PathBuf> {
        let path = self
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .or_else(|| {
                (!self.clear_env)
                    .then(|| std::env::var_os("PATH"))
                    .flatten()
            });
        let cwd = match &self.cwd {
            Some(cwd) => cwd.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        };
        super::find_program(Path::new(&self.program), path.as_deref(), &cwd)
    }

    /// The standard library's command with everything set, for a caller that spawns it
    /// itself. Its group is not killed on drop: that needs the handle [`spawn`](Self::spawn)
    /// returns.
    pub fn into_std(self) -> Result<std::process::Command, SpawnError> {
        Ok(self.prepare()?.0)
    }

    /// As [`into_std`](Self::into_std), as a tokio command; with
    /// [`kill_on_drop`](Self::kill_on_drop), tokio kills the leader when its handle drops.
    pub fn into_tokio(self) -> Result<tokio::process::Command, SpawnError> {
        let kill = self.kill_on_drop;
        let mut cmd = tokio::process::Command::from(self.into_std()?);
        cmd.kill_on_drop(kill);
        Ok(cmd)
    }

    /// Starts the child (blocking code: the supervisor, `host.run`, `teamster exec`).
    pub fn spawn(self) -> Result<Spawned<std::process::Child>, SpawnError> {
        let (mut cmd, plan) = self.prepare()?;
        let child = cmd.spawn().map_err(|e| plan.error(e))?;
        let group = plan.guard(child.id());
        Ok(Spawned { group, child })
    }

    /// Starts the child as a tokio process (async code: probes, sub-commands).
    pub fn spawn_tokio(self) -> Result<Spawned<tokio::process::Child>, SpawnError> {
        let (cmd, plan) = self.prepare()?;
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(plan.kill_on_drop);
        let child = cmd.spawn().map_err(|e| plan.error(e))?;
        let group = child
            .id()
            .map_or_else(GroupGuard::disarmed, |pid| plan.guard(pid));
        Ok(Spawned { group, child })
    }

    fn prepare(self) -> Result<(std::process::Command, Plan), SpawnError> {
        if self.program.is_empty() {
            return Err(SpawnError::Empty);
        }
        let identity = Identity::to_run_as(self.user.as_deref())?;
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        if self.clear_env {
            cmd.env_clear();
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(id) = &identity {
            // After the caller's variables: they describe the user the child really is.
            cmd.envs(id.env());
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        if let Some(stdio) = self.stdin {
            cmd.stdin(stdio);
        }
        if let Some(stdio) = self.stdout {
            cmd.stdout(stdio);
        }
        if let Some(stdio) = self.stderr {
            cmd.stderr(stdio);
        }
        let session = self.group == Group::NewSession;
        if self.group == Group::NewGroup {
            // The standard library does this itself, on its posix_spawn path too.
            cmd.process_group(0);
        }
        // A child that already needs code before exec resets its signals there at no extra
        // cost; one that does not gets that code only if something needs resetting, so that
        // it can still be started with posix_spawn.
        let reset = self.signals == Signals::Reset
            && (identity.is_some() || session || signals::needs_reset());
        if identity.is_some() || session || reset {
            // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
            // functions (setsid, sigprocmask, sigaction, setgroups, setgid, setuid) on data
            // prepared before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    if session {
                        nix::unistd::setsid()?;
                    }
                    if reset {
                        signals::reset()?;
                    }
                    if let Some(id) = &identity {
                        id.assume()?;
                    }
                    Ok(())
                });
            }
        }
        let plan = Plan {
            program: self.program.to_string_lossy().into_owned(),
            cwd: self.cwd,
            kill_on_drop: self.kill_on_drop && self.group.is_own(),
        };
        Ok((cmd, plan))
    }
}

/// What [`ProcessBuilder::prepare`] keeps for after the spawn.
struct Plan {
    program: String,
    cwd: Option<PathBuf>,
    kill_on_drop: bool,
}

impl Plan {
    fn error(&self, source: std::io::Error) -> SpawnError {
        SpawnError::classify(&self.program, self.cwd.as_deref(), source)
    }

    fn guard(&self, pid: u32) -> GroupGuard {
        if self.kill_on_drop {
            GroupGuard::of_leader(pid)
        } else {
            GroupGuard::disarmed()
        }
    }
}

/// A started child and the guard of its process group.
///
/// Derefs to the child. The guard is dropped first (fields drop in order), so the group is
/// killed while its leader may still be unreaped and the group id certainly names it.
#[derive(Debug)]
pub struct Spawned<C> {
    group: GroupGuard,
    child: C,
}

impl<C> Spawned<C> {
    /// SIGKILLs the child's group now (once), if it is killed on drop.
    pub fn kill_group(&mut self) {
        self.group.kill();
    }

    /// The guard and the child, for a caller that must move the child (`wait_with_output`)
    /// and keep the group's fate tied to the guard.
    pub fn into_parts(self) -> (GroupGuard, C) {
        (self.group, self.child)
    }
}

impl<C> std::ops::Deref for Spawned<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.child
    }
}

impl<C> std::ops::DerefMut for Spawned<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.child
    }
}
