//! Event-driven matching of log lines against a [`LogReady`] condition.
//!
//! The matcher is fed each captured line exactly once, by the code that reads the pipe, so
//! readiness latency is the time to read one line plus one pattern test. It keeps no history
//! of lines: only how many matches it has seen, which is all the `nth` rule needs.

use crate::bundle::spec::LogReady;
use crate::logs::Stream;

/// Where a [`LogMatcher`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Fewer than `nth` matching lines so far; `seen` counts those that did match.
    Waiting { seen: usize },
    /// The `nth` match happened; the condition holds from now on.
    Matched,
}

/// Watches a service's output for the line that proves it is ready.
///
/// Lines are counted across the selected stream(s) in the order they are fed, so with
/// [`StreamFilter::Any`](crate::bundle::spec::StreamFilter::Any) and `nth = 2`, one match on
/// stdout followed by one on stderr satisfies the condition.
#[derive(Debug, Clone)]
pub struct LogMatcher {
    condition: LogReady,
    progress: Progress,
}

impl LogMatcher {
    /// Creates a matcher that has seen no lines yet.
    ///
    /// An `nth` of zero is treated as one: "the zeroth match" has no useful meaning, and
    /// reading it as "ready at once" would hide a mistake in the bundle file.
    pub fn new(condition: LogReady) -> Self {
        LogMatcher {
            condition,
            progress: Progress::Waiting { seen: 0 },
        }
    }

    /// Offers one line; returns whether the condition holds (now or earlier).
    ///
    /// Once the condition holds, later lines are not even looked at, so a matcher that has
    /// fired costs nothing to keep feeding.
    pub fn feed(&mut self, stream: Stream, line: &str) -> bool {
        let Progress::Waiting { seen } = self.progress else {
            return true;
        };
        if !self.condition.stream.accepts(stream) || !self.condition.pattern.is_match(line) {
            return false;
        }
        let seen = seen + 1;
        if seen >= self.condition.nth.max(1) {
            self.progress = Progress::Matched;
            true
        } else {
            self.progress = Progress::Waiting { seen };
            false
        }
    }

    /// Whether the condition holds.
    pub fn is_ready(&self) -> bool {
        self.progress == Progress::Matched
    }

    /// How many matching lines have been seen, capped at `nth` once the condition holds.
    pub fn matches_seen(&self) -> usize {
        match self.progress {
            Progress::Waiting { seen } => seen,
            Progress::Matched => self.condition.nth.max(1),
        }
    }

    /// The condition this matcher checks.
    pub fn condition(&self) -> &LogReady {
        &self.condition
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::spec::{LinePattern, StreamFilter};

    fn matcher(pattern: LinePattern, stream: StreamFilter, nth: usize) -> LogMatcher {
        LogMatcher::new(LogReady {
            pattern,
            stream,
            nth,
        })
    }

    #[test]
    fn first_substring_match_is_ready_and_stays_ready() {
        let mut m = matcher(
            LinePattern::Contains("listening".into()),
            StreamFilter::Any,
            1,
        );
        assert!(!m.feed(Stream::Out, "starting up"));
        assert!(!m.is_ready());
        assert!(m.feed(Stream::Err, "now listening on :8080"));
        assert!(m.feed(Stream::Out, "unrelated line afterwards"));
        assert!(m.is_ready());
        assert_eq!(m.matches_seen(), 1);
    }

    #[test]
    fn nth_match_counts_across_both_streams() {
        let mut m = matcher(LinePattern::Contains("ready".into()), StreamFilter::Any, 3);
        assert!(!m.feed(Stream::Out, "ready 1"));
        assert!(!m.feed(Stream::Err, "noise"));
        assert!(!m.feed(Stream::Err, "ready 2"));
        assert_eq!(m.matches_seen(), 2);
        assert!(m.feed(Stream::Out, "ready 3"));
        assert_eq!(m.matches_seen(), 3);
    }

    #[test]
    fn stream_filter_ignores_matches_on_the_other_stream() {
        let mut m = matcher(
            LinePattern::Contains("ready".into()),
            StreamFilter::Stderr,
            2,
        );
        assert!(!m.feed(Stream::Out, "ready"));
        assert!(!m.feed(Stream::Out, "ready"));
        assert!(!m.feed(Stream::Err, "ready"));
        assert_eq!(m.matches_seen(), 1);
        assert!(m.feed(Stream::Err, "ready"));

        let mut m = matcher(
            LinePattern::Contains("ready".into()),
            StreamFilter::Stdout,
            1,
        );
        assert!(!m.feed(Stream::Err, "ready"));
        assert!(m.feed(Stream::Out, "ready"));
    }

    #[test]
    fn regex_pattern_matches() {
        let re = regex::Regex::new(r"^database system is ready to accept ([\w-]+ )?connections$");
        let mut m = matcher(LinePattern::Regex(re.unwrap()), StreamFilter::Any, 1);
        assert!(!m.feed(
            Stream::Err,
            "LOG: database system is ready to accept connections"
        ));
        assert!(m.feed(
            Stream::Err,
            "database system is ready to accept read-only connections"
        ));
    }

    #[test]
    fn zero_nth_means_first_match() {
        let mut m = matcher(LinePattern::Contains("x".into()), StreamFilter::Any, 0);
        assert!(!m.feed(Stream::Out, "nothing"));
        assert!(m.feed(Stream::Out, "x"));
        assert_eq!(m.matches_seen(), 1);
    }
}
