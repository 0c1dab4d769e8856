//! The seam between a service and the client that controls its bundle.
//!
//! A test written in Python may judge readiness with its own callable
//! (`ready = { client = true }`) and run its own setup and poststart code
//! (`client_hooks = [...]`). The host does not run that code: it asks the client that claimed
//! control over the control protocol and waits for the answer. This trait is what the
//! service loop sees; the control server implements it, and a Rust caller may too.

use std::future::Future;
use std::pin::Pin;

use crate::bundle::spec::ClientHook;
use crate::logs::LogLine;

/// A boxed future, as the trait's methods return.
pub type ClientFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'a>>;

/// Why the client gave no verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The client answered with an error: its message is the reason.
    #[error("the controlling client failed it: {0}")]
    Refused(String),
    /// The client went away while the host waited for its answer.
    #[error("the controlling client disconnected while `{service}` waited for its {what}")]
    Disconnected {
        /// The service.
        service: String,
        /// What it waited for: `setup` hook, readiness verdict, ….
        what: String,
    },
    /// No client can answer (a bundle with client readiness started without a control
    /// server).
    #[error("`{service}` needs a controlling client for its {what}, and this bundle has none")]
    NoClient {
        /// The service.
        service: String,
        /// What it needs the client for.
        what: String,
    },
}

/// The client that judges readiness and runs hooks for services that ask for it.
pub trait ClientSide: Send + Sync + std::fmt::Debug {
    /// Whether `line` shows that `service` is ready.
    fn ready_check<'a>(&'a self, service: &'a str, line: &'a LogLine) -> ClientFuture<'a, bool>;
    /// Runs `hook` for `service`, whose main process is `pid` once it has one (the
    /// poststart hook's service always has): the client may ask about that process, and
    /// must not depend on the bundle's events having caught up to learn it.
    fn run_hook<'a>(
        &'a self,
        service: &'a str,
        hook: ClientHook,
        pid: Option<u32>,
    ) -> ClientFuture<'a, ()>;
}

/// What a bundle with no client answers: every question fails with [`ClientError::NoClient`].
#[derive(Debug, Default)]
pub struct NoClient;

impl ClientSide for NoClient {
    fn ready_check<'a>(&'a self, service: &'a str, _line: &'a LogLine) -> ClientFuture<'a, bool> {
        Box::pin(async move {
            Err(ClientError::NoClient {
                service: service.to_owned(),
                what: "readiness verdict".to_owned(),
            })
        })
    }

    fn run_hook<'a>(
        &'a self,
        service: &'a str,
        hook: ClientHook,
        _pid: Option<u32>,
    ) -> ClientFuture<'a, ()> {
        Box::pin(async move {
            Err(ClientError::NoClient {
                service: service.to_owned(),
                what: format!("`{}` hook", hook.as_str()),
            })
        })
    }
}
