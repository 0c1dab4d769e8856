//! The errors that stop the sink as a whole.
//!
//! A broken connection never stops the server: it is reported on stderr and the other
//! connections go on. Only failing to listen, or failing to write the output that tests rely
//! on, ends [`super::serve`] or [`super::run`].

use std::net::SocketAddr;

/// Why the SMTP sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The listening socket could not be bound (port taken, bad address, no permission).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket's own address could not be read back.
    #[error("cannot read the address of the listening socket")]
    LocalAddr(#[source] std::io::Error),
    /// The thread that writes the output could not be started.
    #[error("cannot start the thread that writes received mail")]
    Writer(#[source] std::io::Error),
    /// Writing a message's JSON line to the output failed (for example stdout was closed).
    #[error("cannot write received mail to the output")]
    Output(#[source] std::io::Error),
}
