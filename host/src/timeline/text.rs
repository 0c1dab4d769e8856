//! The timeline as text: a Gantt chart of the start and the critical chain.

use std::fmt::Write as _;

use super::model::{PhaseKind, Timeline};

/// How many columns the chart's bars take.
const WIDTH: u64 = 60;

/// A duration as a reader wants it: `850ms`, `1.234s`.
pub(crate) fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.3}s", ms as f64 / 1000.0)
    }
}

fn glyph(kind: PhaseKind) -> char {
    match kind {
        PhaseKind::Waiting => '.',
        PhaseKind::Configuring => 'c',
        PhaseKind::SettingUp => 's',
        PhaseKind::Spawning => '>',
        PhaseKind::WaitingReady => '~',
        PhaseKind::Poststart => 'p',
        PhaseKind::Ready => '=',
        PhaseKind::Stopping => '-',
        PhaseKind::Exited => 'e',
        PhaseKind::Failed => 'X',
        PhaseKind::Stopped => ' ',
    }
}

impl Timeline {
    /// A Gantt chart of the start (one row per service, one character per phase and time
    /// slice), how long each service took to stop, and the critical chain.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let end = self.start_end_ms().max(1);
        let failed = self.services.iter().any(|s| s.failed_ms.is_some());
        let _ = writeln!(
            out,
            "start {} {} ({} services; one column is {})",
            if failed { "failed after" } else { "took" },
            fmt_ms(self.start_end_ms()),
            self.services.len(),
            fmt_ms(end.div_ceil(WIDTH)),
        );
        let name_w = self
            .services
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        for s in &self.services {
            let mut bar = String::new();
            for col in 0..WIDTH {
                // The phase in force at the middle of the column.
                let t = (2 * col + 1) * end / (2 * WIDTH);
                let kind = s
                    .spans
                    .iter()
                    .rev()
                    .find(|sp| sp.start_ms <= t)
                    .filter(|sp| sp.end_ms > t || sp.kind == PhaseKind::Ready)
                    .map(|sp| sp.kind);
                bar.push(kind.map_or(' ', glyph));
            }
            // The moment of a failure is marked even when no column's middle falls on it.
            if let Some(f) = s.failed_ms.filter(|&f| f <= end) {
                let col = ((f * WIDTH) / end).min(WIDTH - 1) as usize;
                bar = bar
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == col {
                            glyph(PhaseKind::Failed)
                        } else {
                            c
                        }
                    })
                    .collect();
            }
            let outcome = match (s.ready_ms, s.failed_ms) {
                (Some(r), _) => format!("ready {}", fmt_ms(r)),
                (None, Some(f)) => {
                    let why = s
                        .spans
                        .iter()
                        .rev()
                        .find(|sp| matches!(sp.kind, PhaseKind::Failed | PhaseKind::Exited))
                        .map(|sp| sp.label.clone())
                        .unwrap_or_default();
                    format!("{why} at {}", fmt_ms(f))
                }
                (None, None) => match s.spans.last() {
                    Some(sp) => format!("still {}", sp.label),
                    None => String::new(),
                },
            };
            let stop = s
                .stop_ms
                .map(|ms| format!(", stopped in {}", fmt_ms(ms)))
                .unwrap_or_default();
            let _ = writeln!(out, "{:>name_w$} |{bar}| {outcome}{stop}", s.name);
        }
        let legend: Vec<String> = [
            PhaseKind::Waiting,
            PhaseKind::Configuring,
            PhaseKind::SettingUp,
            PhaseKind::Spawning,
            PhaseKind::WaitingReady,
            PhaseKind::Poststart,
            PhaseKind::Ready,
            PhaseKind::Failed,
        ]
        .iter()
        .map(|k| match k {
            PhaseKind::Failed => format!("{} failed or exited", glyph(*k)),
            k => format!("{} {}", glyph(*k), k.describe()),
        })
        .collect();
        let _ = writeln!(out, "{:>name_w$}  {}", "", legend.join("  "));
        out.push('\n');
        out.push_str(&self.chain_text());
        out
    }

    /// The critical chain, as `systemd-analyze critical-chain` shows one: the service that
    /// ended the start first, then what it waited for, each with the time its needs were
    /// ready (`@`) and the time it took from there (`+`).
    pub fn chain_text(&self) -> String {
        let chain = self.critical_chain();
        let mut out = String::new();
        let Some(first) = chain.first() else {
            out.push_str("critical chain: no service got anywhere\n");
            return out;
        };
        let _ = writeln!(
            out,
            "critical chain ({} {} at {}; @ when its needs were ready, + how long it took):",
            first.service,
            if first.failed {
                "failed"
            } else {
                "was ready last"
            },
            fmt_ms(first.at_ms + first.took_ms),
        );
        for (depth, step) in chain.iter().enumerate() {
            let indent = if depth == 0 {
                String::new()
            } else {
                format!("{}└─", "  ".repeat(depth - 1))
            };
            let slowest = step
                .slowest
                .as_ref()
                .map(|(label, ms)| format!(" ({label}: {})", fmt_ms(*ms)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{indent}{} @{} +{}{}{slowest}",
                step.service,
                fmt_ms(step.at_ms),
                fmt_ms(step.took_ms),
                if step.failed { " FAILED" } else { "" },
            );
        }
        out
    }
}
