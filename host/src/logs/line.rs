//! Splitting raw pipe bytes into lines.
//!
//! The orchestrator reads pipes with cancel-safe `read` calls, so bytes arrive in arbitrary
//! chunks: a line may span several reads and a read may hold many lines. [`LineSplitter`]
//! carries the unfinished tail between calls. Lines are bounded so a service that prints a
//! megabyte without a newline cannot make the host buffer without limit; an overlong line
//! is cut into several lines instead of being dropped, because losing output hides exactly
//! the failures people look for.

/// The default bound on a line's length in bytes (64 KiB).
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// Turns a byte stream into lines: lossy UTF-8, `\n` or `\r\n` terminated, bounded length.
///
/// Lines longer than `max_len` bytes are emitted in pieces of at most `max_len` bytes, cut
/// at a UTF-8 character boundary when one is near, so a multi-byte character is not torn
/// into two replacement characters. Call [`LineSplitter::finish`] at end of file to get
/// the final line that had no terminator.
#[derive(Debug, Clone)]
pub struct LineSplitter {
    /// Bytes of the current, unfinished line.
    pending: Vec<u8>,
    max_len: usize,
}

impl LineSplitter {
    /// A splitter emitting lines of at most `max_len` bytes (at least 4, so any character fits).
    pub fn new(max_len: usize) -> Self {
        LineSplitter {
            pending: Vec::new(),
            max_len: max_len.max(4),
        }
    }

    /// The bound on a line's length, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Feeds bytes, calling `emit` for every line they complete, in order.
    pub fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(String)) {
        let mut rest = bytes;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(nl);
            rest = &after[1..];
            if self.pending.is_empty() {
                // Fast path: the whole line is in this chunk, so it needs no copy into `pending`.
                self.emit_bounded(line, &mut emit);
            } else {
                let mut joined = std::mem::take(&mut self.pending);
                joined.extend_from_slice(line);
                self.emit_bounded(&joined, &mut emit);
                // Reuse the allocation for the next partial line.
                joined.clear();
                self.pending = joined;
            }
        }
        if !rest.is_empty() {
            self.pending.extend_from_slice(rest);
            self.drain_overlong(&mut emit);
        }
    }

    /// Emits the final line if the stream ended without a terminator. The splitter is empty
    /// afterwards and can be reused.
    pub fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.emit_bounded(&last, &mut emit);
        }
    }

    /// Emits a complete line (without its `\n`), cutting it if it is too long.
    fn emit_bounded(&self, line: &[u8], emit: &mut impl FnMut(String)) {
        let mut line = line.strip_suffix(b"\r").unwrap_or(line);
        while line.len() > self.max_len {
            let cut = self.cut_point(line);
            emit(lossy(&line[..cut]));
            line = &line[cut..];
        }
        emit(lossy(line));
    }

    /// While the unfinished line is too long, emits full-size pieces of it.
    ///
    /// A trailing `\r` is not counted: it may be the first half of a `\r\n` split across
    /// reads, and counting it would turn a line of exactly `max_len` bytes into two.
    fn drain_overlong(&mut self, emit: &mut impl FnMut(String)) {
        let content_len = |p: &[u8]| p.len() - usize::from(p.last() == Some(&b'\r'));
        if content_len(&self.pending) <= self.max_len {
            return;
        }
        let mut start = 0;
        while content_len(&self.pending[start..]) > self.max_len {
            let cut = self.cut_point(&self.pending[start..]);
            emit(lossy(&self.pending[start..start + cut]));
            start += cut;
        }
        self.pending.drain(..start);
    }

    /// Where to cut `line` (longer than `max_len`): at `max_len`, moved back by up to three
    /// bytes if that would split a UTF-8 character.
    fn cut_point(&self, line: &[u8]) -> usize {
        let is_continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
        let mut cut = self.max_len;
        while cut > self.max_len - 3 && is_continuation(line[cut]) {
            cut -= 1;
        }
        if is_continuation(line[cut]) {
            // Not valid UTF-8 here anyway: cut at the bound rather than anywhere else.
            self.max_len
        } else {
            cut
        }
    }
}

