//! Plugin kinds driven through the orchestrator and the `teamster` binary, on real processes.

mod generic;
mod scaffold;
