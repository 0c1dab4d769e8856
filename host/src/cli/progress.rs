//! Live start-up progress on a terminal: one status line per service under the scrolling
//! logs (its phase, a spinner, the time it has taken), gone once the bundle is ready.
//!
//! `indicatif` draws and redraws the lines; hand-written cursor movement breaks on every
//! terminal quirk it already handles (resizes, wide characters, rate limiting). The
//! console's log lines go through [`ProgressWriter`], which hides the status lines while a
//! batch is printed, so the two never tear each other.
//!
//! Shown only when stdout is a terminal, `NO_COLOR` is unset or empty and `TERM` is not
//! `dumb` (and never with `--quiet`): a pipe or a log file gets plain lines.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_stream::StreamExt as _;

use crate::orchestrator::{Event, EventStream};
use crate::timeline::Phase;

/// Whether this process should draw live progress.
pub(super) fn wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_none_or(|t| t == "dumb");
    std::io::stdout().is_terminal() && !no_color && !dumb
}

/// The status lines of a starting bundle.
pub(super) struct Progress {
    multi: MultiProgress,
    /// Every service's line, also held by the task that follows the events.
    bars: Vec<ProgressBar>,
    task: tokio::task::JoinHandle<()>,
}

/// The console's writer while progress is shown: each batch of log lines is printed with
/// the status lines hidden, then they are drawn again below it.
pub(super) struct ProgressWriter(MultiProgress);

impl Write for ProgressWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stdout().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

impl Progress {
    /// One line per service of `services`, following `events` until [`Progress::finish`].
    pub(super) fn start(
        services: &[String],
        mut events: EventStream,
    ) -> (Progress, ProgressWriter) {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let width = services
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix:>{width}}}  {{msg}} ({{elapsed}})"
        ))
        .expect("a valid template");
        let bars: HashMap<String, ProgressBar> = services
            .iter()
            .map(|name| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(name.clone());
                bar.set_message("pending");
                bar.enable_steady_tick(Duration::from_millis(120));
                (name.clone(), bar)
            })
            .collect();
        let all: Vec<ProgressBar> = bars.values().cloned().collect();
        let task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let Event::Phase { service, phase, .. } = event else {
                    continue;
                };
                let Some(bar) = bars.get(&service) else {
                    continue;
                };
                // A ready or failed service's line goes: the log says so already.
                match phase {
                    Phase::Ready | Phase::Failed { .. } | Phase::Exited { .. } => {
                        bar.finish_and_clear()
                    }
                    phase => bar.set_message(phase.label()),
                }
            }
        });
        (
            Progress {
                multi: multi.clone(),
                bars: all,
                task,
            },
            ProgressWriter(multi),
        )
    }

    /// The start is over: the status lines go, the logs keep scrolling as before.
    pub(super) fn finish(self) {
        self.task.abort();
        // Each line's own ticker would otherwise draw it once more after the clear (a
        // service whose ready event the task had not read yet stayed on the screen).
        for bar in &self.bars {
            bar.disable_steady_tick();
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
    }
}
