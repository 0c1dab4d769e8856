//! A child that `teamster exec` hands the terminal to gets the terminal's Ctrl-C; the
//! teamster waiting for it does not die of it.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::start;
use crate::fixture::{Project, teamster_bin};

#[test]
fn ctrl_c_interrupts_the_subcommand_and_exec_exits_with_its_status() {
    let p = Project::new();
    let _bundle = start(
        &p,
        r#"
[services.app]
kind = "generic"
[services.app.config]
command = "echo up; exec sleep 600"
ready_line = "up"
subcommands = { wait = """exec sh -c 'trap "echo interrupted; exit 3" INT; echo started; while :; do sleep 0.05; done'""" }
"#,
        &[],
    );
    // As a shell runs a job: in a process group of its own, which the terminal's Ctrl-C
    // signals as a whole (teamster and the sub-command it waits for).
    let mut exec = Command::new(teamster_bin())
        .args(["exec", "app", "wait"])
        .current_dir(p.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("teamster exec");
    let mut out = BufReader::new(exec.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "started");
    killpg(Pid::from_raw(exec.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let status = exec.wait().expect("wait");
    line.clear();
    out.read_line(&mut line).expect("read");
    assert_eq!(
        (status.code(), status.signal(), line.trim()),
        (Some(3), None, "interrupted"),
        "teamster exec must outlive the Ctrl-C and exit with the sub-command's status"
    );
}
