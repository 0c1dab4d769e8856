//! The control protocol and the commands on top of it: detached hosts, leases, the
//! handshake, every method, client-side readiness and hooks, one bundle per project.

mod client_side;
mod foreground;
mod kernel;
mod leases;
mod project;
mod protocol;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::Project;
pub use crate::fixture::{gone_within, teamster_in as teamster};

/// A blocking client of the protocol, as a test in any language would write one.
pub struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// Messages that were not the reply awaited: notifications and the host's requests.
    pub other: std::collections::VecDeque<Value>,
}

impl Conn {
    pub fn connect(socket: &Path) -> Conn {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Conn {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
            next_id: 1,
            other: Default::default(),
        }
    }

    /// Connects and says hello; returns the connection and the hello result.
    pub fn open(socket: &Path) -> (Conn, Value) {
        let mut conn = Conn::connect(socket);
        let hello = conn
            .call("hello", json!({"protocol": 1, "client": "test"}))
            .expect("hello");
        (conn, hello)
    }

    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
    }

    /// The next message, or `None` at EOF.
    pub fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("the host sends JSON lines")),
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Sends a request; returns its result or its error object.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        loop {
            let message = self
                .recv()
                .unwrap_or_else(|| panic!("connection closed before the reply to {method}"));
            if message["id"] == json!(id) && message.get("method").is_none() {
                if let Some(error) = message.get("error") {
                    return Err(error.clone());
                }
                return Ok(message["result"].clone());
            }
            self.other.push_back(message);
        }
    }

    /// The next message that is not a reply (queued ones first).
    pub fn next_other(&mut self) -> Option<Value> {
        if let Some(m) = self.other.pop_front() {
            return Some(m);
        }
        self.recv()
    }

    /// Answers one of the host's requests.
    pub fn answer(&mut self, id: &Value, result: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string());
    }
}

/// Runs `teamster <args>` in `dir` with `stdin` and returns its output.
pub fn up_detached(dir: &Path, extra: &[&str], stdin: Option<&str>) -> Value {
    let mut args = vec!["up", "-d", "--json"];
    args.extend_from_slice(extra);
    let out = teamster(dir, &args, stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "up -d failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a ready line");
    let ready: Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(ready["event"], "ready", "{stdout}");
    ready
}

/// Stops the detached bundle of a project when dropped (a failed test leaves nothing).
pub struct Detached {
    pub dir: PathBuf,
    pub ready: Value,
}

impl Detached {
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(self.ready["socket"].as_str().expect("socket"))
    }

    pub fn pid(&self) -> u32 {
        self.ready["pid"].as_u64().expect("pid") as u32
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let _ = teamster(&self.dir, &["down"], None);
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Writes `toml` as the project's bundle and starts it detached with `extra` flags.
pub fn start(project: &Project, toml: &str, extra: &[&str]) -> Detached {
    project.bundle_file(toml);
    let ready = up_detached(project.path(), extra, None);
    Detached {
        dir: project.path().to_owned(),
        ready,
    }
}

/// Waits (bounded) for a process to be gone.
pub const TWO: &str = r#"
[services.a]
command = ["sh", "-c", "echo hello; echo '{\"event\": \"up\", \"n\": 1}'; echo oops >&2; exec sleep 1000"]
ready = { log = "hello" }

[services.b]
command = ["sh", "-c", "echo b-ready; exec sleep 1000"]
needs = ["a"]
"#;
