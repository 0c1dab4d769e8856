//! Per-service storage: append-only files plus a bounded in-memory window.
//!
//! Every line goes to disk, so nothing is lost however much a service prints, while the
//! most recent lines stay in memory where readiness checks and `tail` find them without a
//! system call. Memory is bounded by the window limits (lines and bytes) plus one small
//! checkpoint per [`CHECKPOINT_EVERY`] lines, so a gigabyte of output costs a few hundred
//! kilobytes of host memory, not a gigabyte.
//!
//! # File format
//!
//! For a service `web` the run's log directory holds:
//! - `web.out` and `web.err`: the text of every stdout / stderr line, each followed by `\n`,
//!   exactly as a human would want to read them;
//! - `web.idx`: one little-endian `u64` per line, in the order the lines arrived, equal to
//!   `seq << 1 | is_err`.
//!
//! A file is created when its first lines are flushed: a service that never writes to
//! stderr has no `.err`, and a silent one has no files at all. Large bundles are mostly
//! quiet services, and creating three inodes for each was the largest part of starting
//! one. Creation happens on the flusher's thread, not on the way from a first line to its
//! readiness check. A missing file reads as empty.
//!
//! The index says, for each successive line of the service, which file holds its text (the
//! next unread line of that file) and its bundle-wide sequence number. Reading the three
//! files front to back therefore rebuilds the service's lines in order, and merging several
//! services by `seq` rebuilds the whole bundle's output in arrival order, with no help from
//! memory ([`read_dir`] does exactly that). The index is flushed after the text files, so a
//! reader racing the writer sees index entries only for lines whose text is on disk, except
//! when a full buffer flushes on its own; readers therefore stop quietly at a missing line.
//!
//! # Seeking
//!
//! Every [`CHECKPOINT_EVERY`] lines the store remembers the byte offsets of both text files
//! and the line's `seq`. Reading from line `k` seeks to the checkpoint at or before `k` and
//! skips at most `CHECKPOINT_EVERY - 1` lines, so `tail` and follower catch-up cost time
//! proportional to what they return, not to the size of the log.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::LogError;
use super::{LogLine, Stream};

/// How many lines separate two seek checkpoints.
pub(crate) const CHECKPOINT_EVERY: u64 = 1024;

/// Buffer size of each writer: large enough that a burst of output costs few system calls.
const WRITE_BUFFER: usize = 64 * 1024;

/// Bounds of a service's in-memory window of recent lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimits {
    /// At most this many lines are kept in memory.
    pub lines: usize,
    /// At most this many bytes of text (plus a fixed per-line overhead) are kept in memory.
    pub bytes: usize,
}

impl WindowLimits {
    /// The default: 10 000 lines or 8 MiB, whichever is reached first.
    pub const DEFAULT: WindowLimits = WindowLimits {
        lines: 10_000,
        bytes: 8 * 1024 * 1024,
    };
}

impl Default for WindowLimits {
    fn default() -> Self {
        WindowLimits::DEFAULT
    }
}

/// What a line costs in the window: its text plus the `LogLine` itself.
fn window_cost(line: &LogLine) -> usize {
    line.text.len() + std::mem::size_of::<LogLine>()
}

/// The paths of a service's three files.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) out: PathBuf,
    pub(crate) err: PathBuf,
    pub(crate) idx: PathBuf,
}

impl Paths {
    pub(crate) fn new(dir: &Path, service: &str) -> Self {
        Paths {
            out: dir.join(format!("{service}.out")),
            err: dir.join(format!("{service}.err")),
            idx: dir.join(format!("{service}.idx")),
        }
    }
}

/// Where the text files stood when line `k * CHECKPOINT_EVERY` was appended.
#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    /// The `seq` of that line.
    seq: u64,
    /// Byte offset of the next stdout line in the `.out` file.
    out: u64,
    /// Byte offset of the next stderr line in the `.err` file.
    err: u64,
}

