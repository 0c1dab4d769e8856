//! The accept loop and the `smtp-sink` entry point.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::connection;
use super::error::SmtpError;
use super::limits::Limits;
use super::printer::Printer;

/// The start of the line [`run`] prints on stderr once it listens; the address follows.
pub const READY_PREFIX: &str = "smtp-sink listening on ";

/// How long to wait before accepting again after `accept` failed (for example when the
/// process is out of file descriptors), so that the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The readiness line [`run`] prints on stderr: `smtp-sink listening on <addr>`.
pub fn ready_line(addr: SocketAddr) -> String {
    format!("{READY_PREFIX}{addr}")
}

/// Binds `addr`, prints [`ready_line`] with the bound address on stderr (so port `0` shows
/// the port actually chosen), then serves with the default [`Limits`], printing one JSON
/// line per message on stdout. Runs until the output fails; signals are the caller's
/// business.
pub async fn run(addr: SocketAddr) -> Result<(), SmtpError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SmtpError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(SmtpError::LocalAddr)?;
    eprintln!("{}", ready_line(bound));
    serve(listener, std::io::stdout()).await
}

/// Accepts connections on `listener` forever, one task per connection, with the default
/// [`Limits`], and writes one JSON line per received message to `out`.
///
/// Returns only when writing to `out` fails. Dropping the future aborts every connection.
pub async fn serve(
    listener: TcpListener,
    out: impl std::io::Write + Send + 'static,
) -> Result<(), SmtpError> {
    serve_with(listener, out, Limits::default()).await
}

/// [`serve`] with explicit [`Limits`].
pub async fn serve_with(
    listener: TcpListener,
    out: impl std::io::Write + Send + 'static,
    limits: Limits,
) -> Result<(), SmtpError> {
    let (printer, mut output_failed) = Printer::start(out).map_err(SmtpError::Writer)?;
    // The set owns every connection task, so dropping this future aborts them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Every write is a complete reply the client waits for; Nagle's algorithm
                    // could only hold it back. Failing to set it costs speed, not correctness.
                    let _ = stream.set_nodelay(true);
                    let printer = printer.clone();
                    connections.spawn(async move {
                        if let Err(error) = connection::handle(stream, peer, limits, printer).await {
                            eprintln!("smtp-sink: connection from {peer} failed: {error}");
                        }
                    });
                }
                Err(error) => {
                    eprintln!("smtp-sink: cannot accept a connection: {error}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = finished {
                    eprintln!("smtp-sink: a connection task failed: {error}");
                }
            }
            failed = &mut output_failed => {
                let error = failed.unwrap_or_else(|_| {
                    std::io::Error::other("the output thread stopped unexpectedly")
                });
                return Err(SmtpError::Output(error));
            }
        }
    }
}
