//! Bundle files and the validated model behind them.

pub mod spec;
