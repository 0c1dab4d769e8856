//! The bundle's clock as the orchestrator holds it.
//!
//! Why a wrapper: with the default injector, a missing preload library must not stop a
//! bundle that never travels in time. The services then run on the real clock, a warning
//! says so at start, and the first `time_travel` fails with the reason, instead of
//! silently moving nothing. An explicit `clock = "libfaketime"` is a request, so a missing
//! libfaketime is an error at start.

use std::sync::Arc;

use super::error::StartError;
use super::run_dir::RunDir;
use crate::bundle::spec::{BundleSpec, ClockKind};
use crate::clock::{Clock, ClockError, Travel, TravelReport, merge_ld_preload};
use crate::logs::LogHub;

/// Why a time travel did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TravelError {
    /// The bundle runs on the real clock (see the warning printed at start).
    #[error("time travel is unavailable in this bundle: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The clock refused the travel.
    #[error("cannot time travel")]
    Clock(#[from] ClockError),
}

/// The clock of a running bundle, or why there is none.
#[derive(Debug, Clone)]
pub(crate) enum BundleClock {
    /// Faking services follow this clock.
    Faking(Arc<Clock>),
    /// No service asked for a faked clock.
    Unused,
    /// Services run on the real clock because the injector is missing.
    Unavailable(String),
}

impl BundleClock {
    pub(crate) fn create(
        spec: &BundleSpec,
        run: &RunDir,
        hub: &LogHub,
    ) -> Result<BundleClock, StartError> {
        if !spec.services.iter().any(|s| s.faketime) {
            return Ok(BundleClock::Unused);
        }
        match Clock::create(run.path(), spec.clock) {
            Ok(c) => Ok(BundleClock::Faking(Arc::new(c))),
            Err(e @ ClockError::PreloadNotFound { .. }) if spec.clock == ClockKind::Preload => {
                let reason = crate::error_chain(&e);
                hub.warning(&format!("services run on the real clock: {reason}"));
                Ok(BundleClock::Unavailable(reason))
            }
            Err(e) => Err(StartError::Clock(e)),
        }
    }

    /// Why a faked service may be stuck at start: the system libfaketime is known to hang
    /// some programs in their first clock calls (Redis, which links jemalloc, deadlocks
    /// under 0.9.10), and a program hung that way prints nothing. Said only when that is
    /// what the timeout found.
    pub(crate) fn hang_hint(
        &self,
        spec: &crate::bundle::spec::ServiceSpec,
        last_lines: &[crate::logs::LogLine],
    ) -> Option<String> {
        match self {
            BundleClock::Faking(clock)
                if clock.kind() == ClockKind::Libfaketime
                    && spec.faketime
                    && last_lines.is_empty() =>
            {
                Some(
                    "it runs under the system libfaketime (`clock = \"libfaketime\"`), which can \
                     hang a program at start (Redis under libfaketime 0.9.10 does); try the \
                     default clock, or `faketime = false` for this service"
                        .to_owned(),
                )
            }
            _ => None,
        }
    }

    pub(crate) fn is_faking(&self) -> bool {
        matches!(self, BundleClock::Faking(_))
    }

    /// Adds what a faked service needs to its environment.
    pub(crate) fn apply(&self, env: &mut Vec<(String, String)>) {
        let BundleClock::Faking(clock) = self else {
            return;
        };
        env.retain(|(k, _)| !clock.env_remove().contains(&k.as_str()));
        for (k, v) in clock.env() {
            let value = if k == "LD_PRELOAD" {
                let existing = env
                    .iter()
                    .find(|(ek, _)| ek == "LD_PRELOAD")
                    .map(|(_, v)| v.clone());
                merge_ld_preload(&v, existing.as_deref())
            } else {
                v
            };
            env.retain(|(ek, _)| *ek != k);
            env.push((k, value));
        }
    }

    pub(crate) fn travel(&self, travel: Travel) -> Result<TravelReport, TravelError> {
        match self {
            BundleClock::Faking(c) => Ok(c.travel(travel)?),
            BundleClock::Unused => Err(TravelError::Unavailable {
                reason: "every service has `faketime = false`".to_owned(),
            }),
            BundleClock::Unavailable(reason) => Err(TravelError::Unavailable {
                reason: reason.clone(),
            }),
        }
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match self {
            BundleClock::Faking(c) => c.now(),
            _ => chrono::Utc::now(),
        }
    }
}
