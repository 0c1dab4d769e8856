//! teamster starts bundles of real services for integration tests, supervises them, and
//! tears them down with nothing left behind.
//!
//! See `ARCHITECTURE.md` at the repository root for how data flows from a bundle file to
//! running services and which module owns what.

pub mod bundle;
pub mod logs;
pub mod plugin;
pub mod service;

pub use bundle::spec::{BundleSpec, ServiceSpec};
