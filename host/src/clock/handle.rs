//! [`Clock`]: one bundle's shared, travelling clock.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, FixedOffset, Utc};

use super::file::{ClockFile, replace_atomically};
use super::travel::{Travel, format_offset};
use super::{ClockError, layout, libfaketime, preload};
use crate::bundle::spec::ClockKind;

/// The name of the preload injector's clock file inside a run directory.
pub const PRELOAD_FILE_NAME: &str = "clock";
/// The name of libfaketime's timestamp file inside a run directory.
pub const FAKETIME_FILE_NAME: &str = "clock.faketime";

/// A bundle's clock: the offset every faked service adds to its realtime clocks, and the
/// environment that makes a service follow it.
///
/// Travels are serialised, so concurrent relative travels add up exactly. The files stay
/// in the run directory when the clock is dropped, like the logs.
#[derive(Debug)]
pub struct Clock {
    injector: Injector,
    /// Held during a travel, so that read-modify-write of the offset is atomic.
    travelling: Mutex<()>,
}

/// How the offset reaches the services.
#[derive(Debug)]
enum Injector {
    /// `libteamster_clock.so` reading a mapped file.
    Preload {
        /// The preload library.
        library: PathBuf,
        /// The mapped clock file; it holds the offset.
        file: ClockFile,
    },
    /// libfaketime re-reading a timestamp file.
    Libfaketime {
        /// The system's libfaketime.
        library: PathBuf,
        /// The `FAKETIME_TIMESTAMP_FILE`.
        timestamp_file: PathBuf,
        /// The offset last written, in whole seconds.
        offset_secs: AtomicI64,
    },
}

/// What a travel did, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TravelReport {
    /// What the bundle's clock read right after the travel, in the requested time zone
    /// (UTC for relative travels).
    pub now: DateTime<FixedOffset>,
    /// The clock's offset from the real time after the travel.
    pub offset: Duration,
    /// How far this travel moved the clock.
    pub moved_by: Duration,
}

impl fmt::Display for TravelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = if self.now.offset().local_minus_utc() == 0 {
            "UTC".to_owned()
        } else {
            self.now.format("%:z").to_string()
        };
        write!(
            f,
            "Time travelling to {} {zone} ({})",
            self.now.format("%Y-%m-%d %H:%M:%S"),
            format_offset(self.offset)
        )
    }
}

impl Clock {
    /// Creates the clock of a run in `run_dir` (which must exist), at the real time, and
    /// finds the library that `kind` injects.
    pub fn create(run_dir: &Path, kind: ClockKind) -> Result<Clock, ClockError> {
        let injector = match kind {
            ClockKind::Preload => {
                let library = preload::find_preload_library()?;
                let path = run_dir.join(PRELOAD_FILE_NAME);
                let file = ClockFile::create(&path, 0)
                    .map_err(|cause| ClockError::File { path, cause })?;
                Injector::Preload { library, file }
            }
            ClockKind::Libfaketime => {
                let library = libfaketime::find_libfaketime()?;
                let timestamp_file = run_dir.join(FAKETIME_FILE_NAME);
                write_faketime(&timestamp_file, 0)?;
                Injector::Libfaketime {
                    library,
                    timestamp_file,
                    offset_secs: AtomicI64::new(0),
                }
            }
        };
        Ok(Clock {
            injector,
            travelling: Mutex::new(()),
        })
    }

