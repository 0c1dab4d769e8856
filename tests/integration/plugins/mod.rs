//! Plugin kinds driven through the orchestrator, on real processes.

mod generic;
