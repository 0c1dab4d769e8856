//! One service's lifecycle: its state machine and its single select loop.

pub mod client;
pub mod hooks;
pub(crate) mod run;
pub mod state;

pub use state::{ExitStatus, ServiceState};
