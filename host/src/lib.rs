//! teamster starts bundles of real services for integration tests, supervises them, and
//! tears them down with nothing left behind.
//!
//! See `ARCHITECTURE.md` at the repository root for how data flows from a bundle file to
//! running services and which module owns what.

// Where services run: the launch seam and its local implementation (see docs/backends.md).
mod backend;
pub mod blocking;
pub mod bundle;
// The binary's command line and the supervisor processes it becomes: public only because
// the `teamster` binary is a separate crate target; not part of the library's API.
#[doc(hidden)]
pub mod cli;
pub mod clock;
pub mod control;
pub mod kernel;
pub mod logs;
pub mod orchestrator;
pub mod plugin;
pub mod ports;
pub mod process;
pub mod ready;
pub mod service;
pub mod smtp;
#[doc(hidden)]
pub mod supervisor;
mod text;
pub mod timeline;

#[cfg(test)]
mod proptests;

// What a test needs, at the crate root: start a bundle, wait on its logs, travel in time,
// and read what went wrong.
pub use bundle::signal::StopSignal;
pub use bundle::spec::{BundleSpec, ClockKind, Readiness, ServiceSpec};
pub use bundle::{BundleBuilder, BundleError, ServiceBuilder};
pub use clock::{Travel, TravelParseError, TravelReport};
pub use kernel::{KernelConnection, KernelError};
pub use logs::{ConsoleMode, LogLine, LogWaitError, Logs, Stream, json_where, line_where};
pub use orchestrator::{
    Bundle, CrashReport, Event, EventStream, KillSwitch, Running, ServiceHandle, ServiceReport,
    StartError, Subcommand, SubcommandError, TravelError,
};
pub use service::{ExitStatus, ServiceState};

#[cfg(test)]
mod test_support;

/// Formats an error with its whole chain of causes: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
