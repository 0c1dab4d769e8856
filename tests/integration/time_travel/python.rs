use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use teamster::logs::LogLine;

use crate::fixture::Project;

/// A Python service that prints its idea of the time (and a child's) whenever asked
/// through a file, and how long a 1 s sleep, Event.wait and asyncio.sleep really take.
const CLOCK_REPORTER: &str = r#"
import asyncio, datetime, os, subprocess, sys, threading, time
print("up", flush=True)
n = 0
while True:
    req = f"ask.{n}"
    if not os.path.exists(req):
        time.sleep(0.01)
        continue
    kind = open(req).read().strip()
    child = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], capture_output=True, text=True).stdout.strip()
    line = f"answer {n} now={time.time()} dt={datetime.datetime.now(datetime.timezone.utc).isoformat()} child={child}"
    if kind == "sleeps":
        m = time.monotonic(); time.sleep(1); a = time.monotonic() - m
        m = time.monotonic(); threading.Event().wait(1); b = time.monotonic() - m
        m = time.monotonic(); asyncio.run(asyncio.sleep(1)); c = time.monotonic() - m
        line += f" sleep={a:.3f} wait={b:.3f} asyncio={c:.3f}"
    print(line, flush=True)
    n += 1
"#;

struct Reporter {
    project: Project,
    /// Questions asked so far, per service.
    asked: std::collections::HashMap<String, usize>,
}

impl Reporter {
    fn new() -> Reporter {
        let project = Project::new();
        std::fs::write(project.file("reporter.py"), CLOCK_REPORTER).expect("write");
        Reporter {
            project,
            asked: Default::default(),
        }
    }

    async fn ask(&mut self, running: &teamster::Running, service: &str, kind: &str) -> LogLine {
        let counter = self.asked.entry(service.to_owned()).or_default();
        let n = *counter;
        *counter += 1;
        // Written whole, then renamed: the service must never read a half-written question.
        let tmp = self.project.file(&format!("{service}/.ask.{n}"));
        std::fs::write(&tmp, kind).expect("ask");
        std::fs::rename(&tmp, self.project.file(&format!("{service}/ask.{n}"))).expect("ask");
        running[service]
            .logs()
            .until(format!("answer {n} ").as_str(), Duration::from_secs(30))
            .lines_back(1000)
            .await
            .expect("answer")
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

fn epoch(line: &str, key: &str) -> f64 {
    field(line, key).parse().expect("float")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_service_and_its_children_move_while_sleeps_stay_real() {
    let mut r = Reporter::new();
    std::fs::create_dir_all(r.project.file("faked")).expect("dir");
    std::fs::create_dir_all(r.project.file("real")).expect("dir");
    let running = r
        .project
        .bundle(
            r#"
[services.faked]
command = "python3 ../reporter.py"
directory = "faked"
ready = { log = "up" }
[services.real]
command = "python3 ../reporter.py"
directory = "real"
faketime = false
ready = { log = "up" }
"#,
        )
        .start()
        .await
        .expect("start");

    let report = running
        .time_travel(chrono::Duration::days(30))
        .expect("travel");
    assert!(
        report.to_string().starts_with("Time travelling to "),
        "{report}"
    );
    let line = r.ask(&running, "faked", "time").await.text;
    let real = Utc::now().timestamp() as f64;
    let thirty_days = 30.0 * 86400.0;
    assert!(
        (epoch(&line, "now") - real - thirty_days).abs() < 60.0,
        "{line}"
    );
    assert!(
        (epoch(&line, "child") - real - thirty_days).abs() < 60.0,
        "child did not move: {line}"
    );
    let dt: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(field(&line, "dt")).expect("iso");
    assert!(
        (dt.timestamp() as f64 - real - thirty_days).abs() < 60.0,
        "{line}"
    );
    // The bundle agrees.
    assert!((running.now().timestamp() as f64 - real - thirty_days).abs() < 60.0);

    // A service with faketime = false does not move.
    let line = r.ask(&running, "real", "time").await.text;
    assert!(
        (epoch(&line, "now") - Utc::now().timestamp() as f64).abs() < 60.0,
        "{line}"
    );

    // Offsets accumulate: -2h from +30d; sleeps still take real time.
    running
        .time_travel(chrono::Duration::hours(-2))
        .expect("travel");
    let line = r.ask(&running, "faked", "sleeps").await.text;
    let expected = Utc::now().timestamp() as f64 + thirty_days - 7200.0;
    assert!((epoch(&line, "now") - expected).abs() < 60.0, "{line}");
    for key in ["sleep", "wait", "asyncio"] {
        let took = epoch(&line, key);
        assert!(
            (0.9..3.0).contains(&took),
            "{key} took {took}s after a jump: {line}"
        );
    }

    // The travel was logged as one bundle line.
    let logged = running.logs().lines().expect("lines");
    assert_eq!(
        logged
            .iter()
            .filter(|l| l.text.starts_with("Time travelling to "))
            .count(),
        2
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_travel_respects_the_time_zone() {
    let mut r = Reporter::new();
    std::fs::create_dir_all(r.project.file("s")).expect("dir");
    let running = r
        .project
        .bundle("[services.s]\ncommand = \"python3 ../reporter.py\"\ndirectory = \"s\"\nready = { log = \"up\" }\n")
        .start()
        .await
        .expect("start");
    let target = DateTime::parse_from_rfc3339("2031-01-01T09:00:00+05:00").expect("date");
    running.time_travel(target).expect("travel");
    let line = r.ask(&running, "s", "time").await.text;
    // 09:00 at +05:00 is 04:00 UTC.
    let want = DateTime::parse_from_rfc3339("2031-01-01T04:00:00Z")
        .expect("date")
        .timestamp() as f64;
    assert!((epoch(&line, "now") - want).abs() < 30.0, "{line}");
    running.stop().await;
}
