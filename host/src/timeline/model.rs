//! A run's entries as one row of phase spans per service, and the critical chain.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{Entry, Phase};

/// The kind of a phase, without its details: what a chart colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// Waiting for the services it needs.
    Waiting,
    /// References and the kind's `configure`.
    Configuring,
    /// `setup` hooks.
    SettingUp,
    /// Starting the supervisor and the process.
    Spawning,
    /// Waiting for the readiness conditions.
    WaitingReady,
    /// `poststart` hooks.
    Poststart,
    /// Ready.
    Ready,
    /// Stopping.
    Stopping,
    /// The main process ended; the tree is being cleaned up.
    Exited,
    /// It failed.
    Failed,
    /// Gone.
    Stopped,
}

impl PhaseKind {
    /// Every kind, in the order a service goes through them.
    pub const ALL: [PhaseKind; 11] = [
        PhaseKind::Waiting,
        PhaseKind::Configuring,
        PhaseKind::SettingUp,
        PhaseKind::Spawning,
        PhaseKind::WaitingReady,
        PhaseKind::Poststart,
        PhaseKind::Ready,
        PhaseKind::Stopping,
        PhaseKind::Exited,
        PhaseKind::Failed,
        PhaseKind::Stopped,
    ];

    /// Its name, as `events.jsonl` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::Waiting => "waiting",
            PhaseKind::Configuring => "configuring",
            PhaseKind::SettingUp => "setting_up",
            PhaseKind::Spawning => "spawning",
            PhaseKind::WaitingReady => "waiting_ready",
            PhaseKind::Poststart => "poststart",
            PhaseKind::Ready => "ready",
            PhaseKind::Stopping => "stopping",
            PhaseKind::Exited => "exited",
            PhaseKind::Failed => "failed",
            PhaseKind::Stopped => "stopped",
        }
    }

    /// Its name in a legend.
    pub fn describe(self) -> &'static str {
        match self {
            PhaseKind::Waiting => "waiting for needs",
            PhaseKind::Configuring => "configuring",
            PhaseKind::SettingUp => "setting up",
            PhaseKind::Spawning => "spawning",
            PhaseKind::WaitingReady => "waiting for readiness",
            PhaseKind::Poststart => "poststart",
            PhaseKind::Ready => "ready",
            PhaseKind::Stopping => "stopping",
            PhaseKind::Exited => "exited",
            PhaseKind::Failed => "failed",
            PhaseKind::Stopped => "stopped",
        }
    }
}

impl Phase {
    /// Its kind.
    pub fn kind(&self) -> PhaseKind {
        match self {
            Phase::Waiting { .. } => PhaseKind::Waiting,
            Phase::Configuring => PhaseKind::Configuring,
            Phase::SettingUp => PhaseKind::SettingUp,
            Phase::Spawning => PhaseKind::Spawning,
            Phase::WaitingReady { .. } => PhaseKind::WaitingReady,
            Phase::Poststart => PhaseKind::Poststart,
            Phase::Ready => PhaseKind::Ready,
            Phase::Stopping => PhaseKind::Stopping,
            Phase::Exited { .. } => PhaseKind::Exited,
            Phase::Failed { .. } => PhaseKind::Failed,
            Phase::Stopped => PhaseKind::Stopped,
        }
    }

    /// What a reader is told about it: `waiting for db, cache`, `waiting for tcp 5432`,
    /// `failed: …`.
    pub fn label(&self) -> String {
        match self {
            Phase::Waiting { needs } if needs.is_empty() => "no needs".to_owned(),
            Phase::Waiting { needs } => format!("waiting for {}", needs.join(", ")),
            Phase::WaitingReady { conditions } if conditions.is_empty() => {
                "no readiness conditions".to_owned()
            }
            Phase::WaitingReady { conditions } => {
                format!("waiting for {}", conditions.join(", "))
            }
            Phase::Exited { status, .. } => format!("exited ({status})"),
            Phase::Failed { reason } => format!("failed: {reason}"),
            other => other.kind().describe().to_owned(),
        }
    }
}

/// One phase of one service, from when it entered it until it entered the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The phase.
    pub kind: PhaseKind,
    /// Its details, e.g. `waiting for tcp 5432`.
    pub label: String,
    /// When it began (ms since the run started).
    pub start_ms: u64,
    /// When it ended; the end of the log for the last phase of a service still in it.
    pub end_ms: u64,
}

impl Span {
    /// How long it lasted.
    pub fn ms(&self) -> u64 {
        self.end_ms - self.start_ms
    }
}

/// Everything one service went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceTimeline {
    /// The service.
    pub name: String,
    /// The services it needs.
    pub needs: Vec<String>,
    /// Its phases, in order.
    pub spans: Vec<Span>,
    /// When its needs were ready and its own start began.
    pub launched_ms: Option<u64>,
    /// When it became ready, if it did.
    pub ready_ms: Option<u64>,
    /// When it failed or exited before it was ready, if it did.
    pub failed_ms: Option<u64>,
    /// How long its stop took (from `stopping` to `stopped`), if it was stopped.
    pub stop_ms: Option<u64>,
}

/// One step of the critical chain: a service and the time its own start took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStep {
    /// The service.
    pub service: String,
    /// When its needs were ready (ms since the run started).
    pub at_ms: u64,
    /// How long it took from there to ready (or to its failure).
    pub took_ms: u64,
    /// Its longest phase in that time, e.g. `waiting for tcp 5432`, and how long it lasted.
    pub slowest: Option<(String, u64)>,
    /// Whether it failed rather than became ready.
    pub failed: bool,
}

