//! Lifecycle events of a running bundle, as the library exposes them.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_stream::wrappers::BroadcastStream;

use crate::bundle::spec::Readiness;
use crate::service::ExitStatus;
use crate::service::run::ServiceEvent;
use crate::timeline::Phase;

/// Something that happened to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Its needs are ready; it is being set up and spawned.
    Starting {
        /// The service.
        service: String,
    },
    /// Its process exists.
    Spawned {
        /// The service.
        service: String,
        /// Its pid (also its process group id).
        pid: u32,
    },
    /// Every readiness condition holds.
    Ready {
        /// The service.
        service: String,
        /// Time from `Starting` to ready.
        elapsed: Duration,
    },
    /// Its main process ended.
    Exited {
        /// The service.
        service: String,
        /// How it ended.
        status: ExitStatus,
        /// Whether a stop had been requested.
        expected: bool,
    },
    /// Setup, spawn, a hook or readiness failed.
    Failed {
        /// The service.
        service: String,
        /// Why.
        reason: String,
    },
    /// A stop was requested.
    Stopping {
        /// The service.
        service: String,
    },
    /// Its whole process tree is gone.
    Stopped {
        /// The service.
        service: String,
    },
    /// It entered a phase of its timeline (see [`crate::timeline`]); every other event has
    /// its phase too, so a progress display needs only these.
    Phase {
        /// The service.
        service: String,
        /// The phase.
        phase: Phase,
        /// When, in milliseconds since the run started (as `events.jsonl` has it).
        t_ms: u64,
    },
}

impl ServiceEvent {
    /// The library's event for this service event of `service`, if it has one; `expected`
    /// says whether a stop had been requested. The starter and the running bundle's
    /// monitor both publish through this, so a service's events read the same in either.
    pub(crate) fn public(&self, service: &str, expected: bool) -> Option<Event> {
        let service = service.to_owned();
        Some(match *self {
            ServiceEvent::Spawned { pid } => Event::Spawned { service, pid },
            ServiceEvent::Ready { elapsed } => Event::Ready { service, elapsed },
            ServiceEvent::Exited { status, .. } => Event::Exited {
                service,
                status,
                expected,
            },
            ServiceEvent::Failed { ref reason, .. } => Event::Failed {
                service,
                reason: reason.clone(),
            },
            ServiceEvent::SettingUp
            | ServiceEvent::Spawning
            | ServiceEvent::Poststart
            | ServiceEvent::Finished => return None,
        })
    }

    /// The timeline's phase for this service event, if it has one: a spawned process waits
    /// for `ready`, the service's readiness conditions.
    pub(crate) fn phase(&self, ready: &[Readiness], expected: bool) -> Option<Phase> {
        Some(match *self {
            ServiceEvent::SettingUp => Phase::SettingUp,
            ServiceEvent::Spawning => Phase::Spawning,
            ServiceEvent::Poststart => Phase::Poststart,
            ServiceEvent::Spawned { .. } => Phase::WaitingReady {
                conditions: ready.iter().map(|r| r.to_string()).collect(),
            },
            ServiceEvent::Ready { .. } => Phase::Ready,
            ServiceEvent::Exited { status, .. } => Phase::Exited {
                status: status.to_string(),
                expected,
            },
            ServiceEvent::Failed { ref reason, .. } => Phase::Failed {
                reason: reason.clone(),
            },
            ServiceEvent::Finished => return None,
        })
    }
}

/// A stream of [`Event`]s. Subscribe before `start` to see every event.
///
/// If the consumer falls more than 1024 events behind, the oldest are skipped.
#[derive(Debug)]
pub struct EventStream(pub(crate) BroadcastStream<Event>);

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            match Pin::new(&mut self.0).poll_next(cx) {
                Poll::Ready(Some(Ok(e))) => return Poll::Ready(Some(e)),
                Poll::Ready(Some(Err(_lagged))) => continue,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
