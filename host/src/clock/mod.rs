//! Time travel: one clock per bundle, shared by every service started with
//! `faketime = true`.
//!
//! Tests of time-dependent behaviour (expiry, billing periods, "remind me in 30 days")
//! need every process of a bundle to agree on a clock that can jump while they run. The
//! [`Clock`] keeps an offset from the real time and hands out the environment that makes a
//! service follow it. Only the realtime clocks move; monotonic clocks stay real, so
//! timeouts, sleeps and event loops keep their real durations across any jump.
//!
//! Two injectors exist ([`ClockKind`]):
//! - **Preload** (default): teamster's own `libteamster_clock.so` (crate `teamster-clock`)
//!   maps the run's clock file and adds its offset on every realtime clock read. A travel
//!   is one atomic store, seen by the next clock call of every process, at a cost of a few
//!   nanoseconds per call. It cannot deadlock allocators because its hooks never call
//!   `dlsym` or allocate.
//! - **Libfaketime**: the system's libfaketime driven by a timestamp file; see
//!   [`libfaketime`] for why it is not the default.
//!
//! Neither can fake statically linked or Go programs; [`static_binary_warning`] spots them
//! so the orchestrator can say so at start. `docs/time-travel.md` has the user-facing
//! story.

mod elf;
mod error;
mod file;
mod handle;
#[path = "../../../clock/src/layout.rs"]
mod layout;
pub mod libfaketime;
pub mod preload;
mod travel;

pub use crate::bundle::spec::ClockKind;
pub use elf::static_binary_warning;
pub use error::ClockError;
pub use file::ClockFile;
pub use handle::{Clock, FAKETIME_FILE_NAME, PRELOAD_FILE_NAME, TravelReport, merge_ld_preload};
pub use layout::ENV_VAR as CLOCK_FILE_ENV;
pub use preload::find_preload_library;
pub use travel::{Travel, TravelParseError, format_offset};

#[cfg(test)]
mod tests;