/// A buffered file that is created when its first bytes are flushed.
///
/// Creating a file can take milliseconds on a busy filesystem, so it never happens on the
/// path from a service's first line to its readiness check: lines wait in the buffer, and
/// the periodic flusher creates the file outside the store's lock
/// ([`ServiceStore::flush_if_dirty`]). Only a buffer that fills up, or a query that needs
/// the lines on disk, creates it in place.
#[derive(Debug)]
struct LazyWriter {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    /// Bytes buffered before a write goes to the file.
    capacity: usize,
}

impl LazyWriter {
    fn new(path: PathBuf) -> Self {
        LazyWriter {
            path,
            file: None,
            buf: Vec::new(),
            capacity: WRITE_BUFFER,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= self.capacity {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffer out, creating (truncating) the file first if needed.
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(create(&self.path)?);
        }
        let file = self.file.as_mut().expect("created above");
        let written = file.write_all(&self.buf);
        self.buf.clear();
        written
    }

    /// The path to create, if bytes wait for a file that does not exist yet.
    fn wants_file(&self) -> Option<PathBuf> {
        (self.file.is_none() && !self.buf.is_empty()).then(|| self.path.clone())
    }

    /// Whether the file exists (as far as this writer knows).
    fn created(&self) -> bool {
        self.file.is_some()
    }
}

fn create(path: &Path) -> io::Result<File> {
    File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}

/// Creates or opens `path` for [`ServiceStore::install_files`], without truncating it: by
/// the time the file is installed, a flush under the lock may have created it and written
/// lines that a truncation here would erase. Installing truncates it instead.
fn create_for_install(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Which of a service's files the writer has created.
#[derive(Debug, Clone, Copy, Default)]
struct Created {
    out: bool,
    err: bool,
    idx: bool,
}

/// Whether the files still receive lines.
#[derive(Debug)]
enum Storage {
    /// Lines are written to the three buffered files.
    Writing {
        out: LazyWriter,
        err: LazyWriter,
        idx: LazyWriter,
    },
    /// A write failed; lines from then on live in the window only.
    Failed(Arc<io::Error>),
}

/// One service's log: its files and its window.
#[derive(Debug)]
pub(crate) struct ServiceStore {
    pub(crate) name: Arc<str>,
    pub(crate) paths: Paths,
    state: Mutex<LogState>,
}

/// The mutable part of a [`ServiceStore`], behind its lock.
#[derive(Debug)]
pub(crate) struct LogState {
    storage: Storage,
    limits: WindowLimits,
    /// Lines appended so far (the next line's local number).
    lines: u64,
    /// Lines known to be complete on disk: everything before this was flushed.
    flushed: u64,
    out_bytes: u64,
    err_bytes: u64,
    checkpoints: Vec<Checkpoint>,
    /// The last lines, oldest first; its back is line `lines - 1`.
    window: VecDeque<LogLine>,
    window_bytes: usize,
}

/// What became of an append, as far as the caller must act on it.
#[derive(Debug)]
pub(crate) enum Appended {
    /// Stored in the files and the window.
    Stored,
    /// This append hit a write error: the files stop here. Reported once.
    StorageFailed(LogError),
    /// Kept in the window only, as the files failed earlier.
    MemoryOnly,
}

impl ServiceStore {
    /// A store whose files will be created in `dir`, each with its first line.
    pub(crate) fn create(dir: &Path, name: &str, limits: WindowLimits) -> Self {
        let paths = Paths::new(dir, name);
        let storage = Storage::Writing {
            out: LazyWriter::new(paths.out.clone()),
            err: LazyWriter::new(paths.err.clone()),
            idx: LazyWriter::new(paths.idx.clone()),
        };
        ServiceStore {
            name: Arc::from(name),
            paths,
            state: Mutex::new(LogState {
                storage,
                limits,
                lines: 0,
                flushed: 0,
                out_bytes: 0,
                err_bytes: 0,
                checkpoints: Vec::new(),
                window: VecDeque::new(),
                window_bytes: 0,
            }),
        }
    }

    /// Locks the state. A panic while holding the lock cannot leave it inconsistent in a way
    /// that matters more than losing logs, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Flushes buffered lines to disk.
    pub(crate) fn flush(&self) -> Result<(), LogError> {
        self.lock().flush(&self.name)
    }

    /// Flushes only if lines were appended since the last flush (for the periodic flusher).
    /// Files still to be created are created first without the lock, so ingestion never
    /// waits for the filesystem's inode allocation.
    pub(crate) fn flush_if_dirty(&self) {
        let wanted = {
            let state = self.lock();
            if state.flushed >= state.lines {
                return;
            }
            state.wanted_files()
        };
        // A failure here is left for `flush()` to meet again, record and report.
        let created: Vec<_> = wanted
            .into_iter()
            .filter_map(|(which, path)| create_for_install(&path).ok().map(|f| (which, f)))
            .collect();
        let mut state = self.lock();
        state.install_files(created);
        // A failure is recorded in the state and reported by `flush()` and queries.
        let _ = state.flush(&self.name);
    }

    /// The service's lines with local numbers in `range` (which must not exceed the number
    /// appended so far), restricted to `stream` if given. Recent lines come from the
    /// window, older ones from the files.
    pub(crate) fn read_range(
        &self,
        range: Range<u64>,
        stream: Option<Stream>,
    ) -> Result<Vec<LogLine>, LogError> {
        let accepts = |line: &LogLine| stream.is_none_or(|s| s == line.stream);
        let mut state = self.lock();
        debug_assert!(range.end <= state.lines);
        let window_start = state.window_start();
        let mut recent = Vec::new();
        if range.end > window_start {
            let from = (range.start.max(window_start) - window_start) as usize;
            let to = (range.end - window_start) as usize;
            recent.extend(state.window.range(from..to).filter(|l| accepts(l)).cloned());
        }
        let file_end = range.end.min(window_start);
        if range.start >= file_end {
            return Ok(recent);
        }
        state.flush_through(file_end, &self.name)?;
        let checkpoint_line = range.start / CHECKPOINT_EVERY * CHECKPOINT_EVERY;
        let checkpoint = state.checkpoints[(range.start / CHECKPOINT_EVERY) as usize];
        let created = state.created();
        // Read the files without the lock: they are append-only and everything up to
        // `file_end` is on disk, so ingestion can go on meanwhile.
        drop(state);
        let mut reader = FileReader::open(
            &self.paths,
            self.name.clone(),
            checkpoint_line,
            checkpoint,
            created,
        )?;
        let mut lines = Vec::new();
        for local in checkpoint_line..file_end {
            let Some(line) = reader.next_line(local >= range.start)? else {
                return Err(LogError::Truncated {
                    path: self.paths.idx.clone(),
                    line: local,
                });
            };
            if local >= range.start && accepts(&line) {
                lines.push(line);
            }
        }
        lines.extend(recent);
        Ok(lines)
    }

    /// The local number of the first line whose `seq` is at least `seq` (or the number of
    /// lines appended if there is none).
    pub(crate) fn first_line_from_seq(&self, seq: u64) -> Result<u64, LogError> {
        let mut state = self.lock();
        if let Some(front) = state.window.front()
            && front.seq < seq
        {
            return Ok(state.window_start() + state.window.partition_point(|l| l.seq < seq) as u64);
        }
        let block = state.checkpoints.partition_point(|c| c.seq < seq);
        if block == 0 {
            return Ok(0);
        }
        // The answer lies in the block that starts at checkpoint `block - 1`: scan its index
        // entries (at most CHECKPOINT_EVERY of them) on disk.
        let start = (block as u64 - 1) * CHECKPOINT_EVERY;
        let end = (start + CHECKPOINT_EVERY).min(state.lines);
        state.flush_through(end, &self.name)?;
        drop(state);
        let idx = File::open(&self.paths.idx).map_err(|e| LogError::read(&self.paths.idx, e))?;
        let mut entries = vec![0u8; ((end - start) * 8) as usize];
        idx.read_exact_at(&mut entries, start * 8)
            .map_err(|e| LogError::read(&self.paths.idx, e))?;
        let position = entries
            .chunks_exact(8)
            .position(|e| u64::from_le_bytes(e.try_into().expect("chunks of 8")) >> 1 >= seq)
            .map_or(end, |p| start + p as u64);
        Ok(position)
    }
}

impl LogState {
    /// Lines appended so far.
    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    /// Lines currently held in memory.
    #[cfg(test)]
    pub(crate) fn window_len(&self) -> usize {
        self.window.len()
    }

    /// Bytes currently held in memory, as counted against [`WindowLimits::bytes`].
    #[cfg(test)]
    pub(crate) fn window_bytes(&self) -> usize {
        self.window_bytes
    }

    /// Which files exist, as far as the writer knows. After a write failure nothing is
    /// known, so nothing is required.
    fn created(&self) -> Created {
        match &self.storage {
            Storage::Writing { out, err, idx } => Created {
                out: out.created(),
                err: err.created(),
                idx: idx.created(),
            },
            Storage::Failed(_) => Created::default(),
        }
    }

    /// The files that have bytes waiting but do not exist yet: 0 = out, 1 = err, 2 = idx.
    fn wanted_files(&self) -> Vec<(usize, PathBuf)> {
        match &self.storage {
            Storage::Writing { out, err, idx } => [out, err, idx]
                .into_iter()
                .enumerate()
                .filter_map(|(i, w)| w.wants_file().map(|p| (i, p)))
                .collect(),
            Storage::Failed(_) => Vec::new(),
        }
    }

    /// Takes files created by [`wanted_files`](Self::wanted_files)' caller.
    fn install_files(&mut self, files: Vec<(usize, File)>) {
        if let Storage::Writing { out, err, idx } = &mut self.storage {
            let mut writers = [out, err, idx];
            for (which, file) in files {
                let writer = &mut writers[which];
                // Emptied only now that it is known to be the writer's file (a stale one of
                // an earlier run, say); if another flush created the file meanwhile, this
                // handle is dropped and that file's lines stay.
                if writer.file.is_none() && file.set_len(0).is_ok() {
                    writer.file = Some(file);
                }
            }
        }
    }

    /// Local number of the oldest line in the window.
    fn window_start(&self) -> u64 {
        self.lines - self.window.len() as u64
    }

    /// Appends a line: to the files (unless they failed) and to the window.
    pub(crate) fn append(&mut self, line: LogLine, service: &str) -> Appended {
        let appended = match &mut self.storage {
            Storage::Writing { out, err, idx } => {
                if self.lines.is_multiple_of(CHECKPOINT_EVERY) {
                    self.checkpoints.push(Checkpoint {
                        seq: line.seq,
                        out: self.out_bytes,
                        err: self.err_bytes,
                    });
                }
                let (file, bytes) = match line.stream {
                    Stream::Out => (out, &mut self.out_bytes),
                    Stream::Err => (err, &mut self.err_bytes),
                };
                let entry = line.seq << 1 | u64::from(line.stream == Stream::Err);
                let written = file
                    .write_all(line.text.as_bytes())
                    .and_then(|()| file.write_all(b"\n"))
                    .and_then(|()| idx.write_all(&entry.to_le_bytes()));
                *bytes += line.text.len() as u64 + 1;
                match written {
                    Ok(()) => Appended::Stored,
                    Err(e) => Appended::StorageFailed(self.fail(e, service)),
                }
            }
            Storage::Failed(_) => Appended::MemoryOnly,
        };
        self.lines += 1;
        self.window_bytes += window_cost(&line);
        self.window.push_back(line);
        while self.window.len() > self.limits.lines
            || (self.window_bytes > self.limits.bytes && self.window.len() > 1)
        {
            let old = self.window.pop_front().expect("window is not empty");
            self.window_bytes -= window_cost(&old);
        }
        appended
    }

    /// Flushes the three files, text first so the index never gets ahead of it on disk.
    fn flush(&mut self, service: &str) -> Result<(), LogError> {
        let result = match &mut self.storage {
            Storage::Writing { out, err, idx } => out
                .flush()
                .and_then(|()| err.flush())
                .and_then(|()| idx.flush()),
            Storage::Failed(source) => {
                return Err(LogError::Write {
                    service: service.to_owned(),
                    source: source.clone(),
                });
            }
        };
        match result {
            Ok(()) => {
                self.flushed = self.lines;
                Ok(())
            }
            Err(e) => Err(self.fail(e, service)),
        }
    }

    /// Makes sure lines before `end` are on disk, flushing only if needed.
    fn flush_through(&mut self, end: u64, service: &str) -> Result<(), LogError> {
        if self.flushed >= end {
            return Ok(());
        }
        self.flush(service)
    }

    /// Records a write failure: files stop receiving lines from now on.
    fn fail(&mut self, error: io::Error, service: &str) -> LogError {
        let source = Arc::new(error);
        self.storage = Storage::Failed(source.clone());
        LogError::Write {
            service: service.to_owned(),
            source,
        }
    }
}

/// Reads a service's lines back from its three files, from a checkpoint onwards. A file
/// that was never created is `None` and reads as empty.
struct FileReader {
    service: Arc<str>,
    paths: Paths,
    idx: Option<BufReader<File>>,
    out: Option<BufReader<File>>,
    err: Option<BufReader<File>>,
    buf: Vec<u8>,
}

impl FileReader {
    /// Opens the files positioned at line `line`, whose offsets `at` describes. A file the
    /// writer has created must be there; any other may be missing, and reads as empty.
    fn open(
        paths: &Paths,
        service: Arc<str>,
        line: u64,
        at: Checkpoint,
        created: Created,
    ) -> Result<Self, LogError> {
        let open_at = |path: &PathBuf, offset: u64, created: bool| {
            let mut file = match File::open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !created => return Ok(None),
                Err(e) => return Err(LogError::read(path, e)),
            };
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| LogError::read(path, e))?;
            Ok::<_, LogError>(Some(BufReader::with_capacity(WRITE_BUFFER, file)))
        };
        Ok(FileReader {
            idx: open_at(&paths.idx, line * 8, created.idx)?,
            out: open_at(&paths.out, at.out, created.out)?,
            err: open_at(&paths.err, at.err, created.err)?,
            service,
            paths: paths.clone(),
            buf: Vec::new(),
        })
    }

