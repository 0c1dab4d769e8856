//! `teamster timeline`: draws a run from its `events.jsonl`, with no host needed, so a
//! failed or finished run can be looked at after the fact.

use std::path::{Path, PathBuf};

use super::ExitCode;
use crate::timeline::{EVENTS_FILE, Timeline};

/// The run directory `run` names (a directory, or a run id under `<run_root>/runs`), or by
/// default the project's current run, or else its newest.
fn find_run(run: Option<&str>, bundle: &Path) -> Result<PathBuf, ExitCode> {
    if let Some(run) = run
        && Path::new(run).join(EVENTS_FILE).is_file()
    {
        return Ok(PathBuf::from(run));
    }
    let root = super::remote::run_root(bundle)?;
    if let Some(run) = run {
        let dir = root.join("runs").join(run);
        if dir.is_dir() {
            return Ok(dir);
        }
        errln!(
            "error: no run `{run}`: neither a run directory nor a run under {}",
            root.join("runs").display()
        );
        return Err(ExitCode::Usage);
    }
    let current = root.join("current");
    if current.join(EVENTS_FILE).is_file() {
        return Ok(current);
    }
    let newest = std::fs::read_dir(root.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(EVENTS_FILE).is_file())
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    match newest {
        Some(e) => Ok(e.path()),
        None => {
            errln!(
                "error: no run with a timeline under {} (start the bundle first)",
                root.display()
            );
            Err(ExitCode::NotRunning)
        }
    }
}

pub(super) fn timeline(run: Option<&str>, bundle: &Path, svg: Option<&Path>) -> ExitCode {
    let dir = match find_run(run, bundle) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let timeline = match Timeline::load(&dir.join(EVENTS_FILE)) {
        Ok(t) => t,
        Err(e) => {
            errln!("error: {}", crate::error_chain(&e));
            return ExitCode::Internal;
        }
    };
    outln!("run {}", dir.display());
    print!("{}", timeline.text());
    if let Some(path) = svg {
        if let Err(e) = std::fs::write(path, timeline.svg()) {
            errln!("error: cannot write {}: {e}", path.display());
            return ExitCode::Internal;
        }
        outln!("picture: {}", path.display());
    }
    ExitCode::Ok
}
