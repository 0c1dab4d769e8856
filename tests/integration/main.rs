//! teamster's integration tests: real processes, one behaviour per test.
//!
//! One test binary (as nextest and cargo prefer): each module is one area.

mod fixture;

mod host_core;
mod kinds;
mod plugins;
mod time_travel;
mod control;
mod reliability;
