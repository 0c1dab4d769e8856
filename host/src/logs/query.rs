//! Reading lines back: whole views, tails, followers and waits.
//!
//! A [`Logs`] is a view (one service or the whole bundle, optionally one stream) over the
//! hub's stores. Every query first takes a consistent snapshot (see the hub's ordering
//! notes), then reads recent lines from memory and older ones from the files, so results
//! are complete however long the service has been running.
//!
//! # Caveats
//!
//! [`Logs::lines`] returns everything the view ever printed: on a service that wrote a
//! gigabyte that is a gigabyte in memory. Use [`Logs::tail`] when only the end matters.
//! A follower that falls more than a few thousand lines behind catches up by reading the
//! store synchronously inside its `poll_next`; that is a short file read, done rarely.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream as AsyncStream;
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::error::{LogError, LogWaitError};
use super::hub::HubInner;
use super::{LogLine, Stream};

/// How many lines a timeout error shows.
const LAST_LINES_IN_ERRORS: usize = 10;

/// A view over the logs: one service or the whole bundle, both streams or one.
#[derive(Debug, Clone)]
pub struct Logs {
    hub: Arc<HubInner>,
    /// `None` for the whole bundle.
    service: Option<usize>,
    /// `None` for both streams.
    stream: Option<Stream>,
}

/// Where each service of a view stood at one instant.
#[derive(Debug)]
struct Snapshot {
    /// Every line of the view with a smaller `seq` is in `ends`; later ones are not.
    cut: u64,
    /// Per store index, the number of lines it held.
    ends: Vec<(usize, u64)>,
}

/// A line that parsed as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonLine {
    /// The line.
    pub line: LogLine,
    /// Its parsed value (an object or an array).
    pub value: Value,
}

impl Logs {
    pub(crate) fn bundle(hub: Arc<HubInner>) -> Self {
        Logs {
            hub,
            service: None,
            stream: None,
        }
    }

    pub(crate) fn service(hub: Arc<HubInner>, index: usize) -> Self {
        Logs {
            hub,
            service: Some(index),
            stream: None,
        }
    }

    /// The same view narrowed to stdout.
    pub fn out(&self) -> Logs {
        Logs {
            stream: Some(Stream::Out),
            ..self.clone()
        }
    }

    /// The same view narrowed to stderr.
    pub fn err(&self) -> Logs {
        Logs {
            stream: Some(Stream::Err),
            ..self.clone()
        }
    }

    /// What this view covers, for messages: `web`, `stderr of web`, `the bundle`, ….
    pub fn describe(&self) -> String {
        let whom = match self.service {
            Some(index) => format!("`{}`", self.hub.stores[index].name),
            None => "the bundle".to_owned(),
        };
        match self.stream {
            None => whom,
            Some(Stream::Out) => format!("stdout of {whom}"),
            Some(Stream::Err) => format!("stderr of {whom}"),
        }
    }

    /// Whether a line belongs to this view.
    pub fn accepts(&self, line: &LogLine) -> bool {
        self.stream.is_none_or(|s| s == line.stream)
            && self
                .service
                .is_none_or(|i| Arc::ptr_eq(&self.hub.stores[i].name, &line.service))
    }

    /// Indices of the stores this view reads.
    fn indices(&self) -> std::ops::Range<usize> {
        match self.service {
            Some(index) => index..index + 1,
            None => 0..self.hub.stores.len(),
        }
    }

    /// Locks the view's stores together (in index order, as everywhere) and records where
    /// each stands and the next `seq`.
    fn snapshot(&self) -> Snapshot {
        let guards: Vec<_> = self
            .indices()
            .map(|i| (i, self.hub.stores[i].lock()))
            .collect();
        let cut = self.hub.next_seq.load(std::sync::atomic::Ordering::Relaxed);
        let ends = guards
            .iter()
            .map(|(i, state)| (*i, state.lines()))
            .collect();
        Snapshot { cut, ends }
    }

    /// Every line of the view, oldest first.
    pub fn lines(&self) -> Result<Vec<LogLine>, LogError> {
        let snapshot = self.snapshot();
        let mut lines = Vec::new();
        for &(index, end) in &snapshot.ends {
            lines.extend(self.hub.stores[index].read_range(0..end, self.stream)?);
        }
        // Each store's lines are sorted already, so this merges runs in linear time.
        lines.sort_by_key(|l| l.seq);
        Ok(lines)
    }

