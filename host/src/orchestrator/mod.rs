//! Starting and stopping a bundle's DAG of services, deadlines, and the event stream.

pub(crate) mod clock;
pub mod error;
pub mod event;
pub mod kinds;
pub mod run_dir;
mod running;
mod spares;
mod start;
pub mod subcommand;

pub use clock::TravelError;
pub use error::{CrashReport, ServiceReport, StartError};
pub use event::{Event, EventStream};
pub use running::{KillSwitch, Running, ServiceHandle};
pub use start::{Bundle, DEFAULT_MAX_LINE_LEN};
pub use subcommand::{ExecSpec, Subcommand, SubcommandError};
