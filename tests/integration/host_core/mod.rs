//! The host core: orchestration, readiness, failures, supervision, logs and the CLI.

mod api;
mod cli;
mod failures;
mod identity;
mod logs;
mod order;
mod readiness;
mod stopping;
mod timeline;