    /// The last `n` lines of the view, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<LogLine>, LogError> {
        self.tail_of(&self.snapshot(), n)
    }

    fn tail_of(&self, snapshot: &Snapshot, n: usize) -> Result<Vec<LogLine>, LogError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut lines = Vec::new();
        for &(index, end) in &snapshot.ends {
            lines.extend(self.store_tail(index, end, n)?);
        }
        lines.sort_by_key(|l| l.seq);
        let excess = lines.len().saturating_sub(n);
        lines.drain(..excess);
        Ok(lines)
    }

    /// The last `n` lines of one store before line `end` that pass the stream filter.
    /// When the view is one stream, the other may dominate, so the search widens
    /// backwards in doubling blocks until it has enough.
    fn store_tail(&self, index: usize, mut end: u64, n: usize) -> Result<Vec<LogLine>, LogError> {
        let store = &self.hub.stores[index];
        let mut block = n.max(256) as u64;
        let mut found: Vec<LogLine> = Vec::new();
        while found.len() < n && end > 0 {
            let start = end.saturating_sub(block);
            let mut older = store.read_range(start..end, self.stream)?;
            older.append(&mut found);
            found = older;
            end = start;
            block = block.saturating_mul(2);
        }
        let excess = found.len().saturating_sub(n);
        found.drain(..excess);
        Ok(found)
    }

    /// The view's lines that parse as a JSON object or array, with their values.
    ///
    /// Bare scalars are left out: a line such as `42` or `true` is almost never a
    /// structured log record.
    pub fn json(&self) -> Result<Vec<JsonLine>, LogError> {
        Ok(self.lines()?.into_iter().filter_map(parse_json).collect())
    }

    /// The last `lines_back` lines of the view, then every new line as it arrives, until
    /// the hub is closed.
    ///
    /// A follower that falls behind loses nothing: it reads the lines it missed back from
    /// the store. If that read fails (the files were removed), the gap is reported as a
    /// bundle warning and following goes on.
    pub fn follow(&self, lines_back: usize) -> Follow {
        let mut follow = Follow::start(self.clone(), lines_back);
        follow.warn_on_failure = true;
        if let Some(error) = follow.failure.take() {
            follow.warn(&error);
        }
        follow
    }

    /// Waits up to `timeout` for the first new line that matches `predicate` (a substring,
    /// a `regex::Regex`, or [`line_where`]); `.lines_back(n)` also looks at the last `n`
    /// lines already there:
    ///
    /// ```no_run
    /// # async fn f(web: teamster::Logs) -> Result<(), teamster::LogWaitError> {
    /// # use std::time::Duration;
    /// let line = web.until("listening", Duration::from_secs(5)).lines_back(100).await?;
    /// # Ok(()) }
    /// ```
    pub fn until<P: LinePredicate>(&self, predicate: P, timeout: Duration) -> Until<'_, P> {
        Wait {
            logs: self,
            predicate,
            timeout,
            lines_back: 0,
            describe: P::describe,
            select: |predicate, line| predicate.matches(&line).then_some(line),
        }
    }

    /// Waits up to `timeout` for the first new JSON line whose value matches `predicate`
    /// (a JSON value it must contain, or [`json_where`]); `.lines_back(n)` as for
    /// [`until`](Self::until).
    pub fn until_json<P: JsonPredicate>(
        &self,
        predicate: P,
        timeout: Duration,
    ) -> UntilJson<'_, P> {
        Wait {
            logs: self,
            predicate,
            timeout,
            lines_back: 0,
            describe: P::describe,
            select: |predicate, line| parse_json(line).filter(|j| predicate.matches(&j.value)),
        }
    }

    async fn wait<T>(
        &self,
        what: String,
        timeout: Duration,
        lines_back: usize,
        mut select: impl FnMut(LogLine) -> Option<T>,
    ) -> Result<T, LogWaitError> {
        let read_error = |source| LogWaitError::Read {
            view: self.describe(),
            source,
        };
        let mut follow = Follow::start(self.clone(), lines_back);
        let search = async {
            loop {
                // Checked before waiting too, so a failed history read is reported at once.
                if let Some(error) = follow.failure.take() {
                    return Err(read_error(error));
                }
                let next = follow.next().await;
                if let Some(error) = follow.failure.take() {
                    return Err(read_error(error));
                }
                let Some(line) = next else {
                    return Err(LogWaitError::Closed {
                        what: what.clone(),
                        view: self.describe(),
                    });
                };
                if let Some(found) = select(line) {
                    return Ok(found);
                }
            }
        };
        match tokio::time::timeout(timeout, search).await {
            Ok(result) => result,
            Err(_elapsed) => Err(LogWaitError::Timeout {
                what,
                view: self.describe(),
                waited: timeout,
                last_lines: self.tail(LAST_LINES_IN_ERRORS).map_err(read_error)?,
            }),
        }
    }
}

