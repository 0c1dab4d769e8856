//! Probes against real sockets, files and processes.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

use super::*;
use crate::bundle::spec::{LinePattern, LogReady, Readiness, StreamFilter};

/// Generous bound for things that normally take milliseconds, so a loaded machine cannot
/// make a test fail, while a hang still fails it.
const DEADLINE: Duration = Duration::from_secs(10);

fn ctx() -> ProbeContext {
    ProbeContext {
        inherit_env: true,
        ..ProbeContext::default()
    }
}

fn tcp(port: u16) -> Readiness {
    Readiness::Tcp {
        host: "127.0.0.1".into(),
        port,
    }
}

fn command(script: &str) -> Readiness {
    Readiness::Command {
        argv: vec!["sh".into(), "-c".into(), script.into()],
    }
}

/// A port nothing listens on, leased for the test binary's life (no other test gets it).
async fn free_port() -> u16 {
    crate::ports::hold_free_port().expect("a free port")
}

async fn once(condition: &Readiness) -> ProbeResult {
    probe_once(condition, &ctx()).await.unwrap()
}

fn reason(result: ProbeResult) -> String {
    match result {
        ProbeResult::NotYet { reason } => reason,
        ProbeResult::Ready => panic!("expected not ready"),
    }
}

/// Asserts that `wait` is still pending after letting it run for a while: the condition does
/// not hold yet, and the loop keeps retrying instead of failing.
async fn assert_pending(wait: &mut Pin<Box<impl Future<Output = Result<(), ProbeError>>>>) {
    let polled = tokio::time::timeout(Duration::from_millis(30), wait.as_mut()).await;
    assert!(polled.is_err(), "finished early: {polled:?}");
}

async fn assert_finishes(wait: Pin<Box<impl Future<Output = Result<(), ProbeError>>>>) {
    tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("the condition never held")
        .expect("the condition is a probe");
}

#[tokio::test]
async fn tcp_probe_sees_a_listener_and_explains_a_refusal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(once(&tcp(port)).await, ProbeResult::Ready);
    drop(listener);

    let why = reason(once(&tcp(port)).await).replace(&port.to_string(), "PORT");
    insta::assert_snapshot!(why, @"cannot connect to 127.0.0.1:PORT: Connection refused (os error 111)");
}

#[tokio::test]
async fn wait_ready_returns_once_a_late_listener_binds() {
    let port = free_port().await;
    let condition = tcp(port);
    let context = ctx();
    let mut wait = Box::pin(wait_ready(&condition, &context));
    assert_pending(&mut wait).await;
    let _listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    assert_finishes(wait).await;
}

#[tokio::test]
async fn tracked_wait_keeps_the_last_failure_after_a_deadline() {
    let port = free_port().await;
    let mut attempts = Attempts::default();
    // Deadlines run out until some attempts were made, however slow the machine is; how
    // fast attempts come is the backoff's schedule (tested in backoff.rs), not this test's.
    let mut deadline = Duration::from_millis(50);
    while attempts.count < 3 {
        let waited = tokio::time::timeout(
            deadline,
            wait_ready_tracked(&tcp(port), &ctx(), &mut attempts),
        )
        .await;
        assert!(waited.is_err(), "nothing listens on {port}");
        deadline *= 2;
    }
    let last = attempts.last_failure.unwrap();
    assert!(
        last.starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
        "{last}"
    );
}

/// A one-connection-at-a-time HTTP server answering every request with `status`, and
/// reporting each request's head on the returned channel.
async fn http_server(status_line: &'static str) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let response = format!("{status_line}\r\nContent-Length: 2\r\n\r\nok");
            let _ = conn.write_all(response.as_bytes()).await;
        }
    });
    (port, rx)
}

fn http(port: u16, path: &str, status: Option<u16>) -> Readiness {
    Readiness::Http {
        url: format!("http://127.0.0.1:{port}{path}"),
        status,
    }
}

