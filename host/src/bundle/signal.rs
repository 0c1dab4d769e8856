//! Stop signals written as `SIGINT`, `INT`, `int` or a number.
//!
//! People copy signal names from man pages, shell scripts (`kill -INT`) and Dockerfiles
//! (`STOPSIGNAL SIGQUIT`), so every common spelling is accepted and all of them mean the
//! same [`Signal`].

use std::str::FromStr;

use nix::sys::signal::Signal;

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
        "`{}` does not end a process; stop with SIGTERM (the default), SIGINT, SIGQUIT, SIGHUP, SIGUSR1/2 or SIGKILL",
        signal.as_str()
    )]
    DoesNotStop {
        /// The signal.
        signal: Signal,
    },
}

/// Refuses signals whose default action is not to end the process.
fn ends_a_process(signal: Signal) -> Result<Signal, ParseSignalError> {
    match signal {
        Signal::SIGSTOP
        | Signal::SIGTSTP
        | Signal::SIGTTIN
        | Signal::SIGTTOU
        | Signal::SIGCONT
        | Signal::SIGCHLD
        | Signal::SIGURG
        | Signal::SIGWINCH => Err(ParseSignalError::DoesNotStop { signal }),
        other => Ok(other),
    }
}

/// Parses a signal name with or without the `SIG` prefix, in any case.
pub fn parse_signal_name(name: &str) -> Result<Signal, ParseSignalError> {
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
pub fn parse_signal_number(number: i64) -> Result<Signal, ParseSignalError> {
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
            assert_eq!(parse_signal_name(text), Ok(Signal::SIGINT), "{text}");
        }
        assert_eq!(parse_signal_name("quit"), Ok(Signal::SIGQUIT));
        assert_eq!(parse_signal_number(15), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal_number(9), Ok(Signal::SIGKILL));
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
    }
}
