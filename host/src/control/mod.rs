//! The control protocol: how clients reach a running bundle.
//!
//! Why a protocol at all: a test runner in Python (or any language) must start a bundle,
//! share it between processes, read its logs, wait for lines, run sub-commands, travel in
//! time and stop it, and the state all that needs (plugin instances, the log hub, the
//! clock) lives only in the host process. So the host serves JSON-RPC 2.0 over a unix
//! socket; `docs/control-protocol.md` is the contract, complete enough to write a client
//! from.
//!
//! - [`place`]: where the socket lives (short, private), `host.json`, and the project lock
//!   that allows one bundle per project.
//! - [`wire`]: message framing and envelopes.
//! - [`server`]: the host's side: phases, leases, subscriptions, and the client-side
//!   readiness and hooks of services that leave them to the controlling client.
//! - [`client`]: the side the `teamster` commands use.

pub mod client;
pub mod place;
pub mod server;
pub mod wire;

pub use client::{Client, ControlError, find_host};
pub use place::{HostRecord, spec_hash};
pub use server::{ControlServer, Phase, ServerOptions};
