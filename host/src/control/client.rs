//! A client of the control protocol, for the `teamster` commands that act on a running
//! bundle (`exec`, `travel`, `now`, `status`, `logs`, `down`, and `up -d` when it attaches).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio_stream::StreamExt as _;
use tokio_util::codec::{FramedRead, LinesCodec};

use super::place::{self, HostRecord};
use super::wire::{self, RpcError};

/// Why a request to a running bundle failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No host runs for this project.
    #[error("no running bundle in {} (start one with `teamster up`)", run_root.display())]
    NotRunning {
        /// The run root looked in.
        run_root: PathBuf,
    },
    /// The host's socket did not answer.
    #[error("the running bundle (pid {pid}) does not answer on {}", socket.display())]
    Connect {
        /// The host's pid.
        pid: u32,
        /// The socket.
        socket: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke or carried something that is not the protocol.
    #[error("the running bundle did not answer properly")]
    Protocol(#[source] std::io::Error),
    /// The host answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// The live host of `run_root`, from its `host.json`, if its lock is held.
pub fn find_host(run_root: &Path) -> Result<HostRecord, ControlError> {
    let not_running = || ControlError::NotRunning {
        run_root: run_root.to_owned(),
    };
    let record = place::read_record(run_root).ok_or_else(not_running)?;
    if !place::host_running(run_root) {
        return Err(not_running());
    }
    Ok(record)
}

/// A connection that has said `hello`.
#[derive(Debug)]
pub struct Client {
    lines: FramedRead<OwnedReadHalf, LinesCodec>,
    write: OwnedWriteHalf,
    next_id: u64,
    /// The host's `hello` result.
    pub hello: Value,
    /// Notifications that arrived while a call waited for its reply.
    queued: std::collections::VecDeque<(String, Value)>,
}

impl Client {
    /// Connects to the host described by `record` and says `hello`.
    pub async fn connect(record: &HostRecord) -> Result<Client, ControlError> {
        let stream = UnixStream::connect(&record.socket)
            .await
            .map_err(|source| ControlError::Connect {
                pid: record.pid,
                socket: record.socket.clone(),
                source,
            })?;
        let (read, write) = stream.into_split();
        let mut client = Client {
            lines: FramedRead::new(read, LinesCodec::new_with_max_length(wire::MAX_LINE)),
            write,
            next_id: 1,
            hello: Value::Null,
            queued: Default::default(),
        };
        client.hello = client
            .call(
                "hello",
                json!({"protocol": wire::PROTOCOL, "client": "teamster-cli"}),
            )
            .await?;
        Ok(client)
    }

    /// Sends a request and waits for its reply; notifications meanwhile are queued.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ControlError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = wire::Request {
            jsonrpc: "2.0",
            id: json!(id),
            method,
            params,
        }
        .line();
        self.send(line).await?;
        loop {
            let message = self.read().await?.ok_or_else(|| {
                ControlError::Protocol(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the connection closed before the reply to `{method}`"),
                ))
            })?;
            if let Some(note) = message.method {
                self.queued
                    .push_back((note, message.params.unwrap_or(Value::Null)));
                continue;
            }
            if message.id.as_ref().and_then(Value::as_u64) != Some(id) {
                continue;
            }
            return match (message.result, message.error) {
                (_, Some(error)) => Err(ControlError::Rpc(error)),
                (Some(result), None) => Ok(result),
                (None, None) => Ok(Value::Null),
            };
        }
    }

    /// The next notification (`logs.line`, …); `None` once the host closed the connection.
    pub async fn notification(&mut self) -> Result<Option<(String, Value)>, ControlError> {
        if let Some(note) = self.queued.pop_front() {
            return Ok(Some(note));
        }
        loop {
            let Some(message) = self.read().await? else {
                return Ok(None);
            };
            if let Some(method) = message.method {
                return Ok(Some((method, message.params.unwrap_or(Value::Null))));
            }
        }
    }

    /// Waits until the host closes the connection (it exits after `stop`).
    pub async fn closed(&mut self) {
        while let Ok(Some(_)) = self.read().await {}
    }

    async fn send(&mut self, mut line: String) -> Result<(), ControlError> {
        line.push('\n');
        self.write
            .write_all(line.as_bytes())
            .await
            .map_err(ControlError::Protocol)
    }

    async fn read(&mut self) -> Result<Option<wire::Incoming>, ControlError> {
        match self.lines.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(ControlError::Protocol(std::io::Error::other(e))),
            Some(Ok(text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| ControlError::Protocol(std::io::Error::other(e))),
        }
    }
}