    /// Opens the files at their start, for a reader that does not know which exist.
    fn from_start(paths: &Paths, service: Arc<str>) -> Result<Self, LogError> {
        Self::open(
            paths,
            service,
            0,
            Checkpoint {
                seq: 0,
                out: 0,
                err: 0,
            },
            Created::default(),
        )
    }

    /// The next line, or `None` at a clean end of the index. With `keep_text` false the
    /// text is skipped rather than decoded (the line is returned with empty text).
    fn next_line(&mut self, keep_text: bool) -> Result<Option<LogLine>, LogError> {
        let mut entry = [0u8; 8];
        let Some(idx) = self.idx.as_mut() else {
            return Ok(None);
        };
        match idx.read_exact(&mut entry) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(LogError::read(&self.paths.idx, e)),
        }
        let entry = u64::from_le_bytes(entry);
        let (stream, file, path) = if entry & 1 == 1 {
            (Stream::Err, &mut self.err, &self.paths.err)
        } else {
            (Stream::Out, &mut self.out, &self.paths.out)
        };
        self.buf.clear();
        let Some(file) = file.as_mut() else {
            // Indexed, but its file is not on disk yet: the writer is ahead of us.
            return Ok(None);
        };
        file.read_until(b'\n', &mut self.buf)
            .map_err(|e| LogError::read(path, e))?;
        if self.buf.pop() != Some(b'\n') {
            // The index refers to a line whose text has not reached the disk.
            return Ok(None);
        }
        let text = if keep_text {
            super::line::lossy(&self.buf)
        } else {
            String::new()
        };
        Ok(Some(LogLine {
            seq: entry >> 1,
            service: self.service.clone(),
            stream,
            text,
        }))
    }
}

