//! Bounds that keep one misbehaving client from exhausting the host's memory or a
//! connection slot forever.

use std::time::Duration;

/// Limits applied to every connection of the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes after dot-unstuffing. Advertised with `SIZE`.
    pub max_message_bytes: usize,
    /// Longest command line, terminator included. RFC 5321 asks for at least 512; extensions
    /// such as `SMTPUTF8` and long `MAIL FROM` parameters make more worth allowing.
    pub max_command_line: usize,
    /// Most recipients in one transaction (RFC 5321 asks servers to take at least 100).
    pub max_recipients: usize,
    /// How long a client may stay silent before the server says goodbye with `421`.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024 * 1024,
            max_command_line: 4096,
            max_recipients: 1000,
            // RFC 5321 section 4.5.3.2.7 suggests five minutes for the server's timeout.
            idle_timeout: Duration::from_secs(300),
        }
    }
}
