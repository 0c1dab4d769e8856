//! The bundle's log hub: where lines are numbered, stored, echoed and fanned out.
//!
//! # Ordering
//!
//! Each line gets its bundle-wide `seq` while its service's store is locked, and the
//! same short critical section (the "sequencer" lock) also publishes it to followers. Two
//! consequences make followers exact:
//! - followers receive lines in `seq` order, so "everything up to seq N" is a prefix;
//! - while a view's stores are all locked, every line with a `seq` already handed out is
//!   stored, so a snapshot taken under those locks plus a subscription taken before it
//!   covers every line exactly once (the follower skips live lines below the snapshot's
//!   cut).
//!
//! # Caveats
//!
//! Followers end only when [`LogHub::close`] is called (the orchestrator does so once every
//! pipe is drained); a `Logs` view keeps the hub's storage alive, so dropping the last
//! `LogHub` does not end them. Files are flushed every `flush_interval` by a background
//! thread, on [`LogHub::flush`], before any query reads them back, and when the hub's last
//! reference is dropped.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use super::console::{Console, ConsoleMode};
use super::error::LogError;
use super::line::{DEFAULT_MAX_LINE_LEN, LineSplitter};
use super::query::Logs;
use super::store::{Appended, ServiceStore, WindowLimits};
use super::{BUNDLE_SERVICE, LogLine, Stream};

/// How many lines a follower may fall behind before it must catch up from the store.
const FOLLOW_CAPACITY: usize = 4096;

/// Settings of a bundle's log hub.
pub struct LogConfig {
    /// Directory of the run's log files (`<project>/.teamster/runs/<id>/logs`).
    pub dir: PathBuf,
    /// How lines are echoed to the console.
    pub console: ConsoleMode,
    /// Where console lines go (default: stdout).
    pub writer: Box<dyn Write + Send>,
    /// Longer lines are cut into several lines of at most this many bytes.
    pub max_line_len: usize,
    /// Bounds of each service's in-memory window.
    pub window: WindowLimits,
    /// How often buffered lines are written to the files.
    pub flush_interval: Duration,
}

impl LogConfig {
    /// Defaults: detected console mode on stdout, 64 KiB lines, a window of 10 000 lines or
    /// 8 MiB per service, and files flushed every 100 ms.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogConfig {
            dir: dir.into(),
            console: ConsoleMode::detect(),
            writer: Box::new(std::io::stdout()),
            max_line_len: DEFAULT_MAX_LINE_LEN,
            window: WindowLimits::DEFAULT,
            flush_interval: Duration::from_millis(100),
        }
    }
}

impl std::fmt::Debug for LogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogConfig")
            .field("dir", &self.dir)
            .field("console", &self.console)
            .field("max_line_len", &self.max_line_len)
            .field("window", &self.window)
            .field("flush_interval", &self.flush_interval)
            .finish_non_exhaustive()
    }
}

/// The shared state behind [`LogHub`], [`ServiceSink`] and [`Logs`].
#[derive(Debug)]
pub(crate) struct HubInner {
    /// One store per service in the order given, then the bundle's own pseudo-service.
    pub(crate) stores: Vec<ServiceStore>,
    pub(crate) next_seq: AtomicU64,
    /// The follower channel; `None` once the hub is closed.
    sequencer: Mutex<Option<broadcast::Sender<LogLine>>>,
    console: Console,
    max_line_len: usize,
}

impl HubInner {
    fn sequencer(&self) -> MutexGuard<'_, Option<broadcast::Sender<LogLine>>> {
        self.sequencer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver of every line pushed from now on, or `None` if the hub is closed.
    pub(crate) fn subscribe(&self) -> Option<broadcast::Receiver<LogLine>> {
        self.sequencer().as_ref().map(|tx| tx.subscribe())
    }

