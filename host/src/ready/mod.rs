//! Readiness probes: how the host decides that a service it spawned can take traffic.
//!
//! A service is ready when every one of its [`Readiness`](crate::bundle::spec::Readiness)
//! conditions holds. The conditions split into two families that need different machinery:
//!
//! - **Log conditions** are event-driven. Every captured line is offered to a
//!   [`LogMatcher`], which answers in constant work per line, so readiness is noticed the
//!   moment the line is read from the pipe rather than at the next polling tick.
//! - **Probe conditions** (TCP, HTTP, unix socket, file, probe command) look at the world from
//!   outside. [`probe_once`] makes one bounded attempt, and [`wait_ready`] repeats it with a
//!   short exponential [`Backoff`] until it succeeds.
//!
//! Plugin `ready-check` conditions are neither: they are log-driven but need the plugin
//! instance, so the service loop feeds lines to its hooks itself. [`probe_once`] rejects them
//! (and log conditions) with [`ProbeError::NotAProbe`] instead of guessing.
//!
//! [`already_serving`] answers a different question before a service starts: is something
//! else already holding the address this service is about to listen on?
//!
//! # Caveats
//!
//! - [`wait_ready`] never gives up on its own: the bundle's startup deadline is the caller's,
//!   applied by wrapping the future in a timeout. Dropping the future cancels it; a probe
//!   command still running at that moment is killed together with its process group.
//! - Errors ([`ProbeError`]) mean the condition can never hold as written (an `https://` URL,
//!   an empty probe command). Everything that may change with time is a
//!   [`ProbeResult::NotYet`] with a reason, which callers should show when the deadline passes.

mod backoff;
mod command;
mod http;
mod log;
mod probe;

pub use backoff::Backoff;
pub use log::LogMatcher;
pub use probe::{
    Attempts, ProbeContext, ProbeError, ProbeResult, already_serving, probe_once, wait_ready,
    wait_ready_tracked,
};

#[cfg(test)]
mod tests;