/// Decodes UTF-8, replacing invalid sequences. Valid input (nearly all output) takes the
/// fast validation path; the lossy decoder is markedly slower and only runs on bad bytes.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one after the other, then finishes.
    fn split(max_len: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::new(max_len);
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |l| lines.push(l));
        }
        splitter.finish(|l| lines.push(l));
        lines
    }

    #[test]
    fn splits_on_newlines_and_strips_crlf() {
        assert_eq!(split(64, &[b"a\nb\r\nc\n"]), ["a", "b", "c"]);
    }

    #[test]
    fn keeps_empty_lines() {
        assert_eq!(split(64, &[b"\n\r\n\nx\n"]), ["", "", "", "x"]);
    }

    #[test]
    fn joins_lines_across_chunks_including_a_split_crlf() {
        assert_eq!(
            split(64, &[b"hel", b"lo\r", b"\nwor", b"ld\n"]),
            ["hello", "world"]
        );
    }

    #[test]
    fn keeps_the_final_partial_line() {
        assert_eq!(split(64, &[b"one\ntwo"]), ["one", "two"]);
        assert_eq!(split(64, &[b"one\ntwo\r"]), ["one", "two"]);
        assert_eq!(split(64, &[b"one\n"]), ["one"]);
    }

    #[test]
    fn a_lone_carriage_return_inside_a_line_is_kept() {
        assert_eq!(split(64, &[b"50%\r100%\n"]), ["50%\r100%"]);
    }

    #[test]
    fn replaces_invalid_utf8() {
        assert_eq!(
            split(64, &[b"ok \xff\xfe end\n"]),
            ["ok \u{fffd}\u{fffd} end"]
        );
    }

    #[test]
    fn invalid_utf8_split_across_chunks_is_decoded_once_whole() {
        // "é" is C3 A9: split between two reads, it must still decode as one character.
        assert_eq!(split(64, &[b"caf\xc3", b"\xa9\n"]), ["café"]);
    }

    #[test]
    fn long_lines_are_cut_never_dropped() {
        let long = "x".repeat(25);
        let input = format!("{long}\nshort\n");
        assert_eq!(
            split(10, &[input.as_bytes()]),
            ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "short"]
        );
    }

    #[test]
    fn long_lines_fed_byte_by_byte_are_cut_the_same_way() {
        let input = format!("{}\nshort\n", "y".repeat(25));
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
        assert_eq!(
            split(10, &chunks),
            ["yyyyyyyyyy", "yyyyyyyyyy", "yyyyy", "short"]
        );
    }

    #[test]
    fn a_line_of_exactly_max_len_is_one_line_even_with_crlf_split_across_reads() {
        assert_eq!(split(4, &[b"abcd\r", b"\nef\n"]), ["abcd", "ef"]);
        assert_eq!(split(4, &[b"abcd", b"\r", b"\n"]), ["abcd"]);
    }

    #[test]
    fn long_lines_are_cut_at_character_boundaries() {
        // Each "é" is two bytes; a cut at 5 bytes would tear the third one.
        let lines = split(5, &["éééé\n".as_bytes()]);
        assert_eq!(lines, ["éé", "éé"]);
        let lines = split(
            5,
            &["éééé"
                .as_bytes()
                .chunks(1)
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .as_slice()],
        );
        assert_eq!(lines, ["éé", "éé"]);
    }

    #[test]
    fn nothing_is_lost_when_cutting_a_huge_line() {
        let input: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let chunks: Vec<&[u8]> = input.chunks(4093).collect();
        let lines = split(1000, &chunks);
        assert!(lines.iter().all(|l| l.len() <= 1000));
        assert_eq!(lines.concat().as_bytes(), input.as_slice());
    }

    #[test]
    fn finish_resets_the_splitter() {
        let mut splitter = LineSplitter::new(64);
        let mut lines = Vec::new();
        splitter.feed(b"a", |l| lines.push(l));
        splitter.finish(|l| lines.push(l));
        splitter.finish(|l| lines.push(l));
        splitter.feed(b"b\n", |l| lines.push(l));
        assert_eq!(lines, ["a", "b"]);
    }
}
