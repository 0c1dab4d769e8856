use crate::__bindings::teamster::plugin::types;

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
    pub(crate) fn new(program: impl Into<String>) -> Self {
        Invocation {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    pub(crate) fn arg(&mut self, arg: impl Into<String>) {
        self.args.push(arg.into());
    }

    pub(crate) fn args<I, S>(&mut self, args: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
    }

    pub(crate) fn env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.env.push((key.into(), value.into()));
    }

    pub(crate) fn cwd(&mut self, dir: impl Into<String>) {
        self.cwd = Some(dir.into());
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
