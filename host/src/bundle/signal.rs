//! Stop signals written as `SIGINT`, `INT`, `int` or a number.
//!
//! People copy signal names from man pages, shell scripts (`kill -INT`) and Dockerfiles
//! (`STOPSIGNAL SIGQUIT`), so every common spelling is accepted and all of them mean the
//! same [`StopSignal`].
//!
//! [`StopSignal`] is the crate's own type so that the public API does not expose `nix`:
//! a user's test names `StopSignal::INT` or parses `"INT"`, and upgrading `nix` is never
//! their breaking change.

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;

/// A signal that asks a service to stop: `SIGTERM` (the default), `SIGINT`, `SIGQUIT`, …
/// Only signals whose default action ends a process are representable.
///
/// ```
/// use teamster::StopSignal;
/// assert_eq!("int".parse::<StopSignal>(), Ok(StopSignal::INT));
/// assert_eq!(StopSignal::QUIT.name(), "SIGQUIT");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StopSignal(Signal);

impl StopSignal {
    /// `SIGTERM`, the default.
    pub const TERM: StopSignal = StopSignal(Signal::SIGTERM);
    /// `SIGINT` (PostgreSQL's fast shutdown, Celery's warm one).
    pub const INT: StopSignal = StopSignal(Signal::SIGINT);
    /// `SIGQUIT` (nginx's graceful stop).
    pub const QUIT: StopSignal = StopSignal(Signal::SIGQUIT);
    /// `SIGHUP`.
    pub const HUP: StopSignal = StopSignal(Signal::SIGHUP);
    /// `SIGUSR1`.
    pub const USR1: StopSignal = StopSignal(Signal::SIGUSR1);
    /// `SIGUSR2`.
    pub const USR2: StopSignal = StopSignal(Signal::SIGUSR2);
    /// `SIGKILL`: no grace at all.
    pub const KILL: StopSignal = StopSignal(Signal::SIGKILL);

    /// Its name, such as `SIGTERM`.
    pub fn name(self) -> &'static str {
        self.0.as_str()
    }

    /// Its number on this platform, such as 15.
    pub fn number(self) -> i32 {
        self.0 as i32
    }
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal::TERM
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StopSignal {
    type Err = ParseSignalError;

    /// A name with or without `SIG`, in any case, or a number.
    fn from_str(text: &str) -> Result<StopSignal, ParseSignalError> {
        match text.trim().parse::<i64>() {
            Ok(number) => parse_signal_number(number),
            Err(_) => parse_signal_name(text),
        }
    }
}

/// Why a stop signal could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSignalError {
    /// No signal has this name.
    #[error(
        "unknown signal `{name}`; write a name such as `SIGTERM`, `INT` or `quit`, or a number"
    )]
    UnknownName {
        /// The name as written.
        name: String,
    },
    /// No signal has this number on this platform.
    #[error("no signal has number {number} on this platform")]
    UnknownNumber {
        /// The number as written.
        number: i64,
    },
    /// The signal exists but does not ask a process to end (by default it is ignored,
    /// stops or continues it), so a graceful stop would only ever end in SIGKILL.
    #[error(
        "`{signal}` does not end a process; stop with SIGTERM (the default), SIGINT, SIGQUIT, SIGHUP, SIGUSR1/2 or SIGKILL"
    )]
    DoesNotStop {
        /// The signal's name, such as `SIGSTOP`.
        signal: &'static str,
    },
}

/// Refuses signals whose default action is not to end the process.
fn ends_a_process(signal: Signal) -> Result<StopSignal, ParseSignalError> {
    match signal {
        Signal::SIGSTOP
        | Signal::SIGTSTP
        | Signal::SIGTTIN
        | Signal::SIGTTOU
        | Signal::SIGCONT
        | Signal::SIGCHLD
        | Signal::SIGURG
        | Signal::SIGWINCH => Err(ParseSignalError::DoesNotStop {
            signal: signal.as_str(),
        }),
        other => Ok(StopSignal(other)),
    }
}

/// Parses a signal name with or without the `SIG` prefix, in any case.
pub fn parse_signal_name(name: &str) -> Result<StopSignal, ParseSignalError> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full)
        .map_err(|_| ParseSignalError::UnknownName {
            name: name.to_owned(),
        })
        .and_then(ends_a_process)
}

/// Parses a signal number such as `15`.
pub fn parse_signal_number(number: i64) -> Result<StopSignal, ParseSignalError> {
    i32::try_from(number)
        .ok()
        .and_then(|n| Signal::try_from(n).ok())
        .ok_or(ParseSignalError::UnknownNumber { number })
        .and_then(ends_a_process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_spelling() {
        for text in ["SIGINT", "INT", "int", "SigInt", " sigint "] {
            assert_eq!(parse_signal_name(text), Ok(StopSignal::INT), "{text}");
        }
        assert_eq!(parse_signal_name("quit"), Ok(StopSignal::QUIT));
        assert_eq!(parse_signal_number(15), Ok(StopSignal::TERM));
        assert_eq!("15".parse::<StopSignal>(), Ok(StopSignal::TERM));
        assert_eq!(parse_signal_number(9), Ok(StopSignal::KILL));
        assert_eq!(StopSignal::INT.to_string(), "SIGINT");
        assert_eq!(StopSignal::INT.number(), 2);
    }

    #[test]
    fn rejects_unknown_signals_with_the_reason() {
        insta::assert_snapshot!(
            parse_signal_name("SIGFOO").unwrap_err(),
            @"unknown signal `SIGFOO`; write a name such as `SIGTERM`, `INT` or `quit`, or a number"
        );
        insta::assert_snapshot!(parse_signal_name("").unwrap_err(), @"unknown signal ``; write a name such as `SIGTERM`, `INT` or `quit`, or a number");
        insta::assert_snapshot!(parse_signal_number(0).unwrap_err(), @"no signal has number 0 on this platform");
        insta::assert_snapshot!(parse_signal_number(4_000_000_000).unwrap_err(), @"no signal has number 4000000000 on this platform");
        insta::assert_snapshot!("stop".parse::<StopSignal>().unwrap_err(), @"`SIGSTOP` does not end a process; stop with SIGTERM (the default), SIGINT, SIGQUIT, SIGHUP, SIGUSR1/2 or SIGKILL");
    }
}
