//! The `celery` kind, on the app of `tests/data/celery` with a real Redis as broker and
//! result backend: readiness, the `celery` sub-command, beat under time travel, and the
//! warm shutdown.

use std::path::PathBuf;
use std::time::Duration;

use super::stdout_of;
use crate::fixture::{Project, alive, eventually, tree};

/// The test app: `tasks.py`.
fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/celery")
        .canonicalize()
        .expect("tests/data/celery")
}

/// A bundle of a Redis and a worker (`worker`) using it as broker and result backend,
/// with `extra` appended to the worker's config table. The tasks write into the project
/// directory.
fn bundle(p: &Project, extra: &str) -> String {
    format!(
        r#"
# Celery's start is mostly Python importing it: on 2 busy cores, with other suites
# starting their own interpreters, that alone has taken more than the default 15 s.
startup_timeout = "90s"

[services.cache]
kind = "redis"

[services.worker]
kind = "celery"
env = {{ TASKS_OUT = "{out}" }}
[services.worker.config]
app = "tasks"
app_dir = "{app}"
broker = "${{cache.url}}"
result_backend = "${{cache.url}}"
concurrency = 2
{extra}
"#,
        out = p.path().display(),
        app = app_dir().display(),
    )
}

/// Whether a log line of the service is the worker's `worker@<host> ready.`.
fn is_ready_line(text: &str) -> bool {
    text.trim_end().ends_with(" ready.") && text.contains("] worker@")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_is_ready_when_it_says_so_and_runs_tasks() {
    let p = Project::new();
    let running = p.start(&bundle(&p, "")).await;
    let worker = &running["worker"];
    // Ready means the worker said so, not merely that it was spawned: the line is there
    // already, among the lines printed before the start returned.
    let lines = worker.logs().lines().expect("logs");
    assert!(
        lines.iter().any(|l| is_ready_line(&l.text)),
        "no ready line in {:?}",
        lines.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    // The references in `config` were filled in before the worker started.
    let url = running.connection("cache", "url").expect("cache url");
    assert_eq!(running.connection("worker", "broker"), Some(url));
    assert_eq!(running.connection("worker", "node"), Some("worker@"));

    // The sub-command talks to this worker through the same app and broker.
    let pong = stdout_of(worker, "celery", &["inspect", "ping", "--timeout=5"]).await;
    assert!(pong.contains("worker@") && pong.contains("pong"), "{pong}");
    let id = stdout_of(worker, "celery", &["call", "tasks.add", "--args=[2, 3]"]).await;
    let id = id.lines().last().unwrap_or_default().to_owned();
    // `celery result` waits for the task's result in the backend.
    let result = stdout_of(worker, "celery", &["result", &id]).await;
    assert_eq!(result, "5", "task {id}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_does_not_import_fails_the_start_with_celerys_words() {
    let p = Project::new();
    let toml = bundle(&p, "").replace(r#"app = "tasks""#, r#"app = "no_such_tasks""#);
    let error = match p.bundle(&toml).start().await {
        Ok(running) => {
            running.stop().await;
            panic!("the start succeeded");
        }
        Err(e) => teamster::error_chain(&e),
    };
    assert!(
        error.contains("celery cannot load the app `no_such_tasks`"),
        "{error}"
    );
}

/// Beat runs a daily task once the clock has travelled a day: the kind keeps beat's sleeps
/// down to a second, so it looks at the travelled clock soon after the travel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beat_runs_a_daily_task_after_a_day_of_time_travel() {
    let p = Project::new();
    // At debug level beat says when it wakes up next: each line is one look at the schedule.
    let running = p
        .start(&bundle(
            &p,
            "beat = true\nextra_args = [\"--loglevel=DEBUG\"]",
        ))
        .await;
    let worker = &running["worker"];
    let ran = p.file("daily.log");
    // Not due yet: beat has looked at its schedule twice since it started, a day has not
    // passed, and the task did not run.
    let ticks = || {
        worker
            .logs()
            .lines()
            .map(|lines| {
                lines
                    .iter()
                    .filter(|l| l.text.contains("beat: Waking up in"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(20), || ticks() >= 2).await,
        "beat did not tick twice: {:?}",
        worker.logs().tail(20)
    );
    assert!(!ran.exists(), "the daily task ran before any travel");

    running
        .time_travel(chrono::Duration::days(1))
        .expect("travel");
    assert!(
        eventually(Duration::from_secs(5), || ran.exists()).await,
        "the daily task did not run within 5 s of a +1d travel"
    );
    // It ran at the travelled time.
    let stamp: f64 = std::fs::read_to_string(&ran)
        .expect("daily.log")
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a timestamp");
    let want = chrono::Utc::now().timestamp() + 86_400;
    assert!(
        (stamp as i64 - want).abs() < 60,
        "ran at {stamp}, want about {want}"
    );
    running.stop().await;
}

/// A stop is Celery's warm shutdown: a task in flight (in a prefork pool process, which a
/// SIGTERM to the group would kill) finishes within the grace period, and then nothing of
/// the worker's process tree is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_a_task_in_flight_finish_and_leaves_nothing_behind() {
    let p = Project::new();
    let running = p.start(&bundle(&p, "beat = true")).await;
    let worker = &running["worker"];
    stdout_of(
        worker,
        "celery",
        &["call", "tasks.slow", r#"--args=[2, "inflight"]"#],
    )
    .await;
    let started = p.file("inflight.started");
    assert!(
        eventually(Duration::from_secs(20), || started.exists()).await,
        "the task did not start"
    );
    let pid = worker.pid().expect("a running worker has a pid");
    // The main process, its pool processes and beat's process.
    let all = tree(pid);
    assert!(all.len() >= 3, "pool and beat processes: {all:?}");
    let logs = worker.logs();

    running.stop().await;
    assert!(
        p.file("inflight.done").exists(),
        "the task in flight was cut short by the stop"
    );
    let lines = logs.lines().expect("logs");
    assert!(
        lines.iter().any(|l| l.text.contains("Warm shutdown")),
        "no warm shutdown in {:?}",
        lines.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    let left = || {
        all.iter()
            .copied()
            .filter(|p| alive(*p))
            .collect::<Vec<_>>()
    };
    // `stop` has waited for the service; the poll only lets /proc catch up with reaping.
    assert!(
        eventually(Duration::from_secs(5), || left().is_empty()).await,
        "left behind: {:?}",
        left()
    );
}
