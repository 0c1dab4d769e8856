//! The timeline of a run: every phase every service went through, and when.
//!
//! A slow or failed start is easier to see than to read out of hundreds of log lines.
//! The orchestrator records each phase transition of each service ([`Phase`]) with a
//! monotonic timestamp (milliseconds since the run started) into a [`Recorder`], which keeps
//! them in memory and appends them to `<run>/events.jsonl` only at quiet moments (the end
//! of the start, a failure, the end of the stop): the start never waits on the disk.
//!
//! The file alone is enough to draw the run: [`Timeline::from_entries`] turns it into one
//! row of phase spans per service, [`Timeline::critical_chain`] follows the `needs` that
//! made the bundle slow, and [`Timeline::text`] and [`Timeline::svg`] draw it.
//!
//! # Caveats
//! Entries reach the file when the start ends and when the bundle has stopped; a host that
//! is killed in between leaves only what was flushed before. A running host's timeline is
//! complete through [`Running::timeline`](crate::Running::timeline) and the control
//! protocol's `timeline` method.

mod model;
mod record;
mod svg;
mod text;

#[cfg(test)]
mod tests;

pub use model::{ChainStep, PhaseKind, ServiceTimeline, Span, Timeline, TimelineError};
pub(crate) use record::Recorder;
pub use record::{Entry, Phase};

/// The name of the event log in a run directory.
pub const EVENTS_FILE: &str = "events.jsonl";

/// The name of the picture written next to the logs when a start fails.
pub const FAILED_START_SVG: &str = "timeline.svg";
