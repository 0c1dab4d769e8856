//! One probe attempt per condition kind, the retry loop around it, and the pre-start check.
//!
//! Each attempt is bounded by its own short timeout, so a probe that hangs (a server that
//! accepts but never answers, a probe command that blocks) costs one attempt, not the whole
//! startup deadline, and the retry loop keeps making progress.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

use super::backoff::Backoff;
use super::{command, http};
use crate::bundle::spec::Readiness;

/// The bound on one TCP connect attempt.
const TCP_TIMEOUT: Duration = Duration::from_secs(1);
/// The bound on one unix socket connect attempt.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(1);
/// The bound on the pre-start check: it runs for every service, so it must be quick, and a
/// local listener answers a connect in microseconds.
const ALREADY_SERVING_TIMEOUT: Duration = Duration::from_millis(200);
/// The longest unix socket path the kernel accepts (`sun_path` is 108 bytes, NUL included).
const MAX_SOCKET_PATH: usize = 107;

/// What a probe command needs to run as the service would: its final environment, working
/// directory and user.
#[derive(Debug, Clone, Default)]
pub struct ProbeContext {
    /// Variables set for the probe command, after interpolation, in order.
    pub env: Vec<(String, String)>,
    /// Whether the probe command starts from the host's environment (`true`) or an empty one.
    pub inherit_env: bool,
    /// The working directory of probe commands, and the base of relative file and socket
    /// paths; `None` means the host's current directory.
    pub cwd: Option<PathBuf>,
    /// The service's user: probe commands run as it when the host is root, so that they see
    /// the files, sockets and permissions the service sees (`None`: the host's user).
    pub user: Option<String>,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// The condition holds.
    Ready,
    /// The condition does not hold yet; `reason` says what was seen, for timeout messages.
    NotYet {
        /// What the attempt saw, e.g. `connection refused`.
        reason: String,
    },
}

impl ProbeResult {
    pub(crate) fn not_yet(reason: impl Into<String>) -> Self {
        ProbeResult::NotYet {
            reason: reason.into(),
        }
    }
}

/// A condition that can never be satisfied by probing, whatever the service does.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Log and plugin conditions are decided from log lines by the service loop.
    #[error("{condition} is decided from log lines, not by probing")]
    NotAProbe {
        /// The condition, as displayed to users.
        condition: String,
    },
    /// The URL of an HTTP condition uses a scheme other than `http`.
    #[error(
        "unsupported url scheme `{scheme}` in `{url}`: http conditions speak plain http only; use http:// or a tcp condition"
    )]
    UnsupportedScheme {
        /// The URL as written.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL of an HTTP condition cannot be parsed.
    #[error("invalid http url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A probe command with no program.
    #[error("the probe command is empty")]
    EmptyCommand,
    /// A unix socket path the kernel cannot connect to, however long we wait.
    #[error(
        "unix socket path {} is {len} bytes long, over the limit of {MAX_SOCKET_PATH}; use a shorter directory",
        path.display()
    )]
    SocketPathTooLong {
        /// The path, resolved against the probe's working directory.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
}

/// Progress of a [`wait_ready_tracked`] loop, readable after the future is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    /// How many attempts were started.
    pub count: u32,
    /// Why the last finished attempt did not succeed, if one did not.
    pub last_failure: Option<String>,
}

/// Makes one bounded attempt at `condition`.
///
/// Returns [`ProbeError`] only for conditions that cannot succeed as written; everything that
/// might change with time is a [`ProbeResult::NotYet`].
pub async fn probe_once(
    condition: &Readiness,
    ctx: &ProbeContext,
) -> Result<ProbeResult, ProbeError> {
    Ok(match condition {
        Readiness::Log(_) | Readiness::Plugin | Readiness::Client => {
            return Err(ProbeError::NotAProbe {
                condition: condition.to_string(),
            });
        }
        Readiness::Tcp { host, port } => tcp(host, *port).await,
        Readiness::Http { url, status } => http::probe(&http::HttpUrl::parse(url)?, *status).await,
        Readiness::Socket { path } => unix_socket(&socket_path(path, ctx)?).await,
        Readiness::File { path } => file(&resolve(path, ctx)).await,
        Readiness::Command { argv } => {
            if argv.is_empty() {
                return Err(ProbeError::EmptyCommand);
            }
            command::probe(argv, ctx).await
        }
    })
}

