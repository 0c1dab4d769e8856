//! The builder with real processes: program lookup, signal state, identity, and the group's
//! death on drop.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

/// The environment variable that marks the re-executed test process of
/// [`children_get_default_signals_whatever_the_host_inherited`].
const INNER: &str = "TEAMSTER_TEST_SIGNALS_INNER";

/// `SigIgn` and `SigBlk` of a child started by `builder`, which must run `grep` on its
/// own `/proc/self/status`.
fn signal_lines(builder: ProcessBuilder) -> String {
    let mut child = builder
        .args(["-E", "^Sig(Ign|Blk)", "/proc/self/status"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn grep");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    assert!(child.wait().expect("wait").success());
    out
}

fn mask_of(lines: &str, field: &str) -> u64 {
    let value = lines
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in {lines}"));
    u64::from_str_radix(value.trim(), 16).expect("hex mask")
}

fn bit(signal: i32) -> u64 {
    1 << (signal - 1)
}

/// A process that ignores SIGQUIT and SIGUSR2 (as under `nohup` or a script's `&`) and
/// blocks SIGUSR1 starts its children with none of that. Run in a re-executed copy of the
/// test binary, since dispositions belong to the whole process.
#[test]
fn children_get_default_signals_whatever_the_host_inherited() {
    if std::env::var_os(INNER).is_none() {
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new("sh")
            .args(["-c", r#"trap '' QUIT USR2; exec "$0" "$@""#])
            .arg(exe)
            .args([
                "--exact",
                "process::builder::tests::children_get_default_signals_whatever_the_host_inherited",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER, "1")
            .output()
            .expect("re-run the test binary");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
        return;
    }
    // SAFETY: blocking a signal on this thread only; nothing else runs in this process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    assert!(signals::needs_reset());

    // The control: what a child inherits when nothing resets it.
    let inherited = signal_lines(ProcessBuilder::new("grep").inherit_signals());
    let ignored = bit(libc::SIGQUIT) | bit(libc::SIGUSR2);
    assert_eq!(
        mask_of(&inherited, "SigIgn:") & ignored,
        ignored,
        "{inherited}"
    );

    for group in [Group::Inherit, Group::NewGroup, Group::NewSession] {
        let lines = signal_lines(ProcessBuilder::new("grep").group(group));
        assert_eq!(mask_of(&lines, "SigIgn:"), 0, "{group:?}: {lines}");
        assert_eq!(mask_of(&lines, "SigBlk:"), 0, "{group:?}: {lines}");
    }
}

/// The signal check agrees with the kernel's view of this thread: a host that ignores
/// nothing but SIGPIPE and the C library's reserved signals (the test harness, usually)
/// adds no code between fork and exec, so its children can be started with `posix_spawn`.
#[test]
fn the_signal_check_agrees_with_the_kernel() {
    let status = std::fs::read_to_string("/proc/thread-self/status").expect("status");
    let ignored = mask_of(&status, "SigIgn:") & !(bit(libc::SIGPIPE) | bit(32) | bit(33));
    let blocked = mask_of(&status, "SigBlk:");
    assert_eq!(
        signals::needs_reset(),
        ignored != 0 || blocked != 0,
        "{status}"
    );
}

#[test]
fn programs_are_found_as_execvp_finds_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let tool = bin.join("tool");
    std::fs::write(&tool, "#!/bin/sh\n").expect("write");
    let plain = bin.join("plain");
    std::fs::write(&plain, "not a program").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let path = Some(OsStr::new("/nonexistent:bin"));
    // A relative PATH entry is taken from the child's directory.
    assert_eq!(
        find_program(Path::new("tool"), path, dir.path()),
        Some(bin.join("tool"))
    );
    // A file without an execute bit is skipped, as `execvp` skips it.
    assert_eq!(find_program(Path::new("plain"), path, dir.path()), None);
    // A name with a slash is a path from the child's directory.
    assert_eq!(
        find_program(Path::new("bin/tool"), None, dir.path()),
        Some(dir.path().join("bin/tool"))
    );
    assert_eq!(find_program(Path::new(""), path, dir.path()), None);
    // No PATH: the default one.
    assert_eq!(
        find_program(Path::new("sh"), None, dir.path()).map(|p| p.parent().map(Path::to_owned)),
        Some(Some(Path::new("/usr/bin").to_owned()))
            .filter(|_| Path::new("/usr/bin/sh").exists())
            .or(Some(Some(Path::new("/bin").to_owned())))
    );
    // The builder looks in the PATH it will give the child.
    let builder = ProcessBuilder::new("tool")
        .env_clear()
        .env("PATH", bin.as_os_str())
        .current_dir(dir.path());
    assert_eq!(builder.find_program(), Some(tool));
}

#[test]
fn spawn_errors_name_what_to_fix() {
    let err = ProcessBuilder::new("no-such-program-xyz")
        .spawn()
        .expect_err("missing");
    insta::assert_snapshot!(crate::error_chain(&err), @"program `no-such-program-xyz` not found");
    let err = ProcessBuilder::new("sh")
        .current_dir("/nonexistent/dir")
        .spawn()
        .expect_err("no dir");
    insta::assert_snapshot!(crate::error_chain(&err), @"working directory `/nonexistent/dir` does not exist");
    let err = ProcessBuilder::from_argv::<&str>(&[]).expect_err("empty");
    insta::assert_snapshot!(crate::error_chain(&err), @"empty command");
}

/// Dropping the handle of a child in its own group kills what it started, too.
#[test]
fn the_group_dies_with_its_handle() {
    let mut child = ProcessBuilder::new("sh")
        .args(["-c", "sleep 600 & echo $!; wait"])
        .stdout(Stdio::piped())
        .group(Group::NewGroup)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    let mut out = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    while out.read(&mut byte).expect("read") == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    let grandchild: u32 = line.trim().parse().expect("pid");
    let (guard, mut leader) = child.into_parts();
    assert!(guard.is_armed());
    drop(guard);
    assert!(leader.wait().is_ok());
    let end = Instant::now() + Duration::from_secs(10);
    while crate::process::is_alive(grandchild) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !crate::process::is_alive(grandchild),
        "{grandchild} outlived its group"
    );

    // A child in the caller's group is never killed that way: it would take the host along.
    let same_group = ProcessBuilder::new("true")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let (guard, mut leader) = same_group.into_parts();
    assert!(!guard.is_armed());
    assert!(leader.wait().is_ok());
}

/// As root, a `user` gives the child that user's ids, groups and login variables.
#[test]
fn a_user_is_taken_whole_when_root() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("not root: `user` has no effect; nothing to check");
        let id = Identity::to_run_as(Some("nobody")).expect("no lookup without root");
        assert!(id.is_none());
        return;
    }
    let nobody = Identity::of_user("nobody").expect("nobody exists");
    let out = ProcessBuilder::new("sh")
        .args(["-c", "echo $(id -u) $(id -g) $USER $LOGNAME $HOME; id -G"])
        .env_clear()
        .env("HOME", "/root")
        .env("PATH", "/usr/bin:/bin")
        .user(Some("nobody"))
        .stdout(Stdio::piped())
        .into_std()
        .expect("builder")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{} {} nobody nobody {}",
                nobody.uid,
                nobody.gid,
                nobody.home.display()
            )
            .as_str()
        )
    );
    // Root's supplementary groups are gone; the user's own are there.
    let groups: Vec<u32> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|g| g.parse().expect("gid"))
        .collect();
    let expected: Vec<u32> = nobody.groups.iter().map(|g| g.as_raw()).collect();
    assert_eq!(
        groups.iter().collect::<std::collections::BTreeSet<_>>(),
        expected.iter().collect()
    );

    let err = ProcessBuilder::new("true")
        .user(Some("no-such-user-xyz"))
        .spawn()
        .expect_err("unknown user");
    insta::assert_snapshot!(crate::error_chain(&err), @"user `no-such-user-xyz` does not exist");
}
