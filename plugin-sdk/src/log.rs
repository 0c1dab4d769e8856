//! Messages to the service's log, through the host.
//!
//! The host limits how many bytes a plugin may log per call; a plugin that keeps logging
//! past that is stopped, so log what a user needs to follow progress, not every detail.

use crate::__bindings::teamster::plugin::host::{self, Level};

/// Logs at debug level.
pub fn debug(message: impl AsRef<str>) {
    host::log(Level::Debug, message.as_ref());
}

/// Logs at info level.
pub fn info(message: impl AsRef<str>) {
    host::log(Level::Info, message.as_ref());
}

/// Logs at warning level.
pub fn warn(message: impl AsRef<str>) {
    host::log(Level::Warn, message.as_ref());
}

/// Logs at error level.
pub fn error(message: impl AsRef<str>) {
    host::log(Level::Error, message.as_ref());
}
