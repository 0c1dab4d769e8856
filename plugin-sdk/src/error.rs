use std::fmt;

/// An error a plugin reports to the host. Its text is shown to the user as is, so write it
/// like a sentence fragment: what failed and, if possible, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The error for a sub-command this kind does not offer.
    pub fn unknown_subcommand(name: &str) -> Self {
        Error::msg(format!("unknown sub-command `{name}`"))
    }

    /// Prefixes the message with what was being done: `context: message`.
    #[must_use]
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::msg(format!("{context}: {}", self.message))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::msg(message)
    }
}

/// Without the path, which `std::io::Error` does not carry; [`crate::fs`] names it, and
/// says when it is outside the sandbox.
impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::msg(crate::fs::reason(&err))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::msg(err.to_string())
    }
}
