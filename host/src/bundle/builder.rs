//! The Rust front door: a bundle described in code, for `cargo test` users.
//!
//! The builder produces the same [`BundleSpec`] as an equivalent bundle file: the same
//! defaults, the same path resolution and the same validation, so a test can move from one
//! to the other without changing behaviour. Setters cannot fail; anything invalid (a
//! command string with an open quote, a name with a space) is reported by
//! [`BundleBuilder::build`], so a chain of calls stays a chain.

use std::path::PathBuf;
use std::time::Duration;

use super::signal::StopSignal;

use super::error::{BundleError, KeyPath, Location};
use super::interpolate::{REFERENCE_IN_DIRECTORY, add_implied_needs};
use super::resolve::{absolute, resolve_paths};
use super::spec::{
    BundleSpec, ClockKind, DEFAULT_KEEP_RUNS, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT,
    KindRef, Readiness, ServiceSpec,
};
use super::validate::{Unplaced, validate};

/// Builds a [`BundleSpec`] in code. Start with [`BundleSpec::builder`].
///
/// ```
/// use teamster::bundle::spec::{BundleSpec, Readiness, ServiceSpec};
///
/// let spec = BundleSpec::builder("/srv/app")
///     .service(ServiceSpec::builder("db").shell("postgres -D data").ready(Readiness::tcp(5432)))
///     .service(ServiceSpec::builder("web").command(["python3", "-m", "http.server"]).needs("db"))
///     .build()
///     .expect("valid bundle");
/// assert_eq!(spec.service("web").unwrap().needs, ["db"]);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BundleBuilder {
    project_dir: PathBuf,
    startup_timeout: Duration,
    shutdown_timeout: Duration,
    run_root: Option<PathBuf>,
    keep_runs: usize,
    clock: ClockKind,
    services: Vec<ServiceBuilder>,
}

impl BundleSpec {
    /// A builder for a bundle whose relative paths resolve against `project_dir` (itself
    /// made absolute against the current directory).
    pub fn builder(project_dir: impl Into<PathBuf>) -> BundleBuilder {
        BundleBuilder {
            project_dir: project_dir.into(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            run_root: None,
            keep_runs: DEFAULT_KEEP_RUNS,
            clock: ClockKind::default(),
            services: Vec::new(),
        }
    }
}

impl BundleBuilder {
    /// Deadline for every service to become ready (default 15 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Default grace between a service's stop signal and SIGKILL (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Where run directories live; relative to the project directory
    /// (default `<project_dir>/.teamster`).
    pub fn run_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_root = Some(dir.into());
        self
    }

    /// How many old runs to keep when pruning (default 10).
    pub fn keep_runs(mut self, keep: usize) -> Self {
        self.keep_runs = keep;
        self
    }

    /// The clock injector for services with `faketime` (default: the preload library).
    pub fn clock(mut self, clock: ClockKind) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a service, from a [`ServiceBuilder`] or a ready-made [`ServiceSpec`].
    pub fn service(mut self, service: impl Into<ServiceBuilder>) -> Self {
        self.services.push(service.into());
        self
    }

    /// Resolves paths and validates the bundle.
    pub fn build(self) -> Result<BundleSpec, BundleError> {
        let project_dir = absolute(&self.project_dir, || Location::Code)?;
        let mut services = Vec::with_capacity(self.services.len());
        for service in self.services {
            if let Some(source) = service.command_error {
                return Err(BundleError::InvalidCommand {
                    at: Location::Code,
                    service: service.spec.name,
                    source,
                });
            }
            if let Some(dir) = &service.spec.directory
                && dir.to_string_lossy().contains("${")
            {
                return Err(BundleError::InvalidValue {
                    at: Location::Code,
                    key: KeyPath::service(&service.spec.name, "directory"),
                    reason: REFERENCE_IN_DIRECTORY.to_owned(),
                });
            }
            services.push(service.spec);
        }
        let mut spec = BundleSpec {
            run_root: self.run_root.unwrap_or_else(|| PathBuf::from(".teamster")),
            project_dir,
            source: None,
            startup_timeout: self.startup_timeout,
            shutdown_timeout: self.shutdown_timeout,
            keep_runs: self.keep_runs,
            clock: self.clock,
            services,
        };
        resolve_paths(&mut spec);
        add_implied_needs(&mut spec);
        validate(&spec, &Unplaced(Location::Code))?;
        Ok(spec)
    }
}

