//! The `celery` kind: a Celery worker for an app, optionally running beat in the same
//! process tree, ready once the worker says `<node> ready.`.
//!
//! The worker runs as `python -m celery -A <app> worker …` in the app directory, with the
//! app directory first on `PYTHONPATH`, so `-A tasks` finds `tasks.py` there whatever the
//! service's working directory is. `broker` and `result_backend` reach Celery as
//! `CELERY_BROKER_URL` and `CELERY_RESULT_BACKEND`, which Celery prefers to the app's own
//! settings; the `celery` sub-command gets the same variables, app and directory, so
//! `teamster exec worker celery inspect ping` talks to the very worker that runs.
//!
//! Readiness: the worker logs `<node> ready.` once its consumer is connected to the broker
//! and it takes tasks; the node name is `<service>@%h`, so the line is recognised for this
//! service only. The log level is INFO because that line is an INFO record.
//!
//! Beat and time travel: beat sleeps between ticks for up to `beat_max_loop_interval`
//! (Celery's default is 300 s) on the monotonic clock, which a travel does not move. The
//! kind sets it to `beat_max_interval` (default 1 s), so beat looks at the (travelled) wall
//! clock at least once a second and a task made due by a travel is sent within about a
//! second. The schedule file lives in the data directory.
//!
//! Stopping: a warm shutdown. The worker stops taking tasks, lets those in flight finish,
//! and exits; the host kills the process group once the service's `shutdown_timeout` has
//! passed, so a task longer than that is cut short. The stop signal is SIGINT, not
//! SIGTERM: the host signals the service's whole process group, and Celery's prefork pool
//! processes reset SIGTERM to its default, so a group-wide SIGTERM kills them with their
//! tasks (`WorkerLostError: Worker exited prematurely: signal 15`). The first SIGINT is the
//! same warm shutdown for the main process (Ctrl-C), and the pool processes ignore it.
//!
//! The service has no listening port. Like every kind it accepts `port`, and the host
//! reserves one for it, but nothing listens there and connection info does not offer it.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Needle, PortSetting, Process, Readiness, Service,
    Stream, Verdict,
};

/// How the ready line ends: `[…: INFO/MainProcess] worker@host ready.`.
const READY_END: &str = " ready.";

/// What the `celery` command prints when `-A` names nothing importable; it then exits.
const NO_APP: Needle = Needle::from_static("Unable to load celery application");

/// The `sh -c` script that puts the app directory (`$1`) first on `PYTHONPATH`, keeping
/// what the service's environment already has there, and replaces the shell with the
/// interpreter (`$0`) and the arguments after the directory.
const EXEC_WITH_PYTHONPATH: &str =
    r#"PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}"; export PYTHONPATH; shift; exec "$0" "$@""#;

/// The `[services.<name>.config]` table of a celery service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// Read by the host, which reserves or picks a port as for every kind; a worker does
    /// not listen, so the port goes unused. Only checked here.
    #[serde(default)]
    port: PortSetting,
    /// The Celery app, as `celery -A` takes it: a module (`tasks`), `module:attribute`
    /// (`proj.celery:app`) or a package.
    app: String,
    /// The interpreter: a name on PATH or a path (a virtualenv's `bin/python`).
    #[serde(default = "default_python")]
    python: String,
    /// The directory the app is imported from, relative to the project directory; it
    /// becomes the working directory and the first `PYTHONPATH` entry.
    #[serde(default = "default_app_dir")]
    app_dir: String,
    /// The broker URL (`"${cache.url}"`), given to Celery as `CELERY_BROKER_URL`. Without
    /// it the app's own `broker_url` holds.
    broker: Option<String>,
    /// The result backend URL, given to Celery as `CELERY_RESULT_BACKEND`.
    result_backend: Option<String>,
    /// The queues to consume (`-Q`); default: Celery's (`celery`).
    #[serde(default)]
    queues: Vec<String>,
    /// The number of pool processes (`-c`); default: Celery's (one per CPU).
    concurrency: Option<u32>,
    /// Also run beat, the periodic task scheduler, inside the worker (`-B`).
    #[serde(default)]
    beat: bool,
    /// With `beat`: the longest beat sleeps between looking at its schedule, in seconds
    /// (Celery's `beat_max_loop_interval`). Short, so time travel reaches the schedule.
    #[serde(default = "default_beat_max_interval")]
    beat_max_interval: f64,
    /// More `celery worker` arguments, after the kind's own.
    #[serde(default)]
    extra_args: Vec<String>,
}

