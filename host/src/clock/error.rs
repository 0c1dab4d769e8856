//! Errors of the clock module.

use std::path::PathBuf;

use chrono::Duration;

/// Why a clock could not be created or could not travel.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// `libteamster_clock.so` is nowhere to be found.
    #[error(
        "teamster's clock library was not found; looked for {}; build it with `cargo build -p teamster-clock` or set TEAMSTER_CLOCK_LIB to its path",
        list(searched)
    )]
    PreloadNotFound {
        /// Every path tried, in order.
        searched: Vec<PathBuf>,
    },
    /// `clock = "libfaketime"` but libfaketime is not installed.
    #[error(
        "libfaketime is not installed; looked for {}; install it (Debian: `apt-get install libfaketime`) or use the default clock",
        list(searched)
    )]
    LibfaketimeNotFound {
        /// Every path tried, in order.
        searched: Vec<PathBuf>,
    },
    /// The clock file could not be created, opened or written.
    #[error("cannot write the clock file {}", path.display())]
    File {
        /// The clock file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        cause: std::io::Error,
    },
    /// The travel would put the clock out of the representable range (about ±292 years
    /// from the real time).
    #[error("cannot travel that far: the clock would be {} away from the real time", super::travel::format_offset(*offset))]
    OutOfRange {
        /// The offset the travel asked for (saturated when even that overflowed).
        offset: Duration,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
