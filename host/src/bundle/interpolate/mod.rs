//! `${service.key}` references in bundle values.
//!
//! A service rarely knows in advance where the services it needs will listen: a Postgres
//! plugin picks a port and a database name, a command service declares its URL in its
//! `connection` table. Dependents therefore write references instead of copies, such as
//! `DATABASE_URL = "${db.url}"`, and teamster fills them in right before it spawns the
//! dependent, when everything it needs is ready and has published its connection info.
//!
//! References may appear in `env` values, in the words of `command` and in the values of a
//! command service's own `connection` table. Three namespaces exist:
//!
//! - `${db.url}`: key `url` of the connection info of service `db`;
//! - `${self.port}`: key `port` of this service's own `connection` table, so that a port is
//!   written once and used in the command, the environment and the URL it publishes;
//! - `${env.HOME}`: variable `HOME` of the environment teamster itself runs in.
//!
//! `$${` is a literal `${`; every other `$` is itself, so `$HOME` passes through to a shell
//! untouched.
//!
//! The work is split between load time and start time. Loading parses every value, reports
//! malformed references, unknown services, keys missing from a static `connection` table
//! and cycles, each at its line and column, and adds every referenced service to the
//! referring service's `needs` (an *implied need*), so that the orchestrator waits for it
//! with no extra rule. At start time [`ServiceSpec::interpolated`] resolves the references
//! against the connection info the orchestrator collected; only keys of plugin services,
//! which are unknown until the plugin answers, and unset host variables can fail there.
//!
//! # Caveats
//!
//! - `${env.…}` reads teamster's environment when the service starts, not when the file is
//!   loaded, and an unset variable is an error rather than an empty string.
//! - A service called `env` or `self` can be started and needed, but not referenced: those
//!   names always mean the namespaces above.
//! - `directory` takes no references: it is made absolute at load time, long before the
//!   values are known.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use super::error::{BundleError, closest};
use super::spec::{BundleSpec, ServiceSpec};
use super::validate::{Locate, Site};
use crate::text::{backticked, did_you_mean};

mod check;
mod places;
mod resolve;
mod template;
#[cfg(test)]
mod tests;

pub use check::*;
pub use places::*;
pub use resolve::*;
pub use template::*;