fn default_python() -> String {
    "python3".to_string()
}

fn default_app_dir() -> String {
    ".".to_string()
}

fn default_beat_max_interval() -> f64 {
    1.0
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        self.port.check()?;
        if self.app.trim().is_empty() {
            return Err(Error::msg(
                "`app` must name the Celery app (`app = \"tasks\"`)",
            ));
        }
        if self.concurrency == Some(0) {
            return Err(Error::msg("`concurrency` must be at least 1"));
        }
        if !(self.beat_max_interval.is_finite() && self.beat_max_interval > 0.0) {
            return Err(Error::msg(format!(
                "`beat_max_interval = {}` must be a number of seconds above 0",
                self.beat_max_interval
            )));
        }
        if let Some(queue) = self.queues.iter().find(|q| q.is_empty() || q.contains(',')) {
            return Err(Error::msg(format!(
                "queue name `{queue}` must be non-empty and without `,`"
            )));
        }
        Ok(())
    }
}

struct Celery;

impl Kind for Celery {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "celery",
            env!("CARGO_PKG_VERSION"),
            "A Celery worker for an app, optionally with beat",
        )
        .program("sh")
        .subcommand(
            "celery",
            "Run the celery command (inspect, call, purge, …) with the worker's app and broker",
        )
        .config_schema_of::<Config>()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        let cfg = &svc.config;
        cfg.validate()?;
        let (program, args) = celery_words(svc, worker_args(svc));
        let mut process = Process::new(program)
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .cwd(app_dir(svc))
            // Warm shutdown that spares the pool processes (see the module docs).
            .stop_signal("SIGINT")
            .ready(Readiness::plugin_check());
        for (key, value) in celery_env(cfg) {
            process = process.env(key, value);
        }
        Ok(process)
    }

    fn ready_verdict(svc: &Service<Config>, _stream: Stream, line: &str) -> Verdict {
        if NO_APP.is_in(line) {
            return Verdict::Failed(format!(
                "celery cannot load the app `{}` from `{}`: {}",
                svc.config.app,
                app_dir(svc),
                line.trim()
            ));
        }
        is_ready_line(&node_name(svc), line).into()
    }

    fn subcommand(svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        match name {
            "celery" => {
                let (program, words) = celery_words(svc, args.to_vec());
                let mut command = Command::new(program)
                    .args(words)
                    .env("PYTHONUNBUFFERED", "1")
                    .cwd(app_dir(svc));
                for (key, value) in celery_env(&svc.config) {
                    command = command.env(key, value);
                }
                Ok(command)
            }
            other => Err(Error::unknown_subcommand(other)),
        }
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        let cfg = &svc.config;
        let mut info = vec![
            ("app".to_string(), cfg.app.clone()),
            ("node".to_string(), node_name(svc)),
        ];
        if let Some(broker) = &cfg.broker {
            info.push(("broker".to_string(), broker.clone()));
        }
        if let Some(backend) = &cfg.result_backend {
            info.push(("result_backend".to_string(), backend.clone()));
        }
        Ok(info)
    }
}

/// The node name's prefix: the worker is `<service>@<host name>` (Celery fills in `%h`).
fn node_name(svc: &Service<Config>) -> String {
    format!("{}@", svc.name)
}

/// Whether `line` is the ready line of the node `<node_prefix><host>`: the message after
/// the log record's `] ` prefix is the node name followed by ` ready.`.
fn is_ready_line(node_prefix: &str, line: &str) -> bool {
    let line = line.trim_end();
    let Some(node) = line.strip_suffix(READY_END) else {
        return false;
    };
    let message = node.rsplit_once("] ").map_or(node, |(_, m)| m);
    message.starts_with(node_prefix) && !message.contains(' ')
}