/// Reads every line of a finished (or running) run's log directory from the files alone,
/// merging services in arrival order.
///
/// Services are found by their `.idx` files. A line whose text is not on disk yet (the
/// writer is still running) ends that service's lines.
pub fn read_dir(dir: &Path) -> Result<Vec<LogLine>, LogError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::read(dir, e))?;
    let mut lines = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| LogError::read(dir, e))?.path();
        if path.extension().is_none_or(|ext| ext != "idx") {
            continue;
        }
        let Some(service) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let mut reader = FileReader::from_start(&Paths::new(dir, service), Arc::from(service))?;
        while let Some(line) = reader.next_line(true)? {
            lines.push(line);
        }
    }
    // Each service's lines are already sorted, so this sort merges runs in linear time.
    lines.sort_by_key(|l| l.seq);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, stream: Stream, text: &str) -> LogLine {
        LogLine {
            seq,
            service: Arc::from("svc"),
            stream,
            text: text.to_owned(),
        }
    }

    fn store(dir: &Path, lines: usize) -> ServiceStore {
        ServiceStore::create(
            dir,
            "svc",
            WindowLimits {
                lines,
                bytes: usize::MAX,
            },
        )
    }

    /// Appends `count` lines with seq 10, 13, 16, ... alternating stdout and stderr.
    fn fill(store: &ServiceStore, count: u64) -> Vec<LogLine> {
        let mut state = store.lock();
        (0..count)
            .map(|i| {
                let stream = if i % 3 == 0 { Stream::Err } else { Stream::Out };
                let l = line(10 + 3 * i, stream, &format!("line {i}"));
                assert!(matches!(state.append(l.clone(), "svc"), Appended::Stored));
                l
            })
            .collect()
    }

    #[test]
    fn reads_any_range_from_window_and_files_alike() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path(), 100);
        let all = fill(&store, 5000);
        assert_eq!(store.lock().window_len(), 100);
        for range in [
            0..5000,
            0..1,
            1023..1025,
            4899..4901,
            4950..5000,
            3000..3000,
            2047..4100,
        ] {
            let got = store.read_range(range.clone(), None).expect("read");
            assert_eq!(
                got,
                all[range.start as usize..range.end as usize],
                "range {range:?}"
            );
        }
        let errs = store
            .read_range(1000..1010, Some(Stream::Err))
            .expect("read");
        assert_eq!(
            errs.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["line 1002", "line 1005", "line 1008"]
        );
    }

    #[test]
    fn finds_lines_by_seq_in_window_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path(), 100);
        fill(&store, 5000);
        // seq of line i is 10 + 3i.
        for (seq, expected) in [
            (0, 0),
            (10, 0),
            (11, 1),
            (13, 1),
            (3082, 1024),
            (3083, 1025),
            (14_980, 4990),
            (15_000, 4997),
            (15_007, 4999),
            (15_008, 5000),
            (99_999, 5000),
        ] {
            assert_eq!(
                store.first_line_from_seq(seq).expect("search"),
                expected,
                "seq {seq}"
            );
        }
    }

    /// The periodic flusher creates files outside the lock; a flush under the lock (a query
    /// that needs the lines on disk) may create and fill them in the meantime. The lines it
    /// wrote must survive the flusher's late creation.
    #[test]
    fn a_file_created_meanwhile_keeps_its_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A stale file of an earlier run at the same path.
        std::fs::write(dir.path().join("svc.out"), "stale\n").expect("stale file");
        let store = store(dir.path(), 1);
        let all = fill(&store, 3);
        // The flusher takes the list of files to create under the lock...
        let wanted = store.lock().wanted_files();
        assert_eq!(wanted.len(), 3, "{wanted:?}");
        // ...then a flush under the lock creates them and writes the lines...
        store.flush().expect("flush");
        // ...and only then does the flusher, unlocked, create them too, and install them.
        let created: Vec<_> = wanted
            .into_iter()
            .map(|(which, path)| (which, create_for_install(&path).expect("create")))
            .collect();
        store.lock().install_files(created);
        fill_more(&store, &all);
        let got = store.read_range(0..4, None).expect("read");
        assert_eq!(got[..3], all[..]);
        assert_eq!(got[3].text, "line after");
    }

    /// Appends one more line after `before` and flushes it to disk.
    fn fill_more(store: &ServiceStore, before: &[LogLine]) {
        let seq = before.last().map_or(0, |l| l.seq + 1);
        let mut state = store.lock();
        assert!(matches!(
            state.append(line(seq, Stream::Out, "line after"), "svc"),
            Appended::Stored
        ));
        state.flush("svc").expect("flush");
    }

    /// Without a concurrent flush, installing empties a stale file left at the path.
    #[test]
    fn installing_a_file_empties_a_stale_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("svc.out"), "stale line\n").expect("stale file");
        let store = store(dir.path(), 1);
        let all = fill(&store, 3);
        store.flush_if_dirty();
        let got = store.read_range(0..3, None).expect("read");
        assert_eq!(got, all);
        let out = std::fs::read_to_string(dir.path().join("svc.out")).expect("read file");
        assert!(!out.contains("stale"), "{out:?}");
    }

    #[test]
    fn the_window_respects_its_byte_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = WindowLimits {
            lines: usize::MAX,
            bytes: 10 * (std::mem::size_of::<LogLine>() + 100),
        };
        let store = ServiceStore::create(dir.path(), "svc", limits);
        let mut state = store.lock();
        for seq in 0..1000 {
            state.append(line(seq, Stream::Out, &"z".repeat(100)), "svc");
            assert!(state.window_bytes() <= limits.bytes);
        }
        assert_eq!(state.window_len(), 10);
    }

    #[test]
    fn read_dir_rebuilds_the_order_from_files_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceStore::create(dir.path(), "a", WindowLimits::DEFAULT);
        let b = ServiceStore::create(dir.path(), "b", WindowLimits::DEFAULT);
        let mut expected = Vec::new();
        for seq in 0..3000u64 {
            let (store, name) = if seq % 5 < 2 { (&a, "a") } else { (&b, "b") };
            let stream = if seq % 2 == 0 {
                Stream::Out
            } else {
                Stream::Err
            };
            let l = LogLine {
                seq,
                service: Arc::from(name),
                stream,
                text: format!("{name} {seq}"),
            };
            store.lock().append(l.clone(), name);
            expected.push(l);
        }
        a.flush().expect("flush");
        b.flush().expect("flush");
        assert_eq!(read_dir(dir.path()).expect("read dir"), expected);
    }

    #[test]
    fn a_write_failure_keeps_lines_in_memory_and_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path(), 100);
        // /dev/full accepts the open and fails every write with ENOSPC.
        let full = || LazyWriter {
            path: PathBuf::from("/dev/full"),
            file: Some(
                File::options()
                    .write(true)
                    .open("/dev/full")
                    .expect("open /dev/full"),
            ),
            buf: Vec::new(),
            capacity: 4,
        };
        store.lock().storage = Storage::Writing {
            out: full(),
            err: full(),
            idx: full(),
        };
        let outcome = store
            .lock()
            .append(line(1, Stream::Out, "will not fit"), "svc");
        assert!(
            matches!(outcome, Appended::StorageFailed(LogError::Write { .. })),
            "{outcome:?}"
        );
        let outcome = store
            .lock()
            .append(line(2, Stream::Out, "memory only"), "svc");
        assert!(matches!(outcome, Appended::MemoryOnly), "{outcome:?}");
        assert!(matches!(store.flush(), Err(LogError::Write { .. })));
        let recent = store.read_range(0..2, None).expect("window still serves");
        assert_eq!(recent.len(), 2);
    }
}
