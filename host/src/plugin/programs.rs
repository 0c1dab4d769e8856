//! Which programs a plugin may have the host start, and the one gate every start goes
//! through.
//!
//! A plugin never starts a process itself; the host starts them on its behalf, by four
//! routes: the service's main program and its readiness probes (returned by `configure`),
//! sub-commands (returned by `subcommand`), and helpers (`host.run`). Were any route left
//! unchecked, a plugin that declares nothing could take it (`configure` returning
//! `sh -c '…'`) and "declared and granted" would mean nothing. So every route asks
//! [`Programs::admit`], which applies the same three rules:
//!
//! 1. the plugin declared the program in `describe` (what `plugin install` and
//!    `plugin inspect` show the user);
//! 2. the user granted it: at `plugin install --grant`, or in the bundle's `grants`;
//!    built-in kinds are granted what they declare;
//! 3. the host finds it itself ([`run::find_program`] in the service's environment); a path
//!    is accepted only where the name resolves to that very path.
//!
//! The host then starts the path it resolved, so what runs is what was checked, whatever
//! `PATH` the plugin puts in the program's environment.
//!
//! A declared program that runs other programs (`sh`, `python3`) lets the plugin run
//! anything through it; that is what granting it means, which is why users see the list.

use std::fmt;
use std::path::{Path, PathBuf};

use super::run::{self, RunEnv};
use crate::text::list_or_none;

/// What a plugin may have the host start: declared by the plugin, granted by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Programs {
    pub(crate) declared: Vec<String>,
    pub(crate) granted: Vec<String>,
}

/// Which route asks for a program, for the refusal to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asker {
    /// `configure`, for the service's main program.
    Main,
    /// `configure`, for a readiness probe.
    Probe,
    /// `subcommand`, for the named sub-command.
    Subcommand(String),
    /// `host.run`, for a helper.
    Run,
}

impl Asker {
    /// The plugin function that asked.
    pub fn export(&self) -> &'static str {
        match self {
            Asker::Main | Asker::Probe => "configure",
            Asker::Subcommand(_) => "subcommand",
            Asker::Run => "run",
        }
    }
}

impl fmt::Display for Asker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let export = self.export();
        match self {
            Asker::Main => write!(f, "`{export}` asked for it as the service's main program"),
            Asker::Probe => write!(f, "`{export}` asked for it as a readiness probe"),
            Asker::Subcommand(name) => write!(f, "`{export}` asked for it as sub-command `{name}`"),
            Asker::Run => write!(f, "`{export}` asked for it"),
        }
    }
}

/// Why the host refused to start a program for a plugin. The text is meant for the user
/// (and, from `host.run`, for the plugin to pass on), so it names the plugin, the program,
/// the route and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramRefusal {
    /// Asked outside a service (in `describe`), where nothing may run.
    #[error(
        "plugin `{plugin}` may not start `{program}` in `describe`: programs run only for a service"
    )]
    NoService {
        /// The plugin.
        plugin: String,
        /// The program as asked for.
        program: String,
    },
    /// Not among the declared programs: no grant can allow it.
    #[error(
        "plugin `{plugin}` may not start `{program}` ({asker}): it is not among the programs the plugin declares ({}), and no grant can allow it: a plugin starts only programs it declares",
        list_or_none(.declared)
    )]
    Undeclared {
        /// The plugin.
        plugin: String,
        /// The program's name.
        program: String,
        /// The route.
        asker: Asker,
        /// What the plugin declares.
        declared: Vec<String>,
    },
    /// Declared, but the user granted it neither at install time nor in the bundle.
    #[error(
        "plugin `{plugin}` may not start `{program}` ({asker}): the program is declared but not granted; grant it with `teamster plugin install --grant {program}` or with the service's `grants = [\"{program}\"]` in the bundle"
    )]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// The program's name.
        program: String,
        /// The route.
        asker: Asker,
    },
    /// Granted, but the host cannot find it.
    #[error(
        "plugin `{plugin}` cannot start `{program}` ({asker}): it is not on the service's PATH"
    )]
    NotFound {
        /// The plugin.
        plugin: String,
        /// The program's name.
        program: String,
        /// The route.
        asker: Asker,
    },
    /// A path other than the one the name resolves to.
    #[error(
        "plugin `{plugin}` may not start `{asked}` ({asker}): `{program}` resolves to `{}`, and only the resolved program may run",
        .resolved.display()
    )]
    Elsewhere {
        /// The plugin.
        plugin: String,
        /// The path as asked for.
        asked: String,
        /// Its file name.
        program: String,
        /// The route.
        asker: Asker,
        /// Where the name resolves.
        resolved: PathBuf,
    },
}

impl Programs {
    /// The path the host may start for `program` (a bare name, or a path) when `plugin`
    /// asks for it by `asker`; `run_env` is the service's environment, `None` outside a
    /// service.
    pub(crate) fn admit(
        &self,
        plugin: &str,
        asker: Asker,
        program: &str,
        run_env: Option<&RunEnv>,
    ) -> Result<PathBuf, ProgramRefusal> {
        let Some(run_env) = run_env else {
            return Err(ProgramRefusal::NoService {
                plugin: plugin.to_string(),
                program: program.to_string(),
            });
        };
        let name = program_name(run_env, program);
        if !self.declared.contains(&name) {
            return Err(ProgramRefusal::Undeclared {
                plugin: plugin.to_string(),
                program: name,
                asker,
                declared: self.declared.clone(),
            });
        }
        if !self.granted.contains(&name) {
            return Err(ProgramRefusal::NotGranted {
                plugin: plugin.to_string(),
                program: name,
                asker,
            });
        }
        let Some(resolved) = run::find_program(run_env, &name) else {
            return Err(ProgramRefusal::NotFound {
                plugin: plugin.to_string(),
                program: name,
                asker,
            });
        };
        if program.contains('/') && Path::new(program) != resolved {
            return Err(ProgramRefusal::Elsewhere {
                plugin: plugin.to_string(),
                asked: program.to_string(),
                program: name,
                asker,
                resolved,
            });
        }
        Ok(resolved)
    }
}

/// The name a program is declared and granted by: its file name, except that the host's
/// own binary is `teamster` whatever its file is called (`TEAMSTER_BIN` may name any file).
fn program_name(run_env: &RunEnv, program: &str) -> String {
    if program.contains('/')
        && run::find_program(run_env, run::HOST_PROGRAM).is_some_and(|p| p == Path::new(program))
    {
        return run::HOST_PROGRAM.to_string();
    }
    Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program)
        .to_string()
}
