//! The system libfaketime as the injector (`clock = "libfaketime"`).

use std::time::Duration;

use chrono::Utc;
use teamster::StartError;

use crate::fixture::Project;

/// A service that prints `date +%s` each time the file `tick` appears, then deletes it.
const TICKER: &str = r#"
clock = "libfaketime"
[services.clock]
command = ["sh", "-c", "echo up; while :; do if [ -e tick ]; then rm tick; date +%s; fi; sleep 0.02; done"]
ready = { log = "up" }
"#;

/// Waits for the next `date +%s` the ticker prints after `tick` is created.
async fn tick(p: &Project, r: &teamster::Running) -> i64 {
    std::fs::write(p.file("tick"), "").expect("write tick");
    let line = r["clock"]
        .logs()
        .out()
        .until(
            teamster::logs::line_where("a timestamp", |l| l.text.parse::<i64>().is_ok()),
            Duration::from_secs(10),
        )
        .await;
    line.expect("a timestamp").text.parse().expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_started_after_a_travel_see_the_new_time() {
    let p = Project::new();
    let r = p.bundle(TICKER).start().await.expect("start");
    let before = tick(&p, &r).await;
    assert!((before - Utc::now().timestamp()).abs() < 60, "{before}");
    r.time_travel(chrono::Duration::days(30)).expect("travel");
    let want = Utc::now().timestamp() + 30 * 86400;
    // Each `date` is a new process, so it reads the timestamp file afresh.
    let after = tick(&p, &r).await;
    assert!(
        (after - want).abs() < 60,
        "saw {after}, wanted about {want}"
    );
    assert!((r.now().timestamp() - want).abs() < 60);
    r.stop().await;
}

/// A program that prints nothing before the startup timeout under libfaketime gets a hint
/// naming the injector; under the default clock it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_start_under_libfaketime_is_hinted_at() {
    for (clock, hinted) in [("libfaketime", true), ("preload", false)] {
        let p = Project::new();
        let err = p
            .bundle(&format!(
                "startup_timeout = \"1s\"\nclock = \"{clock}\"\n[services.quiet]\ncommand = [\"sleep\", \"600\"]\nready = {{ log = \"never\" }}\n"
            ))
            .start()
            .await
            .expect_err("times out");
        assert!(matches!(err, StartError::Timeout { .. }), "{err}");
        let text = err.to_string();
        assert_eq!(
            text.contains("hint: it runs under the system libfaketime"),
            hinted,
            "clock {clock}: {text}"
        );
    }
}