/// A run's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Every service, in the order of its first entry (the bundle's order).
    pub services: Vec<ServiceTimeline>,
    /// The time of the last entry.
    pub end_ms: u64,
}

/// Why a run's timeline could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The event log could not be read.
    #[error("cannot read the event log {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the event log is not an entry.
    #[error("line {line} of the event log {} is not a timeline entry", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

impl Timeline {
    /// Reads `events.jsonl`.
    pub fn load(path: &Path) -> Result<Timeline, TimelineError> {
        let text = std::fs::read_to_string(path).map_err(|source| TimelineError::Read {
            path: path.to_owned(),
            source,
        })?;
        Timeline::parse(&text, path)
    }

    /// Parses the text of `events.jsonl` (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Timeline, TimelineError> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e = serde_json::from_str(line).map_err(|source| TimelineError::Parse {
                path: path.to_owned(),
                line: n + 1,
                source,
            })?;
            entries.push(e);
        }
        Ok(Timeline::from_entries(&entries))
    }

    /// The timeline of these entries, in the order they were recorded.
    pub fn from_entries(entries: &[Entry]) -> Timeline {
        let end_ms = entries.iter().map(|e| e.t_ms).max().unwrap_or(0);
        let mut services: Vec<ServiceTimeline> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for e in entries {
            let i = *index.entry(e.service.clone()).or_insert_with(|| {
                services.push(ServiceTimeline {
                    name: e.service.clone(),
                    needs: Vec::new(),
                    spans: Vec::new(),
                    launched_ms: None,
                    ready_ms: None,
                    failed_ms: None,
                    stop_ms: None,
                });
                services.len() - 1
            });
            let s = &mut services[i];
            if let Some(last) = s.spans.last_mut() {
                last.end_ms = e.t_ms;
            }
            match &e.phase {
                Phase::Waiting { needs } => s.needs = needs.clone(),
                Phase::Configuring => s.launched_ms = s.launched_ms.or(Some(e.t_ms)),
                Phase::Ready => s.ready_ms = s.ready_ms.or(Some(e.t_ms)),
                Phase::Failed { .. } if s.ready_ms.is_none() => {
                    s.failed_ms = s.failed_ms.or(Some(e.t_ms))
                }
                Phase::Exited {
                    expected: false, ..
                } if s.ready_ms.is_none() => s.failed_ms = s.failed_ms.or(Some(e.t_ms)),
                Phase::Stopped => {
                    if let Some(stopping) = s
                        .spans
                        .iter()
                        .rev()
                        .find(|sp| sp.kind == PhaseKind::Stopping)
                    {
                        s.stop_ms = Some(e.t_ms - stopping.start_ms);
                    }
                }
                _ => {}
            }
            // A final state is a moment, not a span: nothing follows it.
            if e.phase.kind() != PhaseKind::Stopped {
                s.spans.push(Span {
                    kind: e.phase.kind(),
                    label: e.phase.label(),
                    start_ms: e.t_ms,
                    end_ms: end_ms.max(e.t_ms),
                });
            }
        }
        Timeline { services, end_ms }
    }

    /// When the start ended: the last service became ready, or the first one failed.
    pub fn start_end_ms(&self) -> u64 {
        let failed = self.services.iter().filter_map(|s| s.failed_ms).min();
        let ready = self.services.iter().filter_map(|s| s.ready_ms).max();
        failed.or(ready).unwrap_or(self.end_ms)
    }

    fn service(&self, name: &str) -> Option<&ServiceTimeline> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The chain of `needs` that made the start as long as it was, from the service that
    /// ended it (the first to fail, else the last to become ready) back to one that needs
    /// nothing: at each step, the need that became ready last.
    pub fn critical_chain(&self) -> Vec<ChainStep> {
        let failed = self
            .services
            .iter()
            .filter(|s| s.failed_ms.is_some())
            .min_by_key(|s| s.failed_ms);
        let last = failed.or_else(|| {
            self.services
                .iter()
                .filter(|s| s.ready_ms.is_some())
                .max_by_key(|s| s.ready_ms)
        });
        let mut chain = Vec::new();
        let mut cur = last;
        while let Some(s) = cur {
            if chain.iter().any(|c: &ChainStep| c.service == s.name) {
                break;
            }
            let at_ms = s.launched_ms.unwrap_or(0);
            let failed = s.failed_ms.is_some() && s.ready_ms.is_none();
            let done = if failed { s.failed_ms } else { s.ready_ms };
            let done = done.unwrap_or(self.end_ms);
            let slowest = s
                .spans
                .iter()
                .filter(|sp| {
                    sp.start_ms >= at_ms
                        && sp.start_ms < done
                        && !matches!(sp.kind, PhaseKind::Waiting | PhaseKind::Ready)
                })
                .max_by_key(|sp| sp.end_ms.min(done) - sp.start_ms)
                .map(|sp| (sp.label.clone(), sp.end_ms.min(done) - sp.start_ms));
            chain.push(ChainStep {
                service: s.name.clone(),
                at_ms,
                took_ms: done.saturating_sub(at_ms),
                slowest,
                failed,
            });
            cur = s
                .needs
                .iter()
                .filter_map(|n| self.service(n))
                .filter(|n| n.ready_ms.is_some())
                .max_by_key(|n| n.ready_ms);
        }
        chain
    }
}
