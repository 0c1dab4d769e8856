use teamster::service::ServiceState;

use crate::fixture::{Project, free_port};

async fn starts(p: &Project, toml: &str) -> teamster::Running {
    match p.bundle(toml).start().await {
        Ok(r) => r,
        Err(e) => panic!("did not start: {}", teamster::error_chain(&e)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_substring() {
    let p = Project::new();
    let r = starts(&p, "[services.s]\ncommand = \"sh -c 'echo booting; echo server is up; exec sleep 600'\"\nready = { log = \"is up\" }\n").await;
    assert_eq!(r["s"].state(), ServiceState::Ready);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_regex_on_stderr_nth_match() {
    let p = Project::new();
    // Two stdout ticks come first and must not count (stream), nor may the first stderr
    // tick (nth): the service is ready only at the fourth line, which comes last, after
    // pauses, so ignoring either setting makes it ready before "tick 4" exists.
    let r = starts(
        &p,
        r#"
[services.s]
command = ["sh", "-c", "echo tick 1; echo tick 2; sleep 0.3; echo tick 3 >&2; sleep 0.3; echo tick 4 >&2; exec sleep 600"]
ready = { log = { regex = "^tick \\d$", stream = "stderr", nth = 2 } }
"#,
    )
    .await;
    let lines: Vec<String> = r["s"]
        .logs()
        .lines()
        .expect("lines")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert!(
        lines.contains(&"tick 4".to_owned()),
        "ready before the second stderr tick: {lines:?}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connect() {
    let p = Project::new();
    let port = free_port();
    let r = starts(
        &p,
        &format!(
            "[services.s]\ncommand = [\"python3\", \"-c\", \"import socket,time; time.sleep(0.2); s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)\"]\nready = {{ tcp = {port} }}\n"
        ),
    )
    .await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_get() {
    let p = Project::new();
    let port = free_port();
    // The server comes up only after a pause: ready must mean that it answers.
    let r = starts(
        &p,
        &format!(
            "[services.web]\ncommand = \"sh -c 'sleep 0.3; exec python3 -m http.server {port} --bind 127.0.0.1'\"\nready = {{ http = \"http://127.0.0.1:{port}/\" }}\n"
        ),
    )
    .await;
    use std::io::{Read as _, Write as _};
    let mut conn =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("the server answers once ready");
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).expect("reply");
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket() {
    let p = Project::new();
    let sock = p.file("app.sock");
    // The socket file exists 0.3 s before it accepts: ready must mean it accepts.
    let r = starts(
        &p,
        &format!(
            "[services.s]\ncommand = [\"python3\", \"-c\", \"import socket,time; s=socket.socket(socket.AF_UNIX); s.bind('{}'); time.sleep(0.3); s.listen(); time.sleep(600)\"]\nready = {{ socket = \"app.sock\" }}\n",
            sock.display()
        ),
    )
    .await;
    std::os::unix::net::UnixStream::connect(&sock).expect("the socket accepts once ready");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_exists() {
    let p = Project::new();
    let r = starts(&p, "[services.s]\ncommand = \"sh -c 'sleep 0.1; echo $$ > app.pid; exec sleep 600'\"\nready = { file = \"app.pid\" }\n").await;
    assert!(p.file("app.pid").exists());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_command() {
    let p = Project::new();
    let r = starts(
        &p,
        "[services.s]\ncommand = \"sh -c 'sleep 0.2; touch flag; exec sleep 600'\"\nready = { command = \"test -e flag\" }\n",
    )
    .await;
    assert!(p.file("flag").exists());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_readiness_is_ready_at_spawn() {
    let p = Project::new();
    let r = starts(&p, "[services.s]\ncommand = \"sleep 600\"\n").await;
    assert_eq!(r["s"].state(), ServiceState::Ready);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_conditions_all_must_hold() {
    let p = Project::new();
    let port = free_port();
    // The log line comes first, the port only later: ready must wait for both.
    let r = starts(
        &p,
        &format!(
            "[services.s]\ncommand = [\"python3\", \"-u\", \"-c\", \"import socket,time; print('half way'); time.sleep(0.3); s=socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)\"]\nready = [{{ log = \"half way\" }}, {{ tcp = {port} }}]\n"
        ),
    )
    .await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "ready before the port was open"
    );
    r.stop().await;
}