    /// Index of a store by service name.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.stores.iter().position(|s| &*s.name == name)
    }

    /// Numbers, stores, publishes and echoes one line of service `index`.
    fn push(&self, index: usize, stream: Stream, mut text: String) -> LogLine {
        if memchr::memchr(b'\n', text.as_bytes()).is_some() {
            // The files hold one line per `\n`; an embedded newline would shift every
            // later line of the service, so it is shown as a visible symbol instead.
            text = text.replace("\r\n", "\u{2424}").replace('\n', "\u{2424}");
        }
        let store = &self.stores[index];
        let mut state = store.lock();
        let line = {
            let sequencer = self.sequencer();
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            let line = LogLine {
                seq,
                service: store.name.clone(),
                stream,
                text,
            };
            if let Some(tx) = sequencer.as_ref()
                && tx.receiver_count() > 0
            {
                // With receivers present this cannot fail; a follower that lags catches up
                // from the store.
                let _ = tx.send(line.clone());
            }
            line
        };
        let appended = state.append(line.clone(), &store.name);
        drop(state);
        if let Appended::StorageFailed(error) = appended {
            self.report_storage_failure(&error);
        }
        self.console.print(&line, index);
        line
    }

    /// Stores and prints bundle-level text, one line per line of `text`.
    pub(crate) fn bundle_lines(&self, stream: Stream, text: &str) {
        let index = self.stores.len() - 1;
        for line in text.lines() {
            self.push(index, stream, line.to_owned());
        }
    }

    /// Tells the user, once per service, that its files stopped receiving lines.
    fn report_storage_failure(&self, error: &LogError) {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text.push_str("; its later lines are kept in memory only");
        let bundle = self.stores.len() - 1;
        // Printed, not stored: the bundle's own store may be failing for the same reason.
        let line = LogLine {
            seq: 0,
            service: self.stores[bundle].name.clone(),
            stream: Stream::Err,
            text,
        };
        self.console.print(&line, bundle);
    }

    fn flush(&self) -> Result<(), LogError> {
        let mut first_error = None;
        for store in &self.stores {
            if let Err(e) = store.flush() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        // Writers would flush on drop anyway, but silently; failures are already reported.
        let _ = self.flush();
    }
}

/// The log hub of one running bundle: cheap to clone, shared by every service's capture.
#[derive(Debug, Clone)]
pub struct LogHub {
    inner: Arc<HubInner>,
}

impl LogHub {
    /// Creates the log directory and every service's files, and starts the flusher.
    ///
    /// The bundle's own messages are stored as the pseudo-service `teamster`, so that name
    /// is refused for a service, as are names that cannot be file names.
    pub fn new(config: LogConfig, services: &[&str]) -> Result<LogHub, LogError> {
        for (i, name) in services.iter().enumerate() {
            check_name(name)?;
            if services[..i].contains(name) {
                return Err(LogError::DuplicateService {
                    name: (*name).to_owned(),
                });
            }
        }
        std::fs::create_dir_all(&config.dir).map_err(|e| LogError::CreateDir {
            dir: config.dir.clone(),
            source: Arc::new(e),
        })?;
        let window = WindowLimits {
            lines: config.window.lines.max(1),
            ..config.window
        };
        let stores = services
            .iter()
            .chain(std::iter::once(&BUNDLE_SERVICE))
            .map(|name| ServiceStore::create(&config.dir, name, window))
            .collect();
        let inner = Arc::new(HubInner {
            stores,
            next_seq: AtomicU64::new(0),
            sequencer: Mutex::new(Some(broadcast::channel(FOLLOW_CAPACITY).0)),
            console: Console::new(config.console, services, config.writer),
            max_line_len: config.max_line_len,
        });
        // Write before print: what the console shows is in the files first.
        let weak = Arc::downgrade(&inner);
        inner.console.before_print(Box::new(move || {
            if let Some(hub) = weak.upgrade() {
                for store in &hub.stores {
                    store.flush_if_dirty();
                }
            }
        }));
        spawn_flusher(Arc::downgrade(&inner), config.flush_interval);
        Ok(LogHub { inner })
    }

