use std::ffi::OsStr;
use std::path::Path;

use crate::__bindings::teamster::plugin::types;

/// An argument or path as the interface carries it: UTF-8 text. A path a plugin builds is
/// UTF-8 (the host's paths reach it as strings), so the lossy conversion changes nothing
/// in practice.
pub(crate) fn text(os: &OsStr) -> String {
    os.to_string_lossy().into_owned()
}

/// What [`crate::Command`] and [`crate::Process`] have in common: a program, its arguments,
/// variables set on top of the service's environment, and a working directory. Each holds
/// one, and their `arg`, `args`, `env` and `cwd` builder methods delegate here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<String>,
}

impl Invocation {
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Self {
        Invocation {
            program: text(program.as_ref()),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    pub(crate) fn arg(&mut self, arg: impl AsRef<OsStr>) {
        self.args.push(text(arg.as_ref()));
    }

    pub(crate) fn args<I, S>(&mut self, args: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| text(arg.as_ref())));
    }

    pub(crate) fn env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.env.push((key.into(), value.into()));
    }

    pub(crate) fn cwd(&mut self, dir: impl AsRef<Path>) {
        self.cwd = Some(text(dir.as_ref().as_os_str()));
    }
}

impl From<Invocation> for types::Command {
    fn from(inv: Invocation) -> Self {
        types::Command {
            program: inv.program,
            args: inv.args,
            env: inv.env,
            cwd: inv.cwd,
        }
    }
}