/// A wait for a log line, made by [`Logs::until`]; `.await` it for the [`LogLine`].
pub type Until<'a, P> = Wait<'a, P, LogLine>;

/// A wait for a JSON log line, made by [`Logs::until_json`]; `.await` it for the
/// [`JsonLine`].
pub type UntilJson<'a, P> = Wait<'a, P, JsonLine>;

/// A wait for the first line a predicate picks, found as a `T`: [`Until`] (any line) or
/// [`UntilJson`] (a JSON line, by its value). `.await` it.
#[must_use = "a wait does nothing until it is awaited"]
#[derive(Debug)]
pub struct Wait<'a, P, T> {
    logs: &'a Logs,
    predicate: P,
    timeout: Duration,
    lines_back: usize,
    /// What is awaited, for errors.
    describe: fn(&P) -> String,
    /// The line as found, if the predicate picks it.
    select: fn(&P, LogLine) -> Option<T>,
}

impl<P, T> Wait<'_, P, T> {
    /// Also looks at the last `n` lines already there (`usize::MAX`: every line so far),
    /// oldest first; by default only new lines count.
    pub fn lines_back(mut self, n: usize) -> Self {
        self.lines_back = n;
        self
    }
}

impl<'a, P: Send + Sync + 'a, T: Send + 'a> std::future::IntoFuture for Wait<'a, P, T> {
    type Output = Result<T, LogWaitError>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let Wait {
            logs,
            predicate,
            timeout,
            lines_back,
            describe,
            select,
        } = self;
        Box::pin(async move {
            logs.wait(describe(&predicate), timeout, lines_back, |line| {
                select(&predicate, line)
            })
            .await
        })
    }
}

fn parse_json(line: LogLine) -> Option<JsonLine> {
    let trimmed = line.text.trim_start();
    if !trimmed.starts_with(['{', '[']) {
        return None;
    }
    let value = serde_json::from_str(trimmed).ok()?;
    Some(JsonLine { line, value })
}

/// The lines of a view as they arrive: a [`futures_core::Stream`] of [`LogLine`].
///
/// Made by [`Logs::follow`]. Lines come in `seq` order; the stream ends after
/// [`LogHub::close`](super::LogHub::close) once every earlier line has been yielded.
#[derive(Debug)]
pub struct Follow {
    logs: Logs,
    /// Lines to yield before live ones (history, or lines recovered after a lag).
    pending: VecDeque<LogLine>,
    /// `None` once the hub is closed and the last lines were recovered.
    live: Option<BroadcastStream<LogLine>>,
    /// Lines with a smaller `seq` were yielded already or are in `pending`.
    next_seq: u64,
    /// The last read failure, for `until` to return.
    failure: Option<LogError>,
    /// Whether failures become bundle warnings (public followers) or errors (`until`).
    warn_on_failure: bool,
}

impl Follow {
    fn start(logs: Logs, lines_back: usize) -> Follow {
        // Subscribe before the snapshot so that no line falls between the two.
        let live = logs.hub.subscribe().map(BroadcastStream::new);
        let snapshot = logs.snapshot();
        let mut follow = Follow {
            logs,
            pending: VecDeque::new(),
            live,
            next_seq: snapshot.cut,
            failure: None,
            warn_on_failure: false,
        };
        match follow.logs.tail_of(&snapshot, lines_back) {
            Ok(history) => follow.pending = history.into(),
            Err(error) => follow.failure = Some(error),
        }
        if follow.live.is_none() {
            // Closed already: whatever was pushed before is all there will be.
            follow.catch_up();
        }
        follow
    }

    /// Queues every line of the view from `next_seq` up to now, read from the store.
    fn catch_up(&mut self) {
        let snapshot = self.logs.snapshot();
        let mut missed = Vec::new();
        for &(index, end) in &snapshot.ends {
            let store = &self.logs.hub.stores[index];
            let read = store
                .first_line_from_seq(self.next_seq)
                .and_then(|start| store.read_range(start..end, self.logs.stream));
            match read {
                Ok(lines) => missed.extend(lines),
                Err(error) => {
                    if self.warn_on_failure {
                        self.warn(&error);
                    } else {
                        self.failure = Some(error);
                    }
                }
            }
        }
        missed.sort_by_key(|l| l.seq);
        self.pending.extend(missed);
        self.next_seq = snapshot.cut;
    }