#[tokio::test]
async fn http_probe_sends_a_minimal_get_and_accepts_2xx() {
    let (port, mut requests) = http_server("HTTP/1.1 204 No Content").await;
    assert_eq!(
        once(&http(port, "/health?deep=1", None)).await,
        ProbeResult::Ready
    );
    let request = requests
        .recv()
        .await
        .unwrap()
        .replace(&port.to_string(), "PORT");
    insta::assert_snapshot!(request.replace("\r\n", "⏎\n"), @r"
    GET /health?deep=1 HTTP/1.1⏎
    Host: 127.0.0.1:PORT⏎
    User-Agent: teamster-probe⏎
    Accept: */*⏎
    Connection: close⏎
    ⏎
    ");
}

#[tokio::test]
async fn http_probe_compares_the_status() {
    let (port, _requests) = http_server("HTTP/1.1 503 Service Unavailable").await;
    let why = reason(once(&http(port, "", None)).await);
    insta::assert_snapshot!(why, @"http status 503");
    assert_eq!(once(&http(port, "/", Some(503))).await, ProbeResult::Ready);
    let why = reason(once(&http(port, "/", Some(200))).await);
    assert_eq!(why, "http status 503");
}

#[tokio::test]
async fn http_probe_rejects_a_server_that_does_not_speak_http() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        }
    });
    let why = reason(once(&http(port, "/", None)).await);
    insta::assert_snapshot!(why, @r#"malformed http status line "SSH-2.0-OpenSSH_9.6""#);
}

#[tokio::test]
async fn http_probe_of_a_closed_port_is_not_ready() {
    let port = free_port().await;
    let why = reason(once(&http(port, "/", None)).await).replace(&port.to_string(), "PORT");
    insta::assert_snapshot!(why, @"cannot connect to 127.0.0.1:PORT: Connection refused (os error 111)");
}

#[tokio::test]
async fn unix_socket_probe_waits_for_a_listener() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    let condition = Readiness::Socket { path: path.clone() };
    let why = reason(once(&condition).await).replace(&dir.path().display().to_string(), "DIR");
    insta::assert_snapshot!(why, @"cannot connect to DIR/svc.sock: No such file or directory (os error 2)");

    let context = ctx();
    let mut wait = Box::pin(wait_ready(&condition, &context));
    assert_pending(&mut wait).await;
    let _listener = UnixListener::bind(&path).unwrap();
    assert_finishes(wait).await;
}

#[tokio::test]
async fn relative_paths_are_resolved_against_the_probe_directory() {
    let dir = tempfile::tempdir().unwrap();
    let context = ProbeContext {
        cwd: Some(dir.path().to_owned()),
        ..ctx()
    };
    let _listener = UnixListener::bind(dir.path().join("s.sock")).unwrap();
    std::fs::write(dir.path().join("pidfile"), "1").unwrap();
    for condition in [
        Readiness::Socket {
            path: "s.sock".into(),
        },
        Readiness::File {
            path: "pidfile".into(),
        },
    ] {
        let result = probe_once(&condition, &context).await.unwrap();
        assert_eq!(result, ProbeResult::Ready, "{condition}");
    }
}

#[tokio::test]
async fn file_probe_waits_for_a_file_created_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ready.flag");
    let condition = Readiness::File { path: path.clone() };
    let context = ctx();
    let mut wait = Box::pin(wait_ready(&condition, &context));
    assert_pending(&mut wait).await;
    tokio::spawn(async move { tokio::fs::write(&path, b"").await.unwrap() });
    assert_finishes(wait).await;
}

#[tokio::test]
async fn command_probe_is_ready_on_exit_zero_only() {
    assert_eq!(once(&command("true")).await, ProbeResult::Ready);
    let why = reason(once(&command("exit 1")).await);
    insta::assert_snapshot!(why, @"probe command `sh -c 'exit 1'` failed (exit status: 1)");
    let why = reason(
        once(&command(
            "echo to stdout; echo first >&2; echo 'no response' >&2; exit 2",
        ))
        .await,
    );
    insta::assert_snapshot!(why, @"probe command `sh -c 'echo to stdout; echo first >&2; echo '\\''no response'\\'' >&2; exit 2'` failed (exit status: 2): no response");
}

#[tokio::test]
async fn command_probe_that_cannot_start_is_not_ready() {
    let condition = Readiness::Command {
        argv: vec!["/nonexistent/pg_isready".into()],
    };
    let why = reason(once(&condition).await);
    insta::assert_snapshot!(why, @"cannot run probe command `/nonexistent/pg_isready`: No such file or directory (os error 2)");
}

#[tokio::test]
async fn command_probe_runs_in_the_given_env_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker"), "").unwrap();
    let context = ProbeContext {
        env: vec![("PROBE_MODE".into(), "strict".into())],
        inherit_env: true,
        cwd: Some(dir.path().to_owned()),
        user: None,
    };
    let condition = command(r#"test -f marker && test "$PROBE_MODE" = strict && test -n "$PATH""#);
    assert_eq!(
        probe_once(&condition, &context).await.unwrap(),
        ProbeResult::Ready
    );

    // Any variable of the host that a shell does not set by itself shows whether the
    // probe's environment starts from the host's or from nothing.
    let shell_defaults = [
        "PATH", "PWD", "OLDPWD", "IFS", "PS1", "PS2", "PS4", "OPTIND", "PPID", "SHLVL", "_",
    ];
    let host_var = std::env::vars()
        .map(|(name, _)| name)
        .find(|name| {
            !shell_defaults.contains(&name.as_str())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        })
        .expect("the test process has some environment");
    let condition = command(&format!(r#"test -n "${{{host_var}+set}}""#));
    assert_eq!(
        probe_once(&condition, &context).await.unwrap(),
        ProbeResult::Ready
    );

    let isolated = ProbeContext {
        inherit_env: false,
        ..context
    };
    let condition = Readiness::Command {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!(r#"test -z "${{{host_var}+set}}" && test "$PROBE_MODE" = strict"#),
        ],
    };
    assert_eq!(
        probe_once(&condition, &isolated).await.unwrap(),
        ProbeResult::Ready
    );
}

/// A probe that leaves a background process holding its stderr must still count as done
/// when it exits, and the leftover must not survive it.
#[tokio::test]
async fn command_probe_does_not_wait_for_or_leak_background_processes() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    // The leftover never ends by itself: a probe that waited for it would never return.
    let script = format!("sleep 100000 & echo $! > {}; exit 0", pidfile.display());
    assert_eq!(once(&command(&script)).await, ProbeResult::Ready);
    let background: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until_dead(background).await;
}

/// A probe that hangs costs one attempt: it is killed at its time limit, children included.
#[tokio::test]
async fn command_probe_past_its_time_limit_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("probe.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let argv = ["sh".to_owned(), "-c".to_owned(), script];
    let result = super::command::probe_within(&argv, &ctx(), Duration::from_secs(1)).await;
    let why = reason(result).replace(&dir.path().display().to_string(), "DIR");
    insta::assert_snapshot!(why, @"probe command `sh -c 'sleep 30 & echo $! > DIR/probe.pid; wait'` did not finish within 1s and was killed");
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until_dead(grandchild).await;
}

/// Dropping a wait in the middle of a probe command kills the probe's whole process group.
#[tokio::test]
async fn cancelling_a_wait_kills_the_running_probe_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("probe.pid");
    let script = format!(
        "sleep 30 & echo $! > {}.tmp; mv {0}.tmp {0}; wait",
        pidfile.display()
    );
    let condition = command(&script);
    let context = ctx();
    let mut wait = Box::pin(wait_ready(&condition, &context));
    let deadline = Instant::now() + DEADLINE;
    while !pidfile.exists() {
        assert!(Instant::now() < deadline, "the probe never started");
        assert_pending(&mut wait).await;
    }
    drop(wait);
    let grandchild: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until_dead(grandchild).await;
}

async fn wait_until_dead(pid: u32) {
    let deadline = Instant::now() + DEADLINE;
    while crate::process::is_alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} is still alive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn conditions_that_cannot_be_probed_are_errors() {
    let log = Readiness::Log(LogReady {
        pattern: LinePattern::Contains("ready".into()),
        stream: StreamFilter::Stderr,
        nth: 1,
    });
    let long = Path::new("/tmp").join("d".repeat(120)).join("s.sock");
    let conditions = [
        log,
        Readiness::Plugin,
        Readiness::Command { argv: vec![] },
        Readiness::Http {
            url: "https://127.0.0.1/".into(),
            status: None,
        },
        Readiness::Socket { path: long },
    ];
    let mut messages = Vec::new();
    for condition in &conditions {
        let error = probe_once(condition, &ctx()).await.unwrap_err();
        messages.push(error.to_string());
        // The retry loop must fail at once rather than retry an impossible condition.
        let waited = tokio::time::timeout(DEADLINE, wait_ready(condition, &ctx())).await;
        assert!(matches!(waited, Ok(Err(_))), "{condition}");
    }
    insta::assert_snapshot!(messages.join("\n"), @r#"
    log line "ready" on stderr is decided from log lines, not by probing
    plugin ready-check is decided from log lines, not by probing
    the probe command is empty
    unsupported url scheme `https` in `https://127.0.0.1/`: http conditions speak plain http only; use http:// or a tcp condition
    unix socket path /tmp/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/s.sock is 132 bytes long, over the limit of 107; use a shorter directory
    "#);
}

#[tokio::test]
async fn already_serving_reports_a_taken_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("db.sock");
    let _unix = UnixListener::bind(&sock).unwrap();

    let mut found = Vec::new();
    for condition in [
        tcp(port),
        http(port, "/health", None),
        Readiness::Socket { path: sock },
    ] {
        found.push(
            already_serving(&condition)
                .await
                .expect("something is listening"),
        );
    }
    let found = found
        .join("\n")
        .replace(&port.to_string(), "PORT")
        .replace(&dir.path().display().to_string(), "DIR");
    insta::assert_snapshot!(found, @r"
    something is already accepting connections on 127.0.0.1:PORT
    something is already accepting connections on 127.0.0.1:PORT (the address of http://127.0.0.1:PORT/health)
    something is already accepting connections on unix socket DIR/db.sock
    ");
}

#[tokio::test]
async fn already_serving_is_none_for_free_addresses_and_non_network_conditions() {
    let port = free_port().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("exists"), "").unwrap();
    for condition in [
        tcp(port),
        http(port, "/", None),
        Readiness::Socket {
            path: dir.path().join("absent.sock"),
        },
        Readiness::File {
            path: dir.path().join("exists"),
        },
        command("true"),
        Readiness::Plugin,
    ] {
        assert_eq!(already_serving(&condition).await, None, "{condition}");
    }
}
