//! Where a plugin's messages go: `host.log` calls and whatever it prints on stdout/stderr.
//!
//! Both count against the same per-call byte budget, so a plugin cannot flood the service
//! log through either door. The book keeps a bounded window of recent messages (tests and
//! `teamster plugin` commands read it) and forwards each message to an optional sink, which
//! the orchestrator points at the service's log store.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How many recent messages a book keeps.
const RECENT: usize = 200;
/// How many lines of stdout/stderr a trap report quotes.
const QUOTED_LINES: usize = 3;

/// Severity of a plugin message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Details for debugging the plugin.
    Debug,
    /// Progress (stdout lines land here too).
    Info,
    /// Something the user may want to know (stderr lines land here).
    Warn,
    /// A failure.
    Error,
}

/// One message from a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLog {
    /// Its severity.
    pub level: LogLevel,
    /// The text (one line for stdout/stderr output; as sent for `host.log`).
    pub message: String,
}

/// A receiver of plugin messages, such as the service's log store.
pub type LogSink = Arc<dyn Fn(&PluginLog) + Send + Sync>;

/// Raised (as a trap) when a call exceeds its log budget.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("log budget of {limit} bytes exceeded")]
pub(crate) struct LogBudgetExceeded {
    pub(crate) limit: usize,
}

/// Which guest output stream a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pipe {
    Stdout,
    Stderr,
}

pub(crate) struct LogBook {
    limit: usize,
    used: usize,
    recent: VecDeque<PluginLog>,
    /// The last lines printed on stdout/stderr, quoted in trap reports (panic messages).
    printed: VecDeque<String>,
    partial: [Vec<u8>; 2],
    /// Lines printed on stderr from the first `panicked at` on, for [`SharedLogBook::panic`].
    panic_lines: Vec<String>,
    sink: Option<LogSink>,
}

impl std::fmt::Debug for LogBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBook")
            .field("limit", &self.limit)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

/// A shared handle on a [`LogBook`]: the store's host state and the stdio captures hold one.
#[derive(Debug, Clone)]
pub(crate) struct SharedLogBook(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    book: Mutex<LogBook>,
    /// Whether the plugin logged or printed anything since the last [`SharedLogBook::start_call`].
    /// Most calls (every `ready-check`, say) do neither; this spares them the lock.
    touched: AtomicBool,
}

