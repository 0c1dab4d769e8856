//! teamster starts bundles of real services for integration tests, supervises them, and
//! tears them down with nothing left behind.
//!
//! See `ARCHITECTURE.md` at the repository root for how data flows from a bundle file to
//! running services and which module owns what.

pub mod bundle;
pub mod cli;
pub mod clock;
pub mod control;
pub mod logs;
pub mod orchestrator;
pub mod plugin;
pub mod ports;
pub mod process;
pub mod ready;
pub mod service;
pub mod smtp;
pub mod supervisor;

#[cfg(test)]
mod proptests;

pub use bundle::spec::{BundleSpec, ServiceSpec};
pub use orchestrator::{Bundle, Event, Running, ServiceHandle, StartError};

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
