//! The console multiplexer: every service's lines on one terminal, told apart by a prefix.
//!
//! The prefix is the service name in brackets, right-aligned so that the text of all
//! services starts in the same column, which is what makes interleaved output readable:
//!
//! ```text
//! [     web] GET / 200
//! [ Err web] warning: slow query
//! [      db] checkpoint complete
//! [teamster] web is ready
//! ```
//!
//! The width rule: the bracket holds `len("Err ") + ` the longest service name, or
//! `len("teamster")` if that is wider, so an stderr prefix never pushes the text out of
//! line. Bundle-level lines (from [`LogHub::message`](super::LogHub::message) and
//! [`LogHub::warning`](super::LogHub::warning)) use the label `teamster`; warnings carry a
//! `warning:` mark after the prefix instead of `Err`, so the label keeps its width.
//!
//! Colours (one per service, cycling through a palette that leaves red for `Err`) are used
//! only on a terminal, and never when `NO_COLOR` is set to a non-empty value
//! (<https://no-color.org>).
//!
//! # Never waiting on the terminal
//!
//! A console can stop reading: `teamster up | less` paused, Ctrl-S on a terminal, a pipe
//! into a process that never reads. The host must still capture every line, answer
//! signals and stop. So lines reach the console through a bounded queue and one writer
//! thread: a full queue drops lines (the files keep them) and the writer says how many
//! once it catches up. Before the writer prints a batch it has the log files flushed, so a
//! line seen on the console is in its file even if the host is SIGKILLed right after.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::{BUNDLE_SERVICE, LogLine, Stream};

/// How service output is echoed to the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// Nothing is printed (lines are still stored and queryable).
    Quiet,
    /// Only the bundle's own lines, without colour: each service's readiness, warnings
    /// and errors, but no service output (`teamster up --quiet`).
    Summary,
    /// Prefixed lines without colour.
    Plain,
    /// Prefixed lines with one ANSI colour per service.
    Color,
}

impl ConsoleMode {
    /// The mode for this process: colour on a terminal, plain when stdout is piped or
    /// `NO_COLOR` is set and non-empty.
    pub fn detect() -> Self {
        Self::from_env(
            std::env::var_os("NO_COLOR").as_deref(),
            io::stdout().is_terminal(),
        )
    }

    /// The decision behind [`ConsoleMode::detect`], given the value of `NO_COLOR` and
    /// whether stdout is a terminal.
    pub fn from_env(no_color: Option<&OsStr>, stdout_is_terminal: bool) -> Self {
        let no_color = no_color.is_some_and(|v| !v.is_empty());
        if stdout_is_terminal && !no_color {
            ConsoleMode::Color
        } else {
            ConsoleMode::Plain
        }
    }
}

/// SGR colour codes cycled through by service index. Red is left out: it marks `Err`.
const PALETTE: [u8; 10] = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];
const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const ERR_MARK: &str = "\x1b[1;31m";
const WARNING_MARK: &str = "\x1b[1;33m";

/// Formats lines and writes them to the console writer.
pub(crate) struct Console {
    mode: ConsoleMode,
    /// Width of the text between the brackets.
    width: usize,
    /// Rendered lines on their way to the writer thread; `None` when quiet.
    queue: Option<SyncSender<String>>,
    shared: Arc<Shared>,
    /// Set while a client's interactive session has the terminal: lines still reach the
    /// files, not the screen.
    paused: AtomicBool,
}

/// How many rendered lines may wait for a slow console before lines are dropped.
const QUEUE_LINES: usize = 16 * 1024;
/// The most lines written in one go.
const BATCH_LINES: usize = 512;

