//! The `django` kind, on the demo app of `examples/demo` with its real Postgres and Redis.

use std::io::{Read, Write};

use super::{demo::start_demo, stdout_of};
use crate::fixture::Project;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_migrates_and_loads_fixtures_before_serving() {
    let p = Project::new();
    let running = start_demo(&p).await;
    // The table exists and holds the two notes of the `sample` fixture.
    assert_eq!(
        stdout_of(
            &running["db"],
            "psql",
            &["-tAc", "select count(*) from notes_note"]
        )
        .await,
        "2"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_http_through_its_url() {
    let p = Project::new();
    let running = start_demo(&p).await;
    let url = running.connection("web", "url").expect("url").to_owned();
    let port = running["web"].ports()[0].1;
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("response");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#""ok": true"#) && answer.contains(r#""notes": 2"#),
        "{answer}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_subcommand_runs_in_the_service_environment() {
    let p = Project::new();
    let running = start_demo(&p).await;
    let web = &running["web"];
    let checked = stdout_of(web, "manage", &["check"]).await;
    assert!(
        checked.contains("System check identified no issues"),
        "{checked}"
    );
    // It sees the bundle's environment: the database URL interpolated from `${db.url}`.
    let printed = stdout_of(
        web,
        "manage",
        &[
            "shell",
            "-c",
            "import os; print(os.environ['DATABASE_URL'])",
        ],
    )
    .await;
    // Django 5.2 may print a line about auto-imports first; the value is the last line.
    let url = printed.lines().last().unwrap_or_default();
    assert_eq!(url, running.connection("db", "url").expect("db url"));
    running.stop().await;
}

/// Time travel reaches a running Django: a view returning `timezone.now()` moves, and
/// PostgreSQL's `now()` seen through the `psql` sub-command agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_moves_django_views_and_psql() {
    let p = Project::new();
    let running = start_demo(&p).await;
    let port = running["web"].ports()[0].1;
    let view_now = || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .write_all(b"GET /now HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("response");
        let body = answer.split("\r\n\r\n").nth(1).expect("body").to_owned();
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        chrono::DateTime::parse_from_rfc3339(v["now"].as_str().expect("now"))
            .expect("rfc3339")
            .timestamp()
    };
    running
        .time_travel(chrono::Duration::days(30))
        .expect("travel");
    let want = chrono::Utc::now().timestamp() + 30 * 86400;
    assert!((view_now() - want).abs() < 60, "the view did not move");
    let pg: f64 = stdout_of(
        &running["db"],
        "psql",
        &["-tAc", "select extract(epoch from now())"],
    )
    .await
    .parse()
    .expect("epoch");
    assert!(
        (pg as i64 - want).abs() < 60,
        "psql saw {pg}, want about {want}"
    );
    running
        .time_travel(chrono::Duration::hours(-2))
        .expect("travel");
    assert!(
        (view_now() - (want - 7200)).abs() < 60,
        "the view did not move back"
    );
    running.stop().await;
}
