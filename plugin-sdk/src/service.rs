use std::path::{Path, PathBuf};

use crate::__bindings::teamster::plugin::types;
use crate::Error;

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl From<types::Stream> for Stream {
    fn from(stream: types::Stream) -> Self {
        match stream {
            types::Stream::Stdout => Stream::Stdout,
            types::Stream::Stderr => Stream::Stderr,
        }
    }
}

/// What a kind is and what it needs, returned by [`crate::Kind::info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    name: String,
    version: String,
    summary: String,
    programs: Vec<String>,
    subcommands: Vec<(String, String)>,
    config_schema: Option<String>,
    setup_ahead: bool,
    follows_clock: bool,
}

impl Info {
    /// A kind named `name` (`[a-z0-9_-]+`, as written in `kind = "..."`).
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Info {
            name: name.into(),
            version: version.into(),
            summary: summary.into(),
            programs: Vec::new(),
            subcommands: Vec::new(),
            config_schema: None,
            setup_ahead: false,
            follows_clock: true,
        }
    }

    /// Declares a program the host may start for the plugin: the service's main program
    /// ([`crate::Kind::configure`]), a readiness probe, a sub-command, or a helper it
    /// [`run`](crate::Command::run)s. Users see the list at install time and grant it;
    /// anything undeclared is refused, whichever way it is asked for. A path reaches a
    /// program only where the host resolves its name to that path; start any other
    /// binary through a declared shell (`sh -c 'exec "$0" "$@"' <path> <args…>`).
    #[must_use]
    pub fn program(mut self, name: impl Into<String>) -> Self {
        self.programs.push(name.into());
        self
    }

    /// Declares a sub-command (see [`crate::Kind::subcommand`]).
    #[must_use]
    pub fn subcommand(mut self, name: impl Into<String>, summary: impl Into<String>) -> Self {
        self.subcommands.push((name.into(), summary.into()));
        self
    }

    /// Sets the JSON schema of the config table. The host checks configs against it and names
    /// the offending key; it understands `type`, `properties`, `required`,
    /// `additionalProperties`, `items` and `enum`. Prefer [`Info::config_schema_of`],
    /// which derives it from the config type.
    #[must_use]
    pub fn config_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = Some(schema.into());
        self
    }

    /// Sets the JSON schema of the config table to the one derived from `C` (usually
    /// [`crate::Kind::Config`], with `#[derive(Deserialize, JsonSchema)]`): see
    /// [`crate::schema_of`]. `#[serde(deny_unknown_fields)]` becomes
    /// `"additionalProperties": false`, and keys without `#[serde(default)]` that are not
    /// `Option`s become `required`.
    #[must_use]
    pub fn config_schema_of<C: schemars::JsonSchema>(self) -> Self {
        self.config_schema(crate::schema::schema_of::<C>())
    }

    /// Lets the host run [`crate::Kind::setup`] ahead of time: after a bundle is ready, it
    /// prepares a spare data directory for the service with `setup`, and the next start of
    /// the same service (same project, config, user and declared environment) takes it
    /// over, so that start's `setup` finds its work done. `setup` must then notice that
    /// and return quickly, as it must on a restart.
    ///
    /// Only for a `setup` whose result depends on nothing but the service's name, config,
    /// user, project directory, declared environment and the kind's version: not on its
    /// ports, other services or the time. The postgres kind's cluster copy is the example.
    #[must_use]
    pub fn setup_ahead(mut self) -> Self {
        self.setup_ahead = true;
        self
    }

    /// Keeps the kind's services on the real clock unless a bundle sets `faketime = true`
    /// for one: for programs the clock library breaks and that keep no time of their own
    /// (a browser driver). By default services follow the bundle's clock.
    #[must_use]
    pub fn real_clock(mut self) -> Self {
        self.follows_clock = false;
        self
    }

    pub(crate) fn into_wit(self) -> types::KindInfo {
        types::KindInfo {
            name: self.name,
            version: self.version,
            summary: self.summary,
            programs: self.programs,
            subcommands: self
                .subcommands
                .into_iter()
                .map(|(name, summary)| types::SubcommandInfo { name, summary })
                .collect(),
            config_schema: self.config_schema,
            setup_ahead: self.setup_ahead,
            follows_clock: self.follows_clock,
        }
    }
}

/// The config of a kind that takes none: accepts only an empty table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Who a service's processes run as: its main program, probes, sub-commands and the
/// helpers of [`crate::Command::run`] alike.
///
/// A kind whose server refuses root checks it in [`crate::Kind::configure`] and says what
/// to write instead, before the server fails with words of its own:
///
/// ```
/// # use teamster_plugin_sdk::{Error, ServiceUser};
/// fn refuse_root(user: &ServiceUser) -> Result<(), Error> {
///     if user.is_root() {
///         return Err(Error::msg(
///             "mariadbd refuses to run as root: add `user = \"mysql\"` to the service",
///         ));
///     }
///     Ok(())
/// }
/// let root = ServiceUser { name: "root".into(), uid: 0, host_is_root: true };
/// assert!(refuse_root(&root).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUser {
    /// The user's name (the uid in decimal when the passwd database has none).
    pub name: String,
    /// The numeric user id.
    pub uid: u32,
    /// Whether the host runs as root. Only then does the bundle's `user = "..."` apply;
    /// without one, the service runs as root too.
    pub host_is_root: bool,
}

impl ServiceUser {
    /// Whether the service runs as root.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// One service of a kind, as the plugin sees it.
#[derive(Debug, Clone)]
pub struct Service<C> {
    /// The service's name in the bundle.
    pub name: String,
    /// The bundle's project directory (absolute; not readable from the plugin).
    pub project_dir: String,
    /// The service's data directory (absolute; the only directory the plugin can write).
    pub data_dir: String,
    /// Ports the host allocated, by role (`main` at least).
    pub ports: Vec<(String, u16)>,
    /// Who the service runs as.
    pub user: ServiceUser,
    /// The kind's cache directory (absolute; read-write for the plugin and the service's
    /// user), kept across runs and bundles and keyed by the kind's name and version, or
    /// `None` when the host could not make one. Fill it with [`crate::cache::entry`].
    pub cache_dir: Option<String>,
    /// The parsed config table.
    pub config: C,
}

impl<C> Service<C> {
    /// The port allocated for `role`, if any.
    pub fn port(&self, role: &str) -> Option<u16> {
        self.ports.iter().find(|(r, _)| r == role).map(|(_, p)| *p)
    }

    /// The `main` port; an error if the host allocated none.
    pub fn main_port(&self) -> Result<u16, Error> {
        self.port("main")
            .ok_or_else(|| Error::msg(format!("service `{}` has no `main` port", self.name)))
    }

    /// A path inside the data directory.
    pub fn data_path(&self, relative: impl AsRef<Path>) -> PathBuf {
        Path::new(&self.data_dir).join(relative)
    }
}