/// What the writer thread and the printing side share.
struct Shared {
    /// Lines dropped since the writer last said so.
    dropped: AtomicU64,
    /// (lines queued, lines written), for [`Console::settle`].
    progress: Mutex<(u64, u64)>,
    written: Condvar,
    /// Called before each batch is printed: flushes the log files.
    before_print: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("mode", &self.mode)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console for a bundle with these services (not counting the bundle itself).
    pub(crate) fn new(mode: ConsoleMode, services: &[&str], writer: Box<dyn Write + Send>) -> Self {
        let longest = services
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        let width = ("Err ".len() + longest).max(BUNDLE_SERVICE.len());
        let shared = Arc::new(Shared {
            dropped: AtomicU64::new(0),
            progress: Mutex::new((0, 0)),
            written: Condvar::new(),
            before_print: OnceLock::new(),
        });
        let queue = (mode != ConsoleMode::Quiet).then(|| {
            let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_LINES);
            let thread_shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("teamster-console".into())
                .spawn(move || write_loop(rx, writer, &thread_shared));
            // Without the thread lines are dropped and counted, never waited on.
            drop(spawned);
            tx
        });
        Console {
            mode,
            width,
            queue,
            shared,
            paused: AtomicBool::new(false),
        }
    }

    /// Sets what runs before each printed batch (the hub flushes its files there).
    pub(crate) fn before_print(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.shared.before_print.set(hook);
    }

    /// Waits until every queued line has been written, at most `limit`; whether it was.
    pub(crate) fn settle(&self, limit: Duration) -> bool {
        let progress = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (progress, _) = self
            .shared
            .written
            .wait_timeout_while(progress, limit, |(queued, written)| written < queued)
            .unwrap_or_else(|p| p.into_inner());
        progress.1 >= progress.0
    }

    /// Stops (or resumes) echoing lines.
    pub(crate) fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Prints a line of the service with index `service_index` (which picks its colour),
    /// through the writer thread. Never blocks: when the console falls too far behind, the
    /// line is dropped and counted. Console write errors are ignored: a closed terminal
    /// must not stop log capture.
    pub(crate) fn print(&self, line: &LogLine, service_index: usize) {
        let Some(queue) = &self.queue else { return };
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let rendered = self.render(line, service_index);
        let mut progress = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match queue.try_send(rendered) {
            Ok(()) => progress.0 += 1,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The console text of a line, terminated by `\n` (empty when quiet).
    pub(crate) fn render(&self, line: &LogLine, service_index: usize) -> String {
        let text = neutralise(&line.text);
        let mut s = String::with_capacity(text.len() + self.width + 24);
        let bundle = &*line.service == BUNDLE_SERVICE;
        let label_len = match line.stream {
            Stream::Err if !bundle => "Err ".len() + line.service.chars().count(),
            _ => line.service.chars().count(),
        };
        let pad = self.width.saturating_sub(label_len);
        let colour = PALETTE[service_index % PALETTE.len()];
        // `write!` to a String cannot fail.
        let mode = match (self.mode, bundle) {
            (ConsoleMode::Summary, true) => ConsoleMode::Plain,
            (ConsoleMode::Summary, false) => return String::new(),
            (mode, _) => mode,
        };
        let _ = match (mode, bundle, line.stream) {
            (ConsoleMode::Quiet | ConsoleMode::Summary, _, _) => return String::new(),
            (ConsoleMode::Plain, true, Stream::Out) => {
                write!(s, "[{:pad$}{}] {}", "", line.service, text)
            }
            (ConsoleMode::Plain, true, Stream::Err) => {
                write!(s, "[{:pad$}{}] warning: {}", "", line.service, text)
            }
            (ConsoleMode::Plain, false, Stream::Out) => {
                write!(s, "[{:pad$}{}] {}", "", line.service, text)
            }
            (ConsoleMode::Plain, false, Stream::Err) => {
                write!(s, "[{:pad$}Err {}] {}", "", line.service, text)
            }
            (ConsoleMode::Color, true, Stream::Out) => {
                write!(s, "{BOLD}[{:pad$}{}]{RESET} {}", "", line.service, text)
            }
            (ConsoleMode::Color, true, Stream::Err) => write!(
                s,
                "{BOLD}[{:pad$}{}]{RESET} {WARNING_MARK}warning:{RESET} {}",
                "", line.service, text
            ),
            (ConsoleMode::Color, false, Stream::Out) => {
                write!(
                    s,
                    "\x1b[{colour}m[{:pad$}{}]{RESET} {}",
                    "", line.service, text
                )
            }
            (ConsoleMode::Color, false, Stream::Err) => write!(
                s,
                "\x1b[{colour}m[{:pad$}{ERR_MARK}Err{RESET}\x1b[{colour}m {}]{RESET} {}",
                "", line.service, text
            ),
        };
        s.push('\n');
        s
    }
}

/// A service's text as the terminal may see it: every control character but a tab (ESC,
/// so every ANSI and OSC sequence; BEL; a carriage return that would overwrite the line;
/// the 8-bit C1 controls such as CSI) shown as a visible stand-in, so a service cannot
/// retitle the terminal, move the cursor or hide lines. The log files keep the bytes as
/// they came.
pub(crate) fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    // A program writing CRLF line ends means no harm: its last `\r` is dropped, not shown.
    let text = text.strip_suffix('\r').unwrap_or(text);
    let harmful = |c: char| (c.is_control() && c != '\t') || c == '\u{7f}';
    if !text.chars().any(harmful) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            // The Control Pictures block: U+241B SYMBOL FOR ESCAPE for ESC, and so on.
            '\u{0}'..='\u{1f}' if c != '\t' => {
                char::from_u32(0x2400 + c as u32).expect("in the Control Pictures block")
            }
            '\u{7f}' => '\u{2421}',
            c if harmful(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// The writer thread: batches what is queued, has the files flushed, says how many lines
/// were dropped, prints. It may block in `write` as long as the console does; nothing else
/// waits for it.
fn write_loop(rx: Receiver<String>, mut writer: Box<dyn Write + Send>, shared: &Shared) {
    let mut batch = String::new();
    while let Ok(first) = rx.recv() {
        batch.clear();
        batch.push_str(&first);
        let mut count = 1u64;
        while count < BATCH_LINES as u64 {
            match rx.try_recv() {
                Ok(line) => {
                    batch.push_str(&line);
                    count += 1;
                }
                Err(_) => break,
            }
        }
        if let Some(flush) = shared.before_print.get() {
            flush();
        }
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                writer,
                "[{BUNDLE_SERVICE}] {dropped} lines not shown: the console could not keep up (the log files have every line)"
            );
        }
        let _ = writer
            .write_all(batch.as_bytes())
            .and_then(|()| writer.flush());
        let mut progress = shared.progress.lock().unwrap_or_else(|p| p.into_inner());
        progress.1 += count;
        shared.written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn line(service: &str, stream: Stream, text: &str) -> LogLine {
        LogLine {
            seq: 0,
            service: Arc::from(service),
            stream,
            text: text.to_owned(),
        }
    }

    /// Renders a fixed mix of lines for a bundle of `db`, `web` and `worker-queue`.
    fn sample(mode: ConsoleMode, services: &[&str]) -> String {
        let console = Console::new(mode, services, Box::new(io::sink()));
        let mut out = String::new();
        for (index, name) in services.iter().enumerate() {
            out += &console.render(&line(name, Stream::Out, "listening"), index);
            out += &console.render(&line(name, Stream::Err, "something odd"), index);
        }
        out += &console.render(
            &line(BUNDLE_SERVICE, Stream::Out, "all services ready"),
            services.len(),
        );
        out += &console.render(
            &line(BUNDLE_SERVICE, Stream::Err, "db was slow to start"),
            services.len(),
        );
        out
    }

    #[test]
    fn plain_prefixes_align_with_short_names() {
        insta::assert_snapshot!(sample(ConsoleMode::Plain, &["db", "web"]), @r"
        [      db] listening
        [  Err db] something odd
        [     web] listening
        [ Err web] something odd
        [teamster] all services ready
        [teamster] warning: db was slow to start
        ");
    }

    #[test]
    fn plain_prefixes_align_with_long_names() {
        insta::assert_snapshot!(sample(ConsoleMode::Plain, &["db", "worker-queue"]), @r"
        [              db] listening
        [          Err db] something odd
        [    worker-queue] listening
        [Err worker-queue] something odd
        [        teamster] all services ready
        [        teamster] warning: db was slow to start
        ");
    }

    #[test]
    fn colour_prefixes() {
        let rendered = sample(ConsoleMode::Color, &["db", "web"]).replace('\x1b', "␛");
        insta::assert_snapshot!(rendered, @r"
        ␛[36m[      db]␛[0m listening
        ␛[36m[  ␛[1;31mErr␛[0m␛[36m db]␛[0m something odd
        ␛[32m[     web]␛[0m listening
        ␛[32m[ ␛[1;31mErr␛[0m␛[32m web]␛[0m something odd
        ␛[1m[teamster]␛[0m all services ready
        ␛[1m[teamster]␛[0m ␛[1;33mwarning:␛[0m db was slow to start
        ");
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        let console = Console::new(ConsoleMode::Color, &["web"], Box::new(io::sink()));
        let title = "\x1b]0;pwned\x07before\x1b[2K\x1b[1A\rhidden\u{9b}31m\tok";
        let shown = console.render(&line("web", Stream::Out, title), 0);
        let text = shown.rsplit("\x1b[0m ").next().expect("after the prefix");
        assert_eq!(text, "␛]0;pwned␇before␛[2K␛[1A␍hidden\u{fffd}31m\tok\n");
        assert!(!text.contains('\x1b') && !text.contains('\r') && !text.contains('\x07'));
        assert_eq!(
            neutralise("plain text"),
            std::borrow::Cow::Borrowed("plain text")
        );
        assert_eq!(neutralise("crlf\r"), "crlf");
        let plain = Console::new(ConsoleMode::Plain, &["web"], Box::new(io::sink()));
        let shown = plain.render(&line("web", Stream::Err, "\x1b[8mhidden"), 0);
        assert!(shown.ends_with("Err web] ␛[8mhidden\n"), "{shown:?}");
    }

    #[test]
    fn quiet_renders_nothing() {
        assert_eq!(sample(ConsoleMode::Quiet, &["db"]), "");
        let summary = Console::new(ConsoleMode::Summary, &["db"], Box::new(io::sink()));
        assert_eq!(summary.render(&line("db", Stream::Out, "output"), 0), "");
        let ready = summary.render(&line(BUNDLE_SERVICE, Stream::Out, "db is ready (3 ms)"), 0);
        assert_eq!(ready, "[teamster] db is ready (3 ms)\n");
        let warning = summary.render(&line(BUNDLE_SERVICE, Stream::Err, "db: no"), 0);
        assert_eq!(warning, "[teamster] warning: db: no\n");
    }

    #[test]
    fn print_writes_to_the_injected_writer() {
        let shared = crate::test_support::Captured::default();
        let console = Console::new(ConsoleMode::Plain, &["web"], Box::new(shared.clone()));
        console.print(&line("web", Stream::Out, "hello"), 0);
        assert!(console.settle(Duration::from_secs(10)));
        assert_eq!(shared.text(), "[     web] hello\n");
    }

    #[test]
    fn a_console_that_never_reads_drops_lines_and_never_blocks() {
        /// A writer that blocks until released, like a pipe nobody reads.
        struct Stuck(Arc<(Mutex<bool>, Condvar)>, Arc<Mutex<Vec<u8>>>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let (lock, released) = &*self.0;
                let mut open = lock.lock().expect("lock");
                while !*open {
                    open = released.wait(open).expect("wait");
                }
                self.1.lock().expect("lock").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let console = Console::new(
            ConsoleMode::Plain,
            &["web"],
            Box::new(Stuck(gate.clone(), out.clone())),
        );
        let lines = QUEUE_LINES + BATCH_LINES + 1000;
        for i in 0..lines {
            console.print(&line("web", Stream::Out, &format!("line-{i}")), 0);
        }
        // Every print returned although nothing was written.
        assert!(!console.settle(Duration::from_millis(10)));
        *gate.0.lock().expect("lock") = true;
        gate.1.notify_all();
        assert!(console.settle(Duration::from_secs(10)));
        // Once it reads again, it hears how many lines it missed.
        console.print(&line("web", Stream::Out, "after"), 0);
        assert!(console.settle(Duration::from_secs(10)));
        let text = String::from_utf8(out.lock().expect("lock").clone()).expect("utf8");
        let shown = text.lines().filter(|l| l.contains("line-")).count();
        assert!(shown < lines, "{shown} of {lines} shown");
        let notice = text
            .lines()
            .find(|l| l.contains("lines not shown"))
            .expect("a notice of dropped lines");
        let dropped: usize = notice
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("a count");
        assert_eq!(shown + dropped, lines, "{notice}");
        assert!(text.ends_with("[     web] after\n"));
    }

    #[test]
    fn no_color_and_terminal_detection() {
        let set = |v: &str| Some(OsStr::new(v).to_owned());
        let cases = [
            (None, true, ConsoleMode::Color),
            (None, false, ConsoleMode::Plain),
            (set("1"), true, ConsoleMode::Plain),
            (set("1"), false, ConsoleMode::Plain),
            // An empty NO_COLOR does not count as set.
            (set(""), true, ConsoleMode::Color),
        ];
        for (no_color, tty, expected) in cases {
            assert_eq!(
                ConsoleMode::from_env(no_color.as_deref(), tty),
                expected,
                "{no_color:?} tty={tty}"
            );
        }
    }
}