    /// The shared state, for the module's tests to inspect memory use.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &HubInner {
        &self.inner
    }

    /// The sink a service's capture pushes lines into, or `None` for an unknown service.
    pub fn sink(&self, service: &str) -> Option<ServiceSink> {
        let index = self.inner.index_of(service)?;
        Some(ServiceSink {
            inner: self.inner.clone(),
            index,
        })
    }

    /// A splitter bounded by this hub's `max_line_len`.
    pub fn splitter(&self) -> LineSplitter {
        LineSplitter::new(self.inner.max_line_len)
    }

    /// Every line of the bundle, including its own messages.
    pub fn logs(&self) -> Logs {
        Logs::bundle(self.inner.clone())
    }

    /// The lines of one service (`teamster` for the bundle's own messages).
    pub fn service(&self, name: &str) -> Option<Logs> {
        Some(Logs::service(
            self.inner.clone(),
            self.inner.index_of(name)?,
        ))
    }

    /// Prints and stores a bundle-level message (stdout of the `teamster` pseudo-service).
    pub fn message(&self, text: &str) {
        self.inner.bundle_lines(Stream::Out, text);
    }

    /// Prints and stores a bundle-level warning (stderr of the `teamster` pseudo-service).
    pub fn warning(&self, text: &str) {
        self.inner.bundle_lines(Stream::Err, text);
    }

    /// Waits until the console has printed what it was given, at most `limit` (a console
    /// that does not read is not waited for longer); whether it did.
    pub fn settle_console(&self, limit: Duration) -> bool {
        self.inner.console.settle(limit)
    }

    /// Pauses (or resumes) the console echo; the files keep every line either way.
    pub fn pause_console(&self, paused: bool) {
        self.inner.console.pause(paused);
    }

    /// Writes every buffered line to the files. Returns the first storage failure, if any.
    pub fn flush(&self) -> Result<(), LogError> {
        self.inner.flush()
    }

    /// Ends every follower once it has seen all lines so far. Lines pushed later are still
    /// stored, echoed and queryable, but no longer followed.
    pub fn close(&self) {
        self.inner.sequencer().take();
    }
}

/// Refuses names that would escape the log directory or clash with the bundle's own log.
fn check_name(name: &str) -> Result<(), LogError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name == BUNDLE_SERVICE {
        "it is reserved for the bundle's own messages"
    } else if name.starts_with('.') || name.contains(['/', '\0']) {
        "log file names cannot start with `.` or contain `/`"
    } else {
        return Ok(());
    };
    Err(LogError::InvalidServiceName {
        name: name.to_owned(),
        reason,
    })
}

/// Flushes dirty stores every `interval` until the hub is gone.
fn spawn_flusher(hub: Weak<HubInner>, interval: Duration) {
    let spawned = std::thread::Builder::new()
        .name("teamster-log-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(hub) = hub.upgrade() else { return };
                for store in &hub.stores {
                    store.flush_if_dirty();
                }
            }
        });
    // Without the thread, files are still flushed on demand, before reads, and at the end.
    drop(spawned);
}

/// Where one service's lines go in. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceSink {
    inner: Arc<HubInner>,
    index: usize,
}

impl ServiceSink {
    /// Stores one line (without its terminator) and returns it numbered.
    ///
    /// `text` should not contain `\n` ([`LineSplitter`] output never does); an embedded
    /// newline is stored as the symbol `␤` so that the files keep one line per line.
    pub fn push(&self, stream: Stream, text: String) -> LogLine {
        self.inner.push(self.index, stream, text)
    }

    /// The service this sink belongs to.
    pub fn service(&self) -> &str {
        &self.inner.stores[self.index].name
    }

    /// This service's lines.
    pub fn logs(&self) -> Logs {
        Logs::service(self.inner.clone(), self.index)
    }
}
