//! Recording phase transitions without making the start wait on the disk.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::orchestrator::Event;

/// A phase a service entered. Each is one line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// The run started; the service waits for the services it needs (none: it starts at
    /// once). Every service's first entry, so the chain can be followed from the file.
    Waiting {
        /// The services it needs.
        needs: Vec<String>,
    },
    /// Its needs are ready: references are filled in and its kind configures it.
    Configuring,
    /// Its plugin's or client's `setup` runs.
    SettingUp,
    /// Its supervisor and process are being started.
    Spawning,
    /// Its process exists; these readiness conditions must hold.
    WaitingReady {
        /// Each condition as its `Readiness` displays, e.g. `tcp 5432`.
        conditions: Vec<String>,
    },
    /// Every condition holds; `poststart` runs.
    Poststart,
    /// It is ready.
    Ready,
    /// A stop was requested.
    Stopping,
    /// Its main process ended.
    Exited {
        /// How, e.g. `exit code 3`.
        status: String,
        /// Whether a stop had been requested.
        expected: bool,
    },
    /// Setup, spawning, a hook or readiness failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// Its whole process tree is gone.
    Stopped,
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Milliseconds since the run started (monotonic).
    pub t_ms: u64,
    /// The service.
    pub service: String,
    /// The phase it entered.
    #[serde(flatten)]
    pub phase: Phase,
}

/// Collects a run's entries in memory and appends them to `events.jsonl` on
/// [`Recorder::flush`]. Cloning shares it; recording takes a short lock and never touches
/// the disk.
#[derive(Debug, Clone)]
pub(crate) struct Recorder(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    origin: Instant,
    path: Option<PathBuf>,
    /// Each phase is published as an [`Event::Phase`] too.
    events: Option<broadcast::Sender<Event>>,
    state: Mutex<State>,
    flushing: Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    entries: Vec<Entry>,
    /// How many entries are in the file already.
    written: usize,
}

impl Recorder {
    /// A recorder whose clock starts now, writing to `path` (if any) on flush and
    /// publishing each phase on `events` (if any).
    pub(crate) fn new(path: Option<PathBuf>, events: Option<broadcast::Sender<Event>>) -> Recorder {
        Recorder(Arc::new(Inner {
            origin: Instant::now(),
            path,
            events,
            state: Mutex::new(State::default()),
            flushing: Mutex::new(()),
        }))
    }

    /// Records that `service` entered `phase` now.
    pub(crate) fn record(&self, service: &str, phase: Phase) {
        let t_ms = self.0.origin.elapsed().as_millis() as u64;
        if let Some(events) = &self.0.events {
            let _ = events.send(Event::Phase {
                service: service.to_owned(),
                phase: phase.clone(),
                t_ms,
            });
        }
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.push(Entry {
            t_ms,
            service: service.to_owned(),
            phase,
        });
    }

    /// Where the picture of a failed start goes: beside `events.jsonl`.
    pub(crate) fn failed_start_svg(&self) -> Option<PathBuf> {
        let dir = self.0.path.as_ref()?.parent()?;
        Some(dir.join(super::FAILED_START_SVG))
    }

    /// Every entry so far.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.clone()
    }

    /// Appends the entries not yet written to the file. Called at quiet moments (the end
    /// of the start or of the stop), never per entry.
    pub(crate) fn flush(&self) -> std::io::Result<()> {
        let Some(path) = &self.0.path else {
            return Ok(());
        };
        // One flush at a time, and the entries' lock is not held while the file is written,
        // so a service recording its phase meanwhile does not wait on the disk.
        let _one = self.0.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let (text, upto) = {
            let state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.written == state.entries.len() {
                return Ok(());
            }
            let mut text = Vec::new();
            for e in &state.entries[state.written..] {
                serde_json::to_writer(&mut text, e).expect("entries serialize");
                text.push(b'\n');
            }
            (text, state.entries.len())
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(&text)?;
        self.0
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .written = upto;
        Ok(())
    }
}
