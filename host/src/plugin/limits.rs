//! The limits every plugin call runs under.
//!
//! Two clocks guard each call: *fuel* (deterministic, counts wasm instructions) and an
//! *epoch deadline* (wall clock, advanced by a ticker thread). Time the host spends in
//! `run` on the plugin's behalf is excluded from both: it has its own budget, so that an
//! `initdb` taking ten seconds does not look like a runaway plugin.

use std::time::Duration;

/// Deadline and fuel for one kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock time the plugin's own code may run.
    pub deadline: Duration,
    /// Wasm fuel (roughly, instructions) the call may burn.
    pub fuel: u64,
}

/// Budgets for what a plugin asks of the host during one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostBudgets {
    /// Bytes of `log` messages (and stdout/stderr output) per call; past it the call fails.
    pub log_bytes: usize,
    /// `run` invocations per call; past it `run` returns an error.
    pub runs: u32,
    /// Total time of `run` invocations per call; each run's timeout is clamped to what is left.
    pub run_time: Duration,
    /// Bytes kept of each of a run's stdout and stderr; the rest is dropped.
    pub run_output_bytes: usize,
}

/// All limits of a plugin host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory per plugin instance.
    pub memory_bytes: usize,
    /// Plugin instances that may be alive at once in one host (one per service using a
    /// kind, plus short-lived ones for `describe`); their slots are reserved up front.
    pub instances: u32,
    /// `ready-check`: called for every log line, so it gets a short leash.
    pub ready_check: CallLimits,
    /// `describe`, `open`, `configure`, `subcommand`, `connection-info`.
    pub quick: CallLimits,
    /// `setup` and `poststart`, which may drive helper programs.
    pub lifecycle: CallLimits,
    /// Host-call budgets per call.
    pub budgets: HostBudgets,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            instances: 1000,
            // Fuel is what stops a runaway `ready-check` (50 M instructions are tens of
            // milliseconds of CPU). The wall-clock deadline only catches what fuel does not
            // count, and it must not fire because a busy CI runner left the thread
            // unscheduled: at 100 ms it did, failing healthy starts.
            ready_check: CallLimits {
                deadline: Duration::from_secs(1),
                fuel: 50_000_000,
            },
            quick: CallLimits {
                deadline: Duration::from_secs(2),
                fuel: 1_000_000_000,
            },
            lifecycle: CallLimits {
                deadline: Duration::from_secs(60),
                fuel: 20_000_000_000,
            },
            budgets: HostBudgets {
                log_bytes: 64 * 1024,
                runs: 64,
                run_time: Duration::from_secs(300),
                run_output_bytes: 1024 * 1024,
            },
        }
    }
}

/// The exports of the `kind` interface, named as in the WIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Export {
    Describe,
    Open,
    Configure,
    Setup,
    ReadyCheck,
    Poststart,
    Subcommand,
    ConnectionInfo,
}

impl Export {
    /// The WIT name, as shown in errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Export::Describe => "describe",
            Export::Open => "open",
            Export::Configure => "configure",
            Export::Setup => "setup",
            Export::ReadyCheck => "ready-check",
            Export::Poststart => "poststart",
            Export::Subcommand => "subcommand",
            Export::ConnectionInfo => "connection-info",
        }
    }

    /// Which limits apply.
    pub(crate) fn limits(self, limits: &Limits) -> CallLimits {
        match self {
            Export::ReadyCheck => limits.ready_check,
            Export::Setup | Export::Poststart => limits.lifecycle,
            Export::Describe
            | Export::Open
            | Export::Configure
            | Export::Subcommand
            | Export::ConnectionInfo => limits.quick,
        }
    }
}
