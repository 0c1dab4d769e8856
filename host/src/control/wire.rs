//! The control protocol's messages: JSON-RPC 2.0 envelopes, one per line.
//!
//! Lines are framed by `tokio_util::codec::LinesCodec` with a bound, so a client that
//! sends a endless line cannot make the host buffer without limit. The envelopes are plain
//! serde types: a message may travel either way (the host asks the controlling client for
//! readiness verdicts), so one `Incoming` type tells requests from responses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this host speaks.
pub const PROTOCOL: u32 = 1;
/// The longest line either side may send.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// Error codes (see `docs/control-protocol.md`).
pub mod code {
    /// Not JSON.
    pub const PARSE: i64 = -32700;
    /// Not a JSON-RPC request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad params.
    pub const INVALID_PARAMS: i64 = -32602;
    /// `hello` first.
    pub const HANDSHAKE_REQUIRED: i64 = -32001;
    /// Unsupported protocol version.
    pub const VERSION: i64 = -32002;
    /// No such service.
    pub const NO_SERVICE: i64 = -32010;
    /// Not while starting.
    pub const STARTING: i64 = -32011;
    /// A wait timed out.
    pub const TIMEOUT: i64 = -32012;
    /// The logs closed first.
    pub const CLOSED: i64 = -32013;
    /// The request failed.
    pub const FAILED: i64 = -32014;
    /// The bundle is stopping.
    pub const STOPPING: i64 = -32015;
    /// Another client has control.
    pub const CONTROLLED: i64 = -32016;
    /// The bundle failed to start.
    pub const START_FAILED: i64 = -32017;
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    /// One of [`code`].
    pub code: i64,
    /// The full message, ready to show.
    pub message: String,
    /// Details, by code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data`.
    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    /// Bad params, from serde's message.
    pub fn params(error: impl std::fmt::Display) -> RpcError {
        RpcError::new(code::INVALID_PARAMS, format!("bad params: {error}"))
    }
}

/// Any message: a request or notification (has `method`) or a response (has `id` and
/// `result` or `error`).
#[derive(Debug, Deserialize)]
pub struct Incoming {
    /// Must be `"2.0"`.
    pub jsonrpc: Option<String>,
    /// The request's id; absent for notifications.
    #[serde(default)]
    pub id: Option<Value>,
    /// The method, for requests and notifications.
    pub method: Option<String>,
    /// The params.
    #[serde(default)]
    pub params: Option<Value>,
    /// A response's result.
    #[serde(default)]
    pub result: Option<Value>,
    /// A response's error.
    #[serde(default)]
    pub error: Option<RpcError>,
}

/// A request, as sent.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// `"2.0"`.
    pub jsonrpc: &'static str,
    /// The id.
    pub id: Value,
    /// The method.
    pub method: &'a str,
    /// The params.
    pub params: Value,
}

impl Request<'_> {
    /// The request as one line (without its `\n`).
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("serializable")
    }
}

/// A success response line.
pub fn result_line(id: &Value, result: Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// An error response line.
pub fn error_line(id: &Value, error: &RpcError) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": error}).to_string()
}

/// A notification line.
pub fn notification_line(method: &str, params: Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// Deserializes a method's params (absent params read as `{}`).
pub fn params<T: serde::de::DeserializeOwned>(params: Option<Value>) -> Result<T, RpcError> {
    let value = match params {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    };
    serde_json::from_value(value).map_err(RpcError::params)
}
