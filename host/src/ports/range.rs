//! Which ports [`allocate`](super::PortAllocator::allocate) scans.
//!
//! The candidates are the ports above [`SCAN_FLOOR`] that lie outside the kernel's ephemeral
//! range. The kernel draws the local port of every outgoing connection (and of every
//! `bind` to port 0) from the ephemeral range, so a port picked there can be taken by any
//! `connect()` on the machine between our check and the service's own bind. Outside that
//! range only explicit binds compete, and those are what the free-port check detects. The
//! floor keeps clear of the well-known ports and of the ports developers configure by hand
//! (3000, 5432, 6379, 8000, 8080, 9000, ...), which a local service may bind later without
//! asking us.

use std::ops::RangeInclusive;

/// The lowest port [`default_ranges`] hands out.
pub(crate) const SCAN_FLOOR: u16 = 10_000;

/// Where Linux publishes its ephemeral port range.
const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Linux's default ephemeral range, assumed when the sysctl cannot be read.
const LINUX_DEFAULT_EPHEMERAL: RangeInclusive<u16> = 32_768..=60_999;

/// Reads the kernel's ephemeral port range, or Linux's default when it is unreadable.
pub(crate) fn ephemeral_range() -> RangeInclusive<u16> {
    std::fs::read_to_string(EPHEMERAL_RANGE_FILE)
        .ok()
        .and_then(|s| parse_ephemeral(&s))
        .unwrap_or(LINUX_DEFAULT_EPHEMERAL)
}

/// Parses the sysctl's "low<TAB>high" format.
pub(crate) fn parse_ephemeral(s: &str) -> Option<RangeInclusive<u16>> {
    let mut it = s.split_whitespace().map(str::parse::<u16>);
    let (lo, hi) = (it.next()?.ok()?, it.next()?.ok()?);
    (lo <= hi && it.next().is_none()).then_some(lo..=hi)
}

/// The ports above [`SCAN_FLOOR`] outside `ephemeral`.
///
/// When the ephemeral range covers everything above the floor there is no safe region
/// left, and the whole region above the floor is returned: locking still keeps teamster
/// bundles apart, only the protection against outgoing connections is lost.
pub(crate) fn default_ranges(ephemeral: RangeInclusive<u16>) -> Vec<RangeInclusive<u16>> {
    let (lo, hi) = (*ephemeral.start(), *ephemeral.end());
    let mut out = Vec::new();
    if lo > SCAN_FLOOR {
        out.push(SCAN_FLOOR..=lo - 1);
    }
    if hi < u16::MAX {
        out.push(hi.max(SCAN_FLOOR - 1) + 1..=u16::MAX);
    }
    if out.is_empty() {
        out.push(SCAN_FLOOR..=u16::MAX);
    }
    out
}

/// A list of disjoint port ranges that can be indexed as one sequence.
#[derive(Debug, Clone)]
pub(crate) struct Candidates {
    ranges: Vec<RangeInclusive<u16>>,
    len: u64,
}

impl Candidates {
    /// Wraps `ranges`, dropping port 0 (which means "any port" to the kernel) and empty
    /// ranges.
    pub(crate) fn new(ranges: Vec<RangeInclusive<u16>>) -> Candidates {
        let ranges: Vec<_> = ranges
            .into_iter()
            .map(|r| (*r.start()).max(1)..=*r.end())
            .filter(|r| !r.is_empty())
            .collect();
        let len = ranges
            .iter()
            .map(|r| u64::from(r.end() - r.start()) + 1)
            .sum();
        Candidates { ranges, len }
    }

    /// How many ports there are.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The ranges, for error messages.
    pub(crate) fn ranges(&self) -> &[RangeInclusive<u16>] {
        &self.ranges
    }

    /// The port at position `i` modulo [`len`](Self::len), so that a scan can start
    /// anywhere and wrap around. `None` only when there are no candidates.
    pub(crate) fn nth_wrapping(&self, i: u64) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let mut i = i % self.len;
        for r in &self.ranges {
            let n = u64::from(r.end() - r.start()) + 1;
            if i < n {
                // `i < n <= 65535`, so the sum stays within the range's end.
                return Some(r.start() + i as u16);
            }
            i -= n;
        }
        unreachable!("an index below the total length falls into one of the ranges")
    }
}
