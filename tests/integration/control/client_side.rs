//! Readiness verdicts and hooks from the controlling client.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::Conn;
use crate::fixture::{Project, teamster_bin};

/// Starts `teamster up -d --json -` with `bundle` on stdin and returns the child and the
/// socket from its `listening` line; the rest of its output is read by the caller.
fn start_from_stdin(
    p: &Project,
    bundle: &Value,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    std::path::PathBuf,
) {
    let mut child = Command::new(teamster_bin())
        .args(["up", "-d", "--json", "-"])
        .current_dir(p.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(bundle.to_string().as_bytes()).unwrap();
    }
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let listening: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert_eq!(listening["event"], "listening", "{listening}");
    let socket = listening["socket"].as_str().unwrap().into();
    (child, out, socket)
}

fn last_event(out: &mut BufReader<std::process::ChildStdout>) -> Value {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"))
}

#[test]
fn the_client_judges_readiness_line_by_line() {
    let p = Project::new();
    let bundle = json!({
        "services": {
            "web": {
                "command": ["sh", "-c", "echo one; echo two; echo 'listening on 8000'; exec sleep 1000"],
                "ready": {"client": true},
            }
        }
    });
    let (mut child, mut out, socket) = start_from_stdin(&p, &bundle);
    let (mut conn, _) = Conn::open(&socket);
    conn.call("control.claim", json!({})).unwrap();
    let mut seen = Vec::new();
    loop {
        let request = conn.next_other().expect("a request from the host");
        assert_eq!(request["method"], "ready.check", "{request}");
        assert_eq!(request["params"]["service"], "web");
        let text = request["params"]["line"]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        let ready = text.contains("listening");
        seen.push(text);
        conn.answer(&request["id"], json!({"ready": ready}));
        if ready {
            break;
        }
    }
    assert_eq!(seen, ["one", "two", "listening on 8000"]);
    let ready = last_event(&mut out);
    assert_eq!(ready["event"], "ready", "{ready}");
    assert!(child.wait().unwrap().success());
    conn.call("stop", json!({})).unwrap();
    while conn.recv().is_some() {}
}

#[test]
fn a_client_hook_runs_before_the_spawn_and_after_readiness() {
    let p = Project::new();
    let marker = p.file("setup-ran");
    let bundle = json!({
        "services": {
            "web": {
                "command": ["sh", "-c", format!("test -f {} && echo saw-setup; exec sleep 1000", marker.display())],
                "ready": {"log": "saw-setup"},
                "client_hooks": ["setup", "poststart"],
            }
        }
    });
    let (mut child, mut out, socket) = start_from_stdin(&p, &bundle);
    let (mut conn, _) = Conn::open(&socket);
    conn.call("control.claim", json!({})).unwrap();
    let setup = conn.next_other().unwrap();
    assert_eq!(setup["method"], "hook.run");
    assert_eq!(setup["params"], json!({"service": "web", "hook": "setup"}));
    std::fs::write(&marker, "").unwrap();
    conn.answer(&setup["id"], json!({}));
    let poststart = conn.next_other().unwrap();
    assert_eq!(poststart["params"]["hook"], "poststart", "{poststart}");
    // Not ready before poststart answered.
    let status = conn.call("status", json!({})).unwrap();
    assert_eq!(status["phase"], "starting", "{status}");
    // A poststart hook may read its service's logs and stats while the bundle starts.
    let logs = conn.call("logs.query", json!({"service": "web"})).unwrap();
    assert_eq!(logs["lines"][0]["text"], "saw-setup", "{logs}");
    let stats = conn.call("stats", json!({"service": "web"})).unwrap();
    assert_eq!(stats["pid"], status["services"][0]["pid"], "{stats}");
    let missing = conn
        .call("logs.query", json!({"service": "nope"}))
        .unwrap_err();
    assert_eq!(missing["code"], -32010, "{missing}");
    conn.answer(&poststart["id"], json!({}));
    assert_eq!(last_event(&mut out)["event"], "ready");
    assert!(child.wait().unwrap().success());
    conn.call("stop", json!({})).unwrap();
    while conn.recv().is_some() {}
}

#[test]
fn a_hook_error_fails_the_start_with_the_clients_message() {
    let p = Project::new();
    let bundle = json!({"services": {"web": {
        "command": ["sleep", "1000"],
        "client_hooks": ["setup"],
    }}});
    let (mut child, mut out, socket) = start_from_stdin(&p, &bundle);
    let (mut conn, _) = Conn::open(&socket);
    conn.call("control.claim", json!({})).unwrap();
    let setup = conn.next_other().unwrap();
    conn.send(
        &json!({"jsonrpc": "2.0", "id": setup["id"], "error": {"code": 1, "message": "fixtures missing: users.json"}})
            .to_string(),
    );
    let error = last_event(&mut out);
    assert_eq!(error["event"], "error");
    assert_eq!(error["exit_code"], 4);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`web`") && message.contains("fixtures missing: users.json"),
        "{message}"
    );
    assert_eq!(error["services"][0]["service"], "web", "{error}");
    assert_eq!(child.wait().unwrap().code(), Some(4));
}

#[test]
fn a_client_vanishing_mid_hook_fails_that_service_clearly() {
    let p = Project::new();
    let pidfile = p.file("db.pid");
    let bundle = json!({"services": {
        "db": {"command": ["sh", "-c", format!("echo $$ > {}; echo up; exec sleep 1000", pidfile.display())], "ready": {"log": "up"}},
        "web": {"command": ["sleep", "1000"], "needs": ["db"], "client_hooks": ["setup"]},
    }});
    let (mut child, mut out, socket) = start_from_stdin(&p, &bundle);
    let (mut conn, _) = Conn::open(&socket);
    conn.call("control.claim", json!({})).unwrap();
    let setup = conn.next_other().unwrap();
    assert_eq!(setup["params"]["service"], "web");
    drop(conn);
    let error = last_event(&mut out);
    assert_eq!(error["event"], "error", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(
            "the controlling client disconnected while `web` waited for its `setup` hook"
        ),
        "{message}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(4));
    // What had started is stopped.
    let db = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(super::gone_within(db, std::time::Duration::from_secs(10)));
}

#[test]
fn a_failed_start_comes_with_its_details_as_data() {
    let p = Project::new();
    let bundle = json!({"services": {"web": {
        "command": ["sh", "-c", "echo starting; echo 'no config' >&2; exit 3"],
        "ready": {"log": "never"},
    }}});
    let (mut child, mut out, _socket) = start_from_stdin(&p, &bundle);
    let error = last_event(&mut out);
    assert_eq!(error["event"], "error", "{error}");
    assert_eq!(error["exit_code"], 4);
    let web = &error["services"][0];
    assert_eq!(web["service"], "web");
    assert_eq!(web["exit"], json!({"code": 3}), "{error}");
    let mut texts: Vec<&str> = web["last_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    // Lines of two pipes have no order between them.
    texts.sort_unstable();
    assert_eq!(texts, ["no config", "starting"], "{error}");
    assert_eq!(child.wait().unwrap().code(), Some(4));
}
