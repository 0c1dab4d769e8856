//! One client connection: reads lines, lets the [`Session`] answer them, reads message
//! bodies, and hands each finished message to the [`Printer`].
//!
//! Replies are collected and sent only when the client has nothing more buffered. That is
//! what `PIPELINING` (RFC 2920) allows, and it keeps a pipelining client's batch of
//! commands to one write of replies rather than one per command.

use std::net::SocketAddr;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::limits::Limits;
use super::line::{LineRead, read_line};
use super::mail::Mail;
use super::printer::Printer;
use super::session::{Envelope, Next, Reply, Session};

/// How a message body ended.
#[derive(Debug)]
enum Body {
    /// The lone `.` line arrived; the body is dot-unstuffed with CRLF line ends.
    Complete(Vec<u8>),
    /// The lone `.` line arrived, but the body was over [`Limits::max_message_bytes`].
    TooBig,
    /// The client went away in the middle of the body.
    Closed,
    /// The client stayed silent for [`Limits::idle_timeout`] in the middle of the body.
    Idle,
}

/// Serves one connection until the client quits, closes, or idles out.
pub(crate) async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    limits: Limits,
    printer: Printer,
) -> std::io::Result<()> {
    let (read_half, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read_half);
    let mut session = Session::new(limits);
    let mut pending = Vec::new();
    let mut line = Vec::new();
    Session::greeting().write_to(&mut pending);
    loop {
        if reader.buffer().is_empty() && !pending.is_empty() {
            writer.write_all(&pending).await?;
            pending.clear();
        }
        let read = timeout(
            limits.idle_timeout,
            read_line(&mut reader, &mut line, limits.max_command_line),
        )
        .await;
        let next = match read {
            Err(_elapsed) => Next::Close(Session::idle_timeout()),
            Ok(read) => match read? {
                LineRead::Eof => return Ok(()),
                LineRead::TooLong => Next::Reply(Session::line_too_long()),
                LineRead::Line => session.line(&line),
            },
        };
        match next {
            Next::Reply(reply) => reply.write_to(&mut pending),
            Next::Close(reply) => {
                reply.write_to(&mut pending);
                writer.write_all(&pending).await?;
                // The client may already have closed its side; there is nothing left to say.
                let _ = writer.shutdown().await;
                return Ok(());
            }
            Next::Data { reply, envelope } => {
                reply.write_to(&mut pending);
                writer.write_all(&pending).await?;
                pending.clear();
                let reply = match read_body(&mut reader, &limits).await? {
                    Body::Complete(raw) => deliver(envelope, raw, peer, &printer).await,
                    Body::TooBig => {
                        Reply::new(552, "message size exceeds fixed maximum message size")
                    }
                    Body::Closed => return Ok(()),
                    Body::Idle => {
                        let mut farewell = Vec::new();
                        Session::idle_timeout().write_to(&mut farewell);
                        writer.write_all(&farewell).await?;
                        return Ok(());
                    }
                };
                reply.write_to(&mut pending);
            }
        }
    }
}

/// Reads a message body up to the line holding a lone `.`, undoing dot-stuffing (RFC 5321
/// section 4.5.2) and keeping no more than the size limit in memory. An oversized body is
/// still read to its end so the connection stays in step and the client gets a `552`.
async fn read_body(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    limits: &Limits,
) -> std::io::Result<Body> {
    let mut body = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        // A line may hold what is left of the allowance plus its CRLF and a stuffed dot.
        let line_limit = if too_big {
            limits.max_command_line
        } else {
            limits.max_message_bytes - body.len() + 3
        };
        let read = match timeout(
            limits.idle_timeout,
            read_line(reader, &mut line, line_limit),
        )
        .await
        {
            Err(_elapsed) => return Ok(Body::Idle),
            Ok(read) => read?,
        };
        match read {
            LineRead::Eof => return Ok(Body::Closed),
            LineRead::TooLong => {
                too_big = true;
                body = Vec::new();
            }
            LineRead::Line if line == b"." => {
                return Ok(if too_big {
                    Body::TooBig
                } else {
                    Body::Complete(body)
                });
            }
            LineRead::Line if too_big => {}
            LineRead::Line => {
                let text = line.strip_prefix(b".").unwrap_or(&line);
                if body.len() + text.len() + 2 > limits.max_message_bytes {
                    too_big = true;
                    body = Vec::new();
                } else {
                    body.extend_from_slice(text);
                    body.extend_from_slice(b"\r\n");
                }
            }
        }
    }
}

/// Parses and prints one message, and says how to answer the client.
async fn deliver(envelope: Envelope, raw: Vec<u8>, peer: SocketAddr, printer: &Printer) -> Reply {
    // Parsing a large MIME message is real CPU work; keep it off the runtime's workers.
    let encoded = tokio::task::spawn_blocking(move || {
        serde_json::to_string(&Mail::from_message(envelope.from, envelope.to, &raw))
    })
    .await;
    let line = match encoded {
        Ok(Ok(line)) => line,
        Ok(Err(error)) => {
            eprintln!("smtp-sink: cannot encode a message from {peer} as JSON: {error}");
            return Reply::new(451, "local error in processing");
        }
        Err(error) => {
            eprintln!("smtp-sink: parsing a message from {peer} failed: {error}");
            return Reply::new(451, "local error in processing");
        }
    };
    match printer.print(line).await {
        Ok(()) => Reply::new(250, "OK: message accepted"),
        Err(_closed) => Reply::new(451, "local error: the sink's output is closed"),
    }
}