impl SharedLogBook {
    pub(crate) fn new(limit: usize) -> Self {
        SharedLogBook(Arc::new(Shared {
            book: Mutex::new(LogBook {
                limit,
                used: 0,
                recent: VecDeque::new(),
                printed: VecDeque::new(),
                partial: [Vec::new(), Vec::new()],
                panic_lines: Vec::new(),
                sink: None,
            }),
            touched: AtomicBool::new(false),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogBook> {
        // A panic while holding this lock leaves only log bookkeeping half-done; keep going.
        self.0
            .book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks the book to record something the plugin sent.
    fn lock_to_write(&self) -> std::sync::MutexGuard<'_, LogBook> {
        // Set before the lock is taken, so `start_call` never misses a write; a store is
        // used by one thread at a time, so nothing races with it anyway.
        self.0.touched.store(true, Ordering::Relaxed);
        self.lock()
    }

    pub(crate) fn set_sink(&self, sink: Option<LogSink>) {
        self.lock().sink = sink;
    }

    /// Starts a new call: the budget is per call.
    pub(crate) fn start_call(&self) {
        if !self.0.touched.load(Ordering::Relaxed) {
            // Nothing was written since the last reset: nothing to reset.
            return;
        }
        self.0.touched.store(false, Ordering::Relaxed);
        let mut book = self.lock();
        book.used = 0;
        book.printed.clear();
        book.panic_lines.clear();
    }

    /// Ends a call: a partial last line of output is flushed as a message.
    pub(crate) fn end_call(&self) {
        if !self.0.touched.load(Ordering::Relaxed) {
            return;
        }
        let mut book = self.lock();
        for pipe in [Pipe::Stdout, Pipe::Stderr] {
            let rest = std::mem::take(&mut book.partial[pipe as usize]);
            if !rest.is_empty() {
                book.push_printed(pipe, &rest);
            }
        }
    }

    /// Records a `host.log` message, or fails when the call's budget is spent.
    pub(crate) fn log(&self, level: LogLevel, message: String) -> Result<(), LogBudgetExceeded> {
        let mut book = self.lock_to_write();
        book.charge(message.len())?;
        book.push(PluginLog { level, message });
        Ok(())
    }

    /// Records guest output, split into lines.
    fn print(&self, pipe: Pipe, bytes: &[u8]) -> Result<(), LogBudgetExceeded> {
        let mut book = self.lock_to_write();
        book.charge(bytes.len())?;
        let mut buf = std::mem::take(&mut book.partial[pipe as usize]);
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            book.push_printed(pipe, &buf[start..start + nl]);
            start += nl + 1;
        }
        buf.drain(..start);
        book.partial[pipe as usize] = buf;
        Ok(())
    }

    /// The last lines the plugin printed during this call, joined, for a trap report.
    pub(crate) fn last_printed(&self) -> Option<String> {
        let book = self.lock();
        let mut lines: Vec<&str> = book.printed.iter().map(String::as_str).collect();
        let partial: Vec<String> = book
            .partial
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        lines.extend(partial.iter().map(String::as_str));
        let start = lines.len().saturating_sub(QUOTED_LINES);
        let quoted = lines[start..].join(" / ");
        (!quoted.is_empty()).then_some(quoted)
    }

    /// The message and location of a Rust panic printed during this call, if any. Rust's
    /// standard library prints `thread '…' panicked at <file:line:col>:` and then the message
    /// on stderr before aborting, which reaches the host as an `unreachable` trap.
    pub(crate) fn panic(&self) -> Option<(String, Option<String>)> {
        let book = self.lock();
        let mut lines = book.panic_lines.iter();
        let header = lines.by_ref().find(|l| l.contains("panicked at "))?;
        let location = header
            .split_once("panicked at ")
            .map(|(_, at)| at.trim_end_matches(':').to_string())
            .filter(|at| !at.is_empty());
        let message: Vec<&str> = lines
            .map(String::as_str)
            .take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        Some((message.join(" / "), location))
    }

    /// The recent messages, oldest first.
    pub(crate) fn recent(&self) -> Vec<PluginLog> {
        self.lock().recent.iter().cloned().collect()
    }

    pub(crate) fn capture(&self, pipe: Pipe) -> Capture {
        Capture {
            book: self.clone(),
            pipe,
        }
    }
}

impl LogBook {
    fn charge(&mut self, bytes: usize) -> Result<(), LogBudgetExceeded> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(LogBudgetExceeded { limit: self.limit });
        }
        Ok(())
    }

    fn push(&mut self, log: PluginLog) {
        if let Some(sink) = &self.sink {
            sink(&log);
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(log);
    }

    fn push_printed(&mut self, pipe: Pipe, line: &[u8]) {
        let text = String::from_utf8_lossy(line)
            .trim_end_matches('\r')
            .to_string();
        if self.printed.len() == QUOTED_LINES {
            self.printed.pop_front();
        }
        self.printed.push_back(text.clone());
        if pipe == Pipe::Stderr
            && (!self.panic_lines.is_empty() || text.contains("panicked at "))
            && self.panic_lines.len() < 20
        {
            self.panic_lines.push(text.clone());
        }
        let level = match pipe {
            Pipe::Stdout => LogLevel::Info,
            Pipe::Stderr => LogLevel::Warn,
        };
        self.push(PluginLog {
            level,
            message: text,
        });
    }
}

/// A guest stdout or stderr that writes into a [`LogBook`].
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    book: SharedLogBook,
    pipe: Pipe,
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.book
            .print(self.pipe, &bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = self
            .book
            .print(self.pipe, buf)
            .map(|()| buf.len())
            .map_err(std::io::Error::other);
        Poll::Ready(result)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