/// `celery worker`'s arguments after `-A <app>`.
fn worker_args(svc: &Service<Config>) -> Vec<String> {
    let cfg = &svc.config;
    let mut args: Vec<String> = vec![
        "worker".into(),
        "--loglevel=INFO".into(),
        format!("--hostname={}%h", node_name(svc)),
    ];
    if !cfg.queues.is_empty() {
        args.push(format!("--queues={}", cfg.queues.join(",")));
    }
    if let Some(n) = cfg.concurrency {
        args.push(format!("--concurrency={n}"));
    }
    if cfg.beat {
        args.push("--beat".into());
        args.push(format!(
            "--schedule={}",
            svc.data_path("celerybeat-schedule").display()
        ));
    }
    args.extend(cfg.extra_args.iter().cloned());
    if cfg.beat {
        // `celery worker` reads trailing `name=value` words as settings; beat has no
        // option of its own for this one.
        args.push(format!("beat_max_loop_interval={}", cfg.beat_max_interval));
    }
    args
}

/// The program and arguments that run `python -m celery -A <app> <rest…>` with the app
/// directory first on `PYTHONPATH`: through the declared `sh`, which then exec's the
/// interpreter, so the process the host supervises is Python itself. The interpreter is
/// found by the shell on the service's `PATH` (or is the path given), which is why the
/// kind declares `sh` alone: it never has the host start Python directly.
fn celery_words(svc: &Service<Config>, rest: Vec<String>) -> (String, Vec<String>) {
    let cfg = &svc.config;
    let mut words = vec![
        "-c".to_string(),
        EXEC_WITH_PYTHONPATH.to_string(),
        cfg.python.clone(),
        app_dir(svc),
        "-u".to_string(),
        "-m".to_string(),
        "celery".to_string(),
        format!("--app={}", cfg.app),
    ];
    words.extend(rest);
    ("sh".to_string(), words)
}

/// The variables through which the kind's `broker` and `result_backend` reach Celery.
fn celery_env(cfg: &Config) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(broker) = &cfg.broker {
        env.push(("CELERY_BROKER_URL", broker.clone()));
    }
    if let Some(backend) = &cfg.result_backend {
        env.push(("CELERY_RESULT_BACKEND", backend.clone()));
    }
    env
}

/// The app directory as an absolute path.
fn app_dir(svc: &Service<Config>) -> String {
    let dir = &svc.config.app_dir;
    if dir.starts_with('/') {
        dir.clone()
    } else {
        format!("{}/{dir}", svc.project_dir.trim_end_matches('/'))
    }
}

teamster_plugin_sdk::export_kind!(Celery);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_of_this_node_is_recognised() {
        let line = "[2026-12-02 01:04:15,928: INFO/MainProcess] worker@vm ready.";
        assert!(is_ready_line("worker@", line));
        assert!(is_ready_line("worker@", "worker@vm ready.\n"));
        assert!(!is_ready_line("other@", line));
        assert!(!is_ready_line(
            "worker@",
            "[…: INFO/MainProcess] Task tasks.add[1] succeeded: 'worker@vm ready.'"
        ));
        assert!(!is_ready_line(
            "worker@",
            "[…: INFO/MainProcess] mingle: all alone"
        ));
    }

    #[test]
    fn only_app_is_required() {
        let config: Config = serde_json::from_str(r#"{"app": "tasks"}"#).unwrap();
        assert_eq!(config.port, PortSetting::Auto);
        assert_eq!(config.python, "python3");
        assert_eq!(config.app_dir, ".");
        assert!(!config.beat);
        assert_eq!(config.beat_max_interval, 1.0);
        config.validate().unwrap();
        assert!(serde_json::from_str::<Config>("{}").is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        let parse = |json: &str| serde_json::from_str::<Config>(json).unwrap();
        assert!(
            parse(r#"{"app": "tasks", "concurrency": 0}"#)
                .validate()
                .is_err()
        );
        assert!(
            parse(r#"{"app": "tasks", "beat_max_interval": 0}"#)
                .validate()
                .is_err()
        );
        assert!(
            parse(r#"{"app": "tasks", "queues": ["a,b"]}"#)
                .validate()
                .is_err()
        );
        assert!(parse(r#"{"app": " "}"#).validate().is_err());
    }
}
