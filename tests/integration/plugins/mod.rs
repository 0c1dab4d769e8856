//! Plugin kinds driven through the orchestrator and the `teamster` binary, on real processes.

mod check;
mod generic;
mod off_runtime;
mod scaffold;
mod third_party;
