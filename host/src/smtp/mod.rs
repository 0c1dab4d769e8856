//! `smtp-sink`: a mock SMTP server that accepts every message and prints it as one JSON line.
//!
//! Applications under test send mail; integration tests need to see that mail without a real
//! mail transfer agent, a mailbox, or a network. This module is the server side of RFC 5321,
//! just enough for Python's `smtplib` and Django's SMTP backend (and so most clients): it
//! greets, advertises `8BITMIME`, `SMTPUTF8`, `PIPELINING`, `SIZE` and `AUTH PLAIN LOGIN`,
//! accepts any sender, any recipient and any credentials, and for every message it receives
//! it writes one line of JSON ([`Mail`]) on its output, flushed before the client is told the
//! message was accepted. A test that waits for the client's send to return can therefore read
//! the line at once, and a test watching the service's stdout can wait on it with
//! `until_json`.
//!
//! It ships inside the host binary as `teamster smtp-sink --port N [--host 127.0.0.1]`
//! ([`run`]); [`serve`] is the same server on a listener the caller already holds.
//!
//! The layout is one concern per file: [`Limits`] (`limits.rs`), the bounded line reader
//! (`line.rs`), the protocol state machine that never touches a socket (`session.rs`), the
//! per-connection loop (`connection.rs`), the single writer of the output (`printer.rs`), the
//! JSON record (`mail.rs`), link extraction (`links.rs`), and the accept loop (`server.rs`).
//!
//! # Caveats
//! - There is no TLS: `STARTTLS` is answered with `454`, so a client that *requires* TLS fails
//!   (which is what a test should see), and one that merely offers it goes on in clear text.
//! - `AUTH` accepts any user name and password; nothing is checked or recorded.
//! - Dropping the [`serve`] future aborts every connection it spawned; a message whose
//!   `DATA` was not finished by then is not printed.

mod connection;
mod error;
mod limits;
mod line;
mod links;
mod mail;
mod printer;
mod server;
mod session;

pub use error::SmtpError;
pub use limits::Limits;
pub use mail::{Mail, Part, Payload};
pub use server::{READY_PREFIX, ready_line, run, serve, serve_with};

#[cfg(test)]
mod tests;
