//! teamster's integration tests: real processes, one behaviour per test.
//!
//! One test binary (as nextest and cargo prefer): each module is one area.

mod fixture;

mod control;
mod host_core;
mod kinds;
mod plugins;
mod reliability;
mod time_travel;