    /// Attaches to the clock an earlier [`Clock::create`] made in `run_dir`, keeping its
    /// offset: how a second teamster process (`teamster travel`) moves a running bundle's
    /// clock.
    pub fn open(run_dir: &Path, kind: ClockKind) -> Result<Clock, ClockError> {
        let injector = match kind {
            ClockKind::Preload => {
                let library = preload::find_preload_library()?;
                let path = run_dir.join(PRELOAD_FILE_NAME);
                let file =
                    ClockFile::open(&path).map_err(|cause| ClockError::File { path, cause })?;
                Injector::Preload { library, file }
            }
            ClockKind::Libfaketime => {
                let library = libfaketime::find_libfaketime()?;
                let timestamp_file = run_dir.join(FAKETIME_FILE_NAME);
                let text =
                    std::fs::read_to_string(&timestamp_file).map_err(|cause| ClockError::File {
                        path: timestamp_file.clone(),
                        cause,
                    })?;
                let offset =
                    libfaketime::parse_timestamp_line(&text).ok_or_else(|| ClockError::File {
                        path: timestamp_file.clone(),
                        cause: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "not a `+N`/`-N` seconds offset",
                        ),
                    })?;
                Injector::Libfaketime {
                    library,
                    timestamp_file,
                    offset_secs: AtomicI64::new(offset),
                }
            }
        };
        Ok(Clock {
            injector,
            travelling: Mutex::new(()),
        })
    }

    /// Which injector this clock uses.
    pub fn kind(&self) -> ClockKind {
        match self.injector {
            Injector::Preload { .. } => ClockKind::Preload,
            Injector::Libfaketime { .. } => ClockKind::Libfaketime,
        }
    }

    /// The preload library a faked service gets in `LD_PRELOAD`.
    pub fn library(&self) -> &Path {
        match &self.injector {
            Injector::Preload { library, .. } | Injector::Libfaketime { library, .. } => library,
        }
    }

    /// The variables a faked service must get, `LD_PRELOAD` included. If the service
    /// already has an `LD_PRELOAD`, combine the two with [`merge_ld_preload`].
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "LD_PRELOAD".to_owned(),
            self.library().display().to_string(),
        )];
        match &self.injector {
            Injector::Preload { file, .. } => {
                env.push((
                    layout::ENV_VAR.to_owned(),
                    file.path().display().to_string(),
                ));
            }
            Injector::Libfaketime { timestamp_file, .. } => {
                env.extend(libfaketime::env(timestamp_file))
            }
        }
        env
    }

    /// Variables to remove from a faked service's environment because they would override
    /// the bundle's clock (libfaketime's `FAKETIME`).
    pub fn env_remove(&self) -> &'static [&'static str] {
        match self.injector {
            Injector::Preload { .. } => &[],
            Injector::Libfaketime { .. } => libfaketime::OVERRIDING_VARS,
        }
    }

    /// The clock's current offset from the real time.
    pub fn offset(&self) -> Duration {
        match &self.injector {
            Injector::Preload { file, .. } => Duration::nanoseconds(file.offset_ns()),
            Injector::Libfaketime { offset_secs, .. } => {
                Duration::seconds(offset_secs.load(Ordering::Acquire))
            }
        }
    }

    /// What the bundle's clock reads now: the real time plus the offset.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }

    /// Moves the clock. A relative travel adds to the current offset; an absolute one sets
    /// the offset to the target minus the real time now. Running processes see it on their
    /// next clock call (preload) or about two seconds later (libfaketime).
    pub fn travel(&self, travel: Travel) -> Result<TravelReport, ClockError> {
        let _travelling = self
            .travelling
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = self.offset();
        let real_now = Utc::now();
        let (wanted, zone) = match travel {
            Travel::By(by) => (
                before.checked_add(&by),
                FixedOffset::east_opt(0).expect("UTC"),
            ),
            Travel::To(target) => (
                Some(target.with_timezone(&Utc) - real_now),
                *target.offset(),
            ),
        };
        let out_of_range = || ClockError::OutOfRange {
            offset: wanted.unwrap_or(Duration::MAX),
        };
        let wanted_ns = wanted
            .and_then(|w| w.num_nanoseconds())
            .ok_or_else(out_of_range)?;
        // The offset must also keep the faked clock itself in range.
        real_now
            .checked_add_signed(Duration::nanoseconds(wanted_ns))
            .ok_or_else(out_of_range)?;
        let offset = match &self.injector {
            Injector::Preload { file, .. } => {
                file.set_offset_ns(wanted_ns);
                Duration::nanoseconds(wanted_ns)
            }
            Injector::Libfaketime {
                timestamp_file,
                offset_secs,
                ..
            } => {
                // libfaketime takes whole seconds; round to the nearest.
                let secs = (i128::from(wanted_ns) + 500_000_000).div_euclid(1_000_000_000) as i64;
                write_faketime(timestamp_file, secs)?;
                offset_secs.store(secs, Ordering::Release);
                Duration::seconds(secs)
            }
        };
        Ok(TravelReport {
            now: (real_now + offset).with_timezone(&zone),
            offset,
            moved_by: offset - before,
        })
    }
}

fn write_faketime(path: &Path, offset_secs: i64) -> Result<(), ClockError> {
    replace_atomically(path, libfaketime::timestamp_line(offset_secs).as_bytes()).map_err(|cause| {
        ClockError::File {
            path: path.to_owned(),
            cause,
        }
    })
}

/// Puts `ours` first in an `LD_PRELOAD` value, keeping what the service already preloads
/// after it (without a second copy of ours). The clock library comes first so that its
/// definitions win over any other preloaded library's.
pub fn merge_ld_preload(ours: &str, existing: Option<&str>) -> String {
    // ld.so separates entries with colons or spaces.
    let others = existing
        .unwrap_or_default()
        .split([':', ' '])
        .filter(|entry| !entry.is_empty() && *entry != ours);
    std::iter::once(ours)
        .chain(others)
        .collect::<Vec<_>>()
        .join(":")
}