    fn warn(&self, error: &LogError) {
        let text = format!(
            "a follower of {} may have missed lines: {error}",
            self.logs.describe()
        );
        self.logs.hub.bundle_lines(Stream::Err, &text);
    }
}

impl AsyncStream for Follow {
    type Item = LogLine;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LogLine>> {
        let this = self.get_mut();
        loop {
            if let Some(line) = this.pending.pop_front() {
                return Poll::Ready(Some(line));
            }
            let Some(live) = this.live.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(live).poll_next(cx)) {
                Some(Ok(line)) => {
                    if line.seq < this.next_seq {
                        continue;
                    }
                    this.next_seq = line.seq + 1;
                    if this.logs.accepts(&line) {
                        return Poll::Ready(Some(line));
                    }
                }
                Some(Err(BroadcastStreamRecvError::Lagged(_))) => this.catch_up(),
                None => {
                    this.live = None;
                    // Lines pushed after the close were stored but not broadcast.
                    this.catch_up();
                }
            }
        }
    }
}

/// A condition on a log line, with a description for error messages.
pub trait LinePredicate: Send + Sync {
    /// Whether `line` is the one awaited.
    fn matches(&self, line: &LogLine) -> bool;
    /// What is awaited, e.g. `a line containing "ready"`.
    fn describe(&self) -> String;
}

impl LinePredicate for &str {
    fn matches(&self, line: &LogLine) -> bool {
        line.text.contains(*self)
    }
    fn describe(&self) -> String {
        format!("a line containing {self:?}")
    }
}

impl LinePredicate for String {
    fn matches(&self, line: &LogLine) -> bool {
        line.text.contains(self.as_str())
    }
    fn describe(&self) -> String {
        LinePredicate::describe(&self.as_str())
    }
}

impl LinePredicate for regex::Regex {
    fn matches(&self, line: &LogLine) -> bool {
        self.is_match(&line.text)
    }
    fn describe(&self) -> String {
        format!("a line matching /{}/", self.as_str())
    }
}

impl LinePredicate for crate::bundle::spec::LinePattern {
    fn matches(&self, line: &LogLine) -> bool {
        self.is_match(&line.text)
    }
    fn describe(&self) -> String {
        format!("a line matching {self}")
    }
}

/// A condition on a parsed JSON line, with a description for error messages.
pub trait JsonPredicate: Send + Sync {
    /// Whether `value` is the one awaited.
    fn matches(&self, value: &Value) -> bool;
    /// What is awaited, e.g. `a JSON line containing {"event":"ready"}`.
    fn describe(&self) -> String;
}

/// A JSON value as a pattern: objects match objects holding at least the same keys with
/// matching values (recursively); anything else must be equal.
impl JsonPredicate for Value {
    fn matches(&self, value: &Value) -> bool {
        json_contains(value, self)
    }
    fn describe(&self) -> String {
        format!("a JSON line containing {self}")
    }
}

fn json_contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(value), Value::Object(pattern)) => pattern
            .iter()
            .all(|(key, p)| value.get(key).is_some_and(|v| json_contains(v, p))),
        _ => value == pattern,
    }
}

/// A closure with a description: made by [`line_where`] or [`json_where`].
pub struct Described<F> {
    what: String,
    f: F,
}

impl<F> std::fmt::Debug for Described<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Described")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

/// A line predicate from a closure; `what` completes "waiting for …" in messages.
pub fn line_where<F: Fn(&LogLine) -> bool + Send + Sync>(
    what: impl Into<String>,
    f: F,
) -> Described<F> {
    Described {
        what: what.into(),
        f,
    }
}

/// A JSON predicate from a closure; `what` completes "waiting for …" in messages.
pub fn json_where<F: Fn(&Value) -> bool + Send + Sync>(
    what: impl Into<String>,
    f: F,
) -> Described<F> {
    Described {
        what: what.into(),
        f,
    }
}

impl<F: Fn(&LogLine) -> bool + Send + Sync> LinePredicate for Described<F> {
    fn matches(&self, line: &LogLine) -> bool {
        (self.f)(line)
    }
    fn describe(&self) -> String {
        self.what.clone()
    }
}

impl<F: Fn(&Value) -> bool + Send + Sync> JsonPredicate for Described<F> {
    fn matches(&self, value: &Value) -> bool {
        (self.f)(value)
    }
    fn describe(&self) -> String {
        self.what.clone()
    }
}
