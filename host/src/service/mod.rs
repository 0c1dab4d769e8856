//! One service's lifecycle: its state machine and its single select loop.

pub mod hooks;
