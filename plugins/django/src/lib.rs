//! The `django` kind: a Django development server on a free port, with its database
//! migrated and fixtures loaded before it starts.
//!
//! Everything runs in the service's environment, so the app gets the bundle's
//! `DATABASE_URL = "${db.url}"` and friends, in `setup` (migrate, loaddata), in the server,
//! and in the `manage` sub-command alike.
//!
//! Readiness: `runserver` prints `Quit the server with CONTROL-C.` just *before* it binds
//! its socket, so the kind also waits for a TCP connection to succeed. An HTTP check is
//! opt-in (`ready_path`), because the host's HTTP readiness wants a 2xx status and many
//! apps answer `/` with a 404 or a redirect.
//!
//! The server runs without the autoreloader (`--noreload`): the reloader forks a child that
//! serves while the parent only watches files, which breaks stopping by signal and makes
//! the pid the host sees useless. `PYTHONUNBUFFERED=1` keeps the ready line from sitting in
//! a pipe buffer.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Needle, PortSetting, Process, Readiness, Service,
    Stream, log,
};

/// The line `runserver` prints once it is about to serve.
const READY_LINE: Needle = Needle::from_static("Quit the server with CONTROL-C.");

/// Python interpreters the host may start by name; any other `python` setting (a
/// virtualenv's interpreter, say) is reached through the declared `sh`, because the host
/// starts only programs it resolves itself (the server, `setup`'s runs and `manage` alike).
const PYTHONS: &[&str] = &["python3", "python"];

/// The `sh -c` script that replaces the shell with the program and arguments that follow
/// it (`$0` is the program).
const EXEC_ARGV: &str = r#"exec "$0" "$@""#;

/// The program and leading arguments that start `python`: itself when the host resolves
/// it by name, else `sh` exec'ing it.
fn python_words(python: &str) -> (String, Vec<String>) {
    if PYTHONS.contains(&python) {
        (python.to_string(), Vec::new())
    } else {
        let words = ["-c", EXEC_ARGV, python];
        ("sh".to_string(), words.map(str::to_string).to_vec())
    }
}

/// Whether `setup` runs `migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Migrations {
    Apply,
    Skip,
}

/// The `[services.<name>.config]` table of a django service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// Read by the host, which reserves or picks the main port; only checked here.
    #[serde(default)]
    port: PortSetting,
    /// The interpreter: a name on PATH or a path.
    #[serde(default = "default_python")]
    python: String,
    /// The directory holding `manage.py`, relative to the project directory.
    #[serde(default = "default_app_dir")]
    app_dir: String,
    /// A settings module passed as `--settings`.
    settings: Option<String>,
    #[serde(default = "default_true")]
    migrate: bool,
    /// Fixture names or files for `loaddata`, in order.
    #[serde(default)]
    fixtures: Vec<String>,
    /// A path that must answer 2xx before the service is ready, such as `/health`.
    ready_path: Option<String>,
}

fn default_python() -> String {
    "python3".to_string()
}

fn default_app_dir() -> String {
    ".".to_string()
}

fn default_true() -> bool {
    true
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        self.port.check()?;
        if let Some(path) = &self.ready_path
            && !path.starts_with('/')
        {
            return Err(Error::msg(format!(
                "`ready_path = \"{path}\"` must start with `/`"
            )));
        }
        Ok(())
    }

    fn migrations(&self) -> Migrations {
        if self.migrate {
            Migrations::Apply
        } else {
            Migrations::Skip
        }
    }
}

struct Django;

impl Kind for Django {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "django",
            env!("CARGO_PKG_VERSION"),
            "A Django development server, migrated and with fixtures loaded",
        )
        .program("python3")
        .program("python")
        .program("sh")
        .subcommand("manage", "Run manage.py with the service's environment")
        .config_schema_of::<Config>()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        let cfg = &svc.config;
        cfg.validate()?;
        let port = svc.main_port()?;
        let (program, leading) = python_words(&cfg.python);
        let mut process = Process::new(program)
            .args(leading)
            .args(["-u".to_string(), manage_py(svc), "runserver".to_string()])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--noreload")
            .args(settings_arg(cfg))
            .env("PYTHONUNBUFFERED", "1")
            .cwd(app_dir(svc))
            .stop_signal("SIGTERM")
            .ready(Readiness::plugin_check())
            .ready(Readiness::tcp(port));
        if let Some(path) = &cfg.ready_path {
            process = process.ready(Readiness::http(format!("http://127.0.0.1:{port}{path}")));
        }
        Ok(process)
    }

    fn setup(svc: &Service<Config>) -> Result<(), Error> {
        let cfg = &svc.config;
        cfg.validate()?;
        if cfg.migrations() == Migrations::Apply {
            manage(svc, &["migrate".to_string(), "--noinput".to_string()])?;
        }
        if !cfg.fixtures.is_empty() {
            let mut args = vec!["loaddata".to_string()];
            args.extend(cfg.fixtures.iter().cloned());
            manage(svc, &args)?;
        }
        Ok(())
    }

    fn ready_check(_svc: &Service<Config>, _stream: Stream, line: &str) -> bool {
        READY_LINE.is_in(line)
    }

    fn subcommand(svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        match name {
            "manage" => Ok(manage_command(&svc.config.python, svc)
                .args(args.iter().cloned())
                .args(settings_arg(&svc.config))),
            other => Err(Error::unknown_subcommand(other)),
        }
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        let port = svc.main_port()?;
        Ok(vec![
            ("url".into(), format!("http://127.0.0.1:{port}/")),
            ("host".into(), "127.0.0.1".into()),
            ("port".into(), port.to_string()),
        ])
    }
}

/// `python -u <app_dir>/manage.py` in the app directory, ready for arguments.
fn manage_command(python: &str, svc: &Service<Config>) -> Command {
    let (program, leading) = python_words(python);
    Command::new(program)
        .args(leading)
        .args(["-u".to_string(), manage_py(svc)])
        .env("PYTHONUNBUFFERED", "1")
        .cwd(app_dir(svc))
}

/// Runs `manage.py <args>` for `setup`, failing with its output if it fails.
fn manage(svc: &Service<Config>, args: &[String]) -> Result<(), Error> {
    let out = manage_command(&svc.config.python, svc)
        .args(args.iter().cloned())
        .args(settings_arg(&svc.config))
        .timeout(std::time::Duration::from_secs(240))
        .run_checked()
        .map_err(|e| e.context(format!("`manage.py {}` of `{}`", args[0], svc.name)))?;
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        log::info(line);
    }
    Ok(())
}

/// `manage.py` by absolute path. Python puts the script's directory first on `sys.path`, so
/// the project's modules import whatever the working directory is: a bundle's `directory`
/// (which defaults to the project directory) takes precedence over the kind's `cwd`.
fn manage_py(svc: &Service<Config>) -> String {
    format!("{}/manage.py", app_dir(svc))
}

fn settings_arg(cfg: &Config) -> Vec<String> {
    cfg.settings
        .iter()
        .map(|module| format!("--settings={module}"))
        .collect()
}

/// The app directory as an absolute path (the host resolves relative ones against the
/// project directory for the process, but `run` would use the service's cwd instead).
fn app_dir(svc: &Service<Config>) -> String {
    let dir = &svc.config.app_dir;
    if dir.starts_with('/') {
        dir.clone()
    } else {
        format!("{}/{dir}", svc.project_dir.trim_end_matches('/'))
    }
}

teamster_plugin_sdk::export_kind!(Django);