/// Builds one [`ServiceSpec`]. Start with [`ServiceSpec::builder`] or [`ServiceBuilder::new`].
#[derive(Debug, Clone)]
#[must_use = "a service builder does nothing until it is added to a bundle"]
pub struct ServiceBuilder {
    spec: ServiceSpec,
    /// Set by [`ServiceBuilder::faketime`]; otherwise the kind's default applies.
    faketime: Option<bool>,
    /// Kept until `build`, so that `shell` can stay infallible inside a chain.
    command_error: Option<shell_words::ParseError>,
}

impl ServiceSpec {
    /// A builder for a service called `name`, with the defaults of [`ServiceSpec::new`].
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder::new(name)
    }
}

impl From<ServiceSpec> for ServiceBuilder {
    fn from(spec: ServiceSpec) -> Self {
        ServiceBuilder {
            spec,
            faketime: None,
            command_error: None,
        }
    }
}

impl ServiceBuilder {
    /// A builder for a service called `name`, with the defaults of [`ServiceSpec::new`].
    pub fn new(name: impl Into<String>) -> Self {
        ServiceSpec::new(name).into()
    }

    /// The program and its arguments.
    pub fn command<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.command = argv.into_iter().map(Into::into).collect();
        self.command_error = None;
        self
    }

    /// The program and its arguments as one string, split into words the way a POSIX shell
    /// would (quotes and backslashes), without running a shell.
    pub fn shell(mut self, command: &str) -> Self {
        match shell_words::split(command) {
            Ok(argv) => {
                self.spec.command = argv;
                self.command_error = None;
            }
            Err(error) => self.command_error = Some(error),
        }
        self
    }

    /// The working directory; relative to the project directory (default: the project
    /// directory itself).
    pub fn directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spec.directory = Some(dir.into());
        self
    }

    /// Sets a variable on top of the base environment; setting it again replaces the value
    /// but keeps its original position.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.spec.env.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.spec.env.push((key, value)),
        }
        self
    }

    /// Whether the base environment is the host's (`true`, the default) or empty.
    pub fn inherit_env(mut self, inherit: bool) -> Self {
        self.spec.inherit_env = inherit;
        self
    }

    /// Adds a key to the connection info this service offers to the services that need it;
    /// setting it again replaces the value but keeps its original position. Values may hold
    /// references such as `${self.port}`.
    pub fn connection(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.spec.connection.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.spec.connection.push((key, value)),
        }
        self
    }

    /// A service that must be ready before this one starts. Services named in references
    /// such as `${db.url}` are added by [`BundleBuilder::build`] without this.
    pub fn needs(mut self, service: impl Into<String>) -> Self {
        self.spec.needs.push(service.into());
        self
    }

    /// The signal that asks for a graceful stop (default `SIGTERM`).
    pub fn stop_signal(mut self, signal: StopSignal) -> Self {
        self.spec.stop_signal = signal;
        self
    }

    /// The user to run as when the host runs as root.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.spec.user = Some(user.into());
        self
    }

    /// Whether the service sees the bundle's clock (default `true`, and `false` for the
    /// kinds that run on the real clock, such as `chromedriver`).
    pub fn faketime(mut self, faketime: bool) -> Self {
        self.faketime = Some(faketime);
        self.spec.faketime = faketime;
        if let Some(kind) = &mut self.spec.kind {
            kind.faketime_set = true;
        }
        self
    }

    /// Adds a readiness condition; all conditions must hold.
    pub fn ready(mut self, ready: Readiness) -> Self {
        self.spec.ready.push(ready);
        self
    }

    /// Overrides the bundle's shutdown timeout for this service.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.spec.shutdown_timeout = Some(timeout);
        self
    }

    /// Has the controlling client run `hook` for this service (see `client_hooks`).
    pub fn client_hook(mut self, hook: crate::bundle::spec::ClientHook) -> Self {
        if !self.spec.client_hooks.contains(&hook) {
            self.spec.client_hooks.push(hook);
        }
        self
    }

    /// Grants the kind's plugin programs it declares, on top of its install-time grants
    /// (call after [`ServiceBuilder::kind`]).
    pub fn grant(mut self, program: impl Into<String>) -> Self {
        if let Some(kind) = &mut self.spec.kind {
            kind.grants.push(program.into());
        }
        self
    }

    /// Lets the plugin `kind` configure the service from `config` (a JSON object); a
    /// command then becomes optional.
    pub fn kind(mut self, kind: impl Into<String>, config: serde_json::Value) -> Self {
        // Without an explicit `faketime`, the kind's default applies at start (it can only
        // turn the clock off, so a spec that came in with `faketime = false` keeps it).
        self.spec.kind = Some(KindRef {
            name: kind.into(),
            config,
            grants: Vec::new(),
            faketime_set: self.faketime.is_some(),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(builder: BundleBuilder) -> String {
        crate::error_chain(&builder.build().expect_err("the bundle should be rejected"))
    }

    #[test]
    fn defaults_and_resolution() {
        let spec = BundleSpec::builder("/p/./x")
            .service(
                ServiceSpec::builder("web")
                    .command(["srv"])
                    .ready(Readiness::file("run/pid")),
            )
            .build()
            .expect("valid");
        assert_eq!(spec.project_dir, PathBuf::from("/p/x"));
        assert_eq!(spec.run_root, PathBuf::from("/p/x/.teamster"));
        assert_eq!(spec.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
        assert_eq!(spec.source, None);
        let web = spec.service("web").expect("web");
        assert_eq!(web.directory.as_deref(), Some(std::path::Path::new("/p/x")));
        assert_eq!(web.ready, [Readiness::file("/p/x/run/pid")]);
        assert_eq!(
            web.effective_shutdown_timeout(&spec),
            DEFAULT_SHUTDOWN_TIMEOUT
        );
    }

    #[test]
    fn setters_replace_and_accumulate() {
        let spec = BundleSpec::builder("/p")
            .service(
                ServiceSpec::builder("web")
                    .shell("a 'b c'")
                    .env("A", "1")
                    .env("B", "2")
                    .env("A", "3")
                    .shutdown_timeout(Duration::from_secs(1)),
            )
            .service(ServiceSpec {
                command: vec!["x".into()],
                ..ServiceSpec::new("plain")
            })
            .build()
            .expect("valid");
        let web = &spec.services[0];
        assert_eq!(web.command, ["a", "b c"]);
        assert_eq!(
            web.env,
            [
                ("A".to_owned(), "3".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(
            web.effective_shutdown_timeout(&spec),
            Duration::from_secs(1)
        );
        assert_eq!(spec.services[1].name, "plain");
    }

    #[test]
    fn builder_errors_have_no_position() {
        let dup = BundleSpec::builder("/p")
            .service(ServiceSpec::builder("web").command(["a"]))
            .service(ServiceSpec::builder("web").command(["b"]));
        insta::assert_snapshot!(error(dup), @"service `web` is defined twice; service names must be unique");

        let quote =
            BundleSpec::builder("/p").service(ServiceSpec::builder("web").shell("echo 'oops"));
        insta::assert_snapshot!(error(quote), @"cannot split the `command` of service `web` into words: missing closing quote");

        let name = BundleSpec::builder("/p").service(ServiceSpec::builder("my web").command(["a"]));
        insta::assert_snapshot!(error(name), @"invalid service name `my web`: use only ASCII letters, digits, `_` and `-`");

        let env = BundleSpec::builder("/p")
            .service(ServiceSpec::builder("web").command(["a"]).env("A=B", "c"));
        insta::assert_snapshot!(error(env), @"invalid environment variable name `A=B` in service `web`: it must be non-empty and contain no `=` or NUL");

        let kind = BundleSpec::builder("/p")
            .service(ServiceSpec::builder("db").kind("post gres", serde_json::json!({})));
        insta::assert_snapshot!(error(kind), @"invalid `kind` `post gres` of service `db`: use only ASCII letters, digits, `_` and `-`");

        let empty = BundleSpec::builder("/p").service(ServiceSpec::builder("web"));
        insta::assert_snapshot!(error(empty), @"service `web` has no command; set `command`, or `kind` to let a plugin configure it");
    }

    #[test]
    fn builder_refuses_what_a_start_could_not_use() {
        let zero = BundleSpec::builder("/p")
            .startup_timeout(Duration::ZERO)
            .service(ServiceSpec::builder("web").command(["a"]));
        insta::assert_snapshot!(error(zero), @r#"invalid `startup_timeout`: 0s leaves no time for any service to become ready; give a positive duration such as "15s""#);
        let nul = BundleSpec::builder("/p")
            .service(ServiceSpec::builder("web").command(["a"]).env("K", "a\0b"));
        insta::assert_snapshot!(error(nul), @"env `K` of service `web` contains a NUL byte, which cannot be passed to a process");
        let long =
            BundleSpec::builder("/p").service(ServiceSpec::builder("x".repeat(65)).command(["a"]));
        insta::assert_snapshot!(error(long), @"service name `xxxxxxxxxxxxxxxxxxxxxxxx…` is 65 characters long; names are at most 64 characters, since they name the service's files");
    }

    #[test]
    fn builder_readiness_is_validated() {
        let check = |ready: Readiness| {
            error(
                BundleSpec::builder("/p")
                    .service(ServiceSpec::builder("web").command(["a"]).ready(ready)),
            )
        };
        insta::assert_snapshot!(check(Readiness::tcp(0)), @"invalid readiness condition for service `web`: port 0 is outside 1..=65535");
        insta::assert_snapshot!(check(Readiness::tcp_at("", 80)), @"invalid readiness condition for service `web`: `:80` is not `host:port` or a port number");
        insta::assert_snapshot!(check(Readiness::http("localhost:80")), @"invalid readiness condition for service `web`: `localhost:80` is not an `http://` URL");
        insta::assert_snapshot!(check(Readiness::http_status("http://x/", 42)), @"invalid readiness condition for service `web`: status 42 is outside 100..=599");
        insta::assert_snapshot!(check(Readiness::command(Vec::<String>::new())), @"invalid readiness condition for service `web`: the probe command is empty");
        insta::assert_snapshot!(check(Readiness::socket("")), @"invalid readiness condition for service `web`: the path is empty");
        insta::assert_snapshot!(check(Readiness::plugin()), @"invalid readiness condition for service `web`: `plugin` readiness needs a `kind`, whose plugin decides when the service is ready");
        let zeroth = Readiness::log_on(
            Default::default(),
            crate::bundle::spec::LinePattern::Contains("x".into()),
            0,
        );
        insta::assert_snapshot!(check(zeroth), @"invalid readiness condition for service `web`: `nth` counts matches from 1, got 0");
        assert!(Readiness::log_regex("(").is_err());
    }

    #[test]
    fn validate_on_a_loaded_spec_points_at_the_file() {
        let mut spec = BundleSpec::builder("/p")
            .service(ServiceSpec::builder("web").command(["a"]))
            .build()
            .expect("valid");
        spec.source = Some(PathBuf::from("bundle.toml"));
        spec.services[0].needs.push("web".into());
        insta::assert_snapshot!(
            crate::error_chain(&spec.validate().unwrap_err()),
            @"bundle.toml: service `web` needs itself; remove `web` from its `needs`"
        );
    }
}
