use std::time::Duration;

use teamster::StartError;

use crate::fixture::{Project, alive, read_pid};

/// Replaces timings, which vary from run to run, so messages can be snapshot-tested.
fn redact(text: &str) -> String {
    let re = regex::Regex::new(r"\d+\.\d+s").expect("regex");
    re.replace_all(text, "<T>s").into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_ready_fails_fast_with_last_lines() {
    let p = Project::new();
    let bundle = p.bundle(
        r#"
startup_timeout = "60s"
[services.db]
command = "sh -c 'echo $$ > db.pid; echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'exec >&2; for i in $(seq 1 25); do echo line $i; done; echo fatal: no config; exit 3'"
needs = ["db"]
ready = { log = "never printed" }
"#,
    );
    let err = bundle.start().await.expect_err("web crashes");
    // Fail fast: the crash ends the start, not the 60 s startup timeout.
    assert!(matches!(err, StartError::ServiceFailed(_)), "{err}");
    // Everything goes through stderr: lines of two pipes have no order between them, so a
    // last line on stderr could otherwise be read before the stdout lines written earlier.
    insta::assert_snapshot!(redact(&err.to_string()), @r#"
    service `web` exited with code 3 before it was ready after <T>s
      waiting for: log line "never printed" on output
      last 20 log lines:
        err | line 7
        err | line 8
        err | line 9
        err | line 10
        err | line 11
        err | line 12
        err | line 13
        err | line 14
        err | line 15
        err | line 16
        err | line 17
        err | line 18
        err | line 19
        err | line 20
        err | line 21
        err | line 22
        err | line 23
        err | line 24
        err | line 25
        err | fatal: no config
    "#);
    // Everything already started was stopped.
    let db = read_pid(&p.file("db.pid")).await;
    assert!(!alive(db), "db (pid {db}) survived a failed start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_timeout_names_every_service_not_ready() {
    let p = Project::new();
    let bundle = p.bundle(
        r#"
startup_timeout = "500ms"
[services.slow]
command = "sh -c 'echo still warming up; exec sleep 600'"
ready = { log = "ready" }
[services.app]
command = "sleep 600"
needs = ["slow"]
"#,
    );
    let err = bundle.start().await.expect_err("times out");
    insta::assert_snapshot!(redact(&err.to_string()), @r#"
    the bundle was not ready within <T>s
    service `slow` was still starting after <T>s
      waiting for: log line "ready" on output
      last 1 log lines:
        out | still warming up
    service `app` never started: it needs `slow`
      it printed nothing
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_already_taken_is_reported() {
    let p = Project::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let err = p
        .bundle(&format!(
            "[services.web]\ncommand = \"sleep 600\"\nready = {{ tcp = {port} }}\n"
        ))
        .start()
        .await
        .expect_err("port is taken");
    assert!(matches!(err, StartError::AlreadyRunning { .. }), "{err}");
    insta::assert_snapshot!(err.to_string().replace(&port.to_string(), "<PORT>"), @"service `web` cannot start: something is already accepting connections on 127.0.0.1:<PORT>; another process holds it (stop it or pick another port)");
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_is_a_clear_error() {
    let p = Project::new();
    let err = p
        .bundle("[services.x]\ncommand = \"no-such-program-xyz --flag\"\n")
        .start()
        .await
        .expect_err("no program");
    insta::assert_snapshot!(redact(&err.to_string()), @r"
    service `x` failed: program `no-such-program-xyz` not found after <T>s
      it printed nothing
    ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_while_running_is_reported() {
    let p = Project::new();
    // The service crashes once the test creates `go`, well after it was ready.
    let running = p
        .bundle("[services.s]\ncommand = \"sh -c 'echo up; while [ ! -e go ]; do sleep 0.02; done; echo bye >&2; exit 7'\"\nready = { log = \"up\" }\n")
        .start()
        .await
        .expect("start");
    std::fs::write(p.file("go"), "").expect("write");
    let crash = match tokio::time::timeout(Duration::from_secs(10), running.crashed()).await {
        Ok(c) => c,
        Err(_) => panic!(
            "no crash reported; state {:?}, lines {:?}",
            running["s"].state(),
            running["s"]
                .logs()
                .lines()
                .map(|l| l.into_iter().map(|l| l.text).collect::<Vec<_>>())
        ),
    };
    assert!(crash.to_string().contains("exited with code 7"), "{crash}");
    assert!(crash.to_string().contains("bye"), "{crash}");
    running.stop().await;
}