/// Probes `condition` until it holds, waiting 1 ms, 2 ms, 4 ms, … up to 100 ms between
/// attempts.
///
/// Never gives up by itself: wrap it in `tokio::time::timeout` for a deadline, or use
/// [`wait_ready_tracked`] to learn why the condition did not hold when the deadline passed.
/// Cancel-safe: dropping the future abandons the attempt in flight and kills its probe
/// command, if any.
pub async fn wait_ready(condition: &Readiness, ctx: &ProbeContext) -> Result<(), ProbeError> {
    wait_ready_tracked(condition, ctx, &mut Attempts::default()).await
}

/// [`wait_ready`], recording each attempt in `attempts` so a caller whose deadline passed can
/// report how many attempts were made and why the last one failed.
pub async fn wait_ready_tracked(
    condition: &Readiness,
    ctx: &ProbeContext,
    attempts: &mut Attempts,
) -> Result<(), ProbeError> {
    let mut backoff = Backoff::new();
    loop {
        attempts.count += 1;
        match probe_once(condition, ctx).await? {
            ProbeResult::Ready => return Ok(()),
            ProbeResult::NotYet { reason } => attempts.last_failure = Some(reason),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Checks, before a service starts, whether something already answers where the service is
/// expected to listen; returns a description of what answered.
///
/// Only TCP, HTTP and unix socket conditions are checked (an HTTP condition by a TCP connect
/// to its host and port: whatever holds that port will keep the service from binding it). One
/// attempt of at most 200 ms, no retry. Relative socket paths are taken relative to the
/// host's current directory.
pub async fn already_serving(condition: &Readiness) -> Option<String> {
    let connect = async {
        match condition {
            Readiness::Tcp { host, port } => TcpStream::connect((host.as_str(), *port))
                .await
                .ok()
                .map(|_| format!("something is already accepting connections on {host}:{port}")),
            Readiness::Http { url, .. } => {
                let parsed = http::HttpUrl::parse(url).ok()?;
                TcpStream::connect((parsed.host.as_str(), parsed.port))
                    .await
                    .ok()
                    .map(|_| {
                        format!(
                            "something is already accepting connections on {}:{} (the address of {url})",
                            parsed.host, parsed.port
                        )
                    })
            }
            Readiness::Socket { path } => UnixStream::connect(path).await.ok().map(|_| {
                format!(
                    "something is already accepting connections on unix socket {}",
                    path.display()
                )
            }),
            Readiness::Log(_)
            | Readiness::File { .. }
            | Readiness::Command { .. }
            | Readiness::Plugin
            | Readiness::Client => None,
        }
    };
    tokio::time::timeout(ALREADY_SERVING_TIMEOUT, connect)
        .await
        .ok()
        .flatten()
}

async fn tcp(host: &str, port: u16) -> ProbeResult {
    match tokio::time::timeout(TCP_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => ProbeResult::Ready,
        Ok(Err(e)) => ProbeResult::not_yet(format!("cannot connect to {host}:{port}: {e}")),
        Err(_) => ProbeResult::not_yet(format!(
            "connecting to {host}:{port} took over {}s",
            TCP_TIMEOUT.as_secs()
        )),
    }
}

async fn unix_socket(path: &Path) -> ProbeResult {
    match tokio::time::timeout(SOCKET_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Ok(_)) => ProbeResult::Ready,
        Ok(Err(e)) => ProbeResult::not_yet(format!("cannot connect to {}: {e}", path.display())),
        Err(_) => ProbeResult::not_yet(format!(
            "connecting to {} took over {}s",
            path.display(),
            SOCKET_TIMEOUT.as_secs()
        )),
    }
}

async fn file(path: &Path) -> ProbeResult {
    match tokio::fs::try_exists(path).await {
        Ok(true) => ProbeResult::Ready,
        Ok(false) => ProbeResult::not_yet(format!("{} does not exist yet", path.display())),
        Err(e) => ProbeResult::not_yet(format!(
            "cannot check whether {} exists: {e}",
            path.display()
        )),
    }
}

/// Resolves a condition's path against the probe's working directory.
fn resolve(path: &Path, ctx: &ProbeContext) -> PathBuf {
    match &ctx.cwd {
        Some(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_owned(),
    }
}

/// Resolves a socket path and rejects one the kernel would refuse with `EINVAL` forever.
fn socket_path(path: &Path, ctx: &ProbeContext) -> Result<PathBuf, ProbeError> {
    let resolved = resolve(path, ctx);
    let len = resolved.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ProbeError::SocketPathTooLong {
            path: resolved,
            len,
        });
    }
    Ok(resolved)
}
