//! The timeline of a real run: `events.jsonl`, its SVG, `Running::timeline`, and the
//! picture a failed start leaves next to its logs.

use teamster::timeline::{PhaseKind, Timeline};

use crate::fixture::{Project, teamster};

const TWO: &str = r#"
[services.db]
command = "sh -c 'sleep 0.2; echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'echo listening; exec sleep 600'"
needs = ["db"]
ready = { log = "listening" }
"#;

/// The `class="phase phase-<kind>"` names of each `<g class="service">`, in order.
fn bars(svg: &str) -> Vec<(String, Vec<String>)> {
    let mut bars = Vec::new();
    for group in svg.split(r#"<g class="service" data-service=""#).skip(1) {
        let name = group.split('"').next().expect("a name").to_owned();
        let body = group.split("</g>").next().expect("a closed group");
        let phases = body
            .split(r#"class="phase phase-"#)
            .skip(1)
            .map(|p| p.split('"').next().expect("a kind").to_owned())
            .collect();
        bars.push((name, phases));
    }
    bars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_is_recorded_and_drawn() {
    let p = Project::new();
    let running = p.start(TWO).await;
    let live = running.timeline();
    assert!(
        live.services.iter().all(|s| s.ready_ms.is_some()),
        "{live:?}"
    );
    let run_dir = running.run_dir().to_owned();
    running.stop().await;

    let t = Timeline::load(&run_dir.join("events.jsonl")).expect("events.jsonl");
    let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(t.services[1].needs, ["db"]);
    // web waited for db: its start began after db was ready, and db took its 200 ms.
    assert!(t.services[1].launched_ms >= t.services[0].ready_ms, "{t:?}");
    assert!(t.services[0].ready_ms >= Some(200), "{t:?}");
    let chain: Vec<String> = t.critical_chain().into_iter().map(|s| s.service).collect();
    assert_eq!(chain, ["web", "db"]);
    let expected = [
        "waiting",
        "configuring",
        "spawning",
        "waiting_ready",
        "ready",
        "stopping",
        "exited",
    ];
    let svg = t.svg();
    let bars = bars(&svg);
    assert_eq!(bars.len(), 2, "one bar per service:\n{svg}");
    for (name, phases) in &bars {
        assert_eq!(phases, &expected, "{name}'s phases in order:\n{svg}");
    }
    assert_eq!(
        svg.matches(r#"<path class="need" data-from="db" data-to="web""#)
            .count(),
        1
    );
    let db = &t.services[0];
    assert_eq!(db.spans[3].kind, PhaseKind::WaitingReady);
    assert_eq!(db.spans[3].label, r#"waiting for log line "up" on output"#);
    assert!(db.stop_ms.is_some());
}

#[test]
fn a_failed_start_leaves_its_picture_and_names_it() {
    let p = Project::new();
    p.bundle_file(
        r#"
[services.db]
command = "sh -c 'echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'echo no config >&2; exit 3'"
needs = ["db"]
ready = { log = "never" }
"#,
    );
    let up = teamster(&p, &["up"]);
    let stderr = String::from_utf8_lossy(&up.stderr);
    let stdout = String::from_utf8_lossy(&up.stdout);
    assert!(
        !stdout.contains("waiting for"),
        "piped: no progress lines: {stdout}"
    );
    assert_eq!(up.status.code(), Some(4), "{stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("timeline of the start: "))
        .unwrap_or_else(|| panic!("no timeline named in:\n{stderr}"));
    let svg = std::fs::read_to_string(line).expect("the named picture exists");
    assert_eq!(bars(&svg).len(), 2);
    assert!(svg.contains("phase-exited"), "{svg}");

    let out = teamster(&p, &["timeline", "--svg", "out.svg"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("start failed after"), "{text}");
    assert!(text.contains("critical chain (web failed"), "{text}");
    assert!(text.contains("└─db @"), "{text}");
    assert!(p.path().join("out.svg").is_file());
}

/// `teamster up --quiet` prints each readiness line and the bundle's own messages, but no
/// service output.
#[test]
fn quiet_up_prints_readiness_but_no_service_output() {
    use std::io::BufRead as _;
    let p = Project::new();
    p.bundle_file(
        r#"
[services.db]
command = "sh -c 'echo db says hello; echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'echo web says hello; exec sleep 600'"
needs = ["db"]
"#,
    );
    let mut child = std::process::Command::new(crate::fixture::teamster_bin())
        .args(["up", "--quiet"])
        .current_dir(p.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn teamster up --quiet");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.expect("a line");
        let done = line.contains("services ready");
        seen.push(line);
        if done {
            break;
        }
    }
    crate::fixture::signal(child.id(), nix::sys::signal::Signal::SIGINT);
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("[teamster] db is ready ("), "{text}");
    assert!(text.contains("[teamster] web is ready ("), "{text}");
    assert!(!text.contains("says hello"), "{text}");
    assert!(!text.contains("waiting for"), "no progress lines: {text}");
}

/// On a terminal (a tmux pane), `teamster up` shows one status line per service under the
/// logs while it starts, and none once the bundle is ready.
#[test]
fn live_progress_on_a_terminal() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("tmux is not installed; skipped");
        return;
    }
    let p = Project::new();
    p.bundle_file(
        r#"
[services.db]
command = "sh -c 'sleep 1.5; echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'echo listening; exec sleep 600'"
needs = ["db"]
ready = { log = "listening" }
"#,
    );
    let socket = format!("teamster-test-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .expect("tmux")
    };
    let command = format!(
        "cd '{}' && env -u NO_COLOR TERM=xterm-256color '{}' up; echo up-exited-$?; sleep 60",
        p.path().display(),
        crate::fixture::teamster_bin()
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "up",
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    let pane =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "up"]).stdout).into_owned();
    let mut during = String::new();
    let shown = crate::fixture::wait_for(std::time::Duration::from_secs(10), || {
        during = pane();
        during.contains("waiting for db") && during.contains(r#"waiting for log line "up""#)
    });
    let mut after = String::new();
    let ready = crate::fixture::wait_for(std::time::Duration::from_secs(20), || {
        after = pane();
        after.contains("services ready")
    });
    tmux(&["send-keys", "-t", "up", "C-c"]);
    // The host is gone, its services stopped, once the shell prints its exit status.
    let exited = crate::fixture::wait_for(std::time::Duration::from_secs(20), || {
        pane().contains("up-exited-")
    });
    tmux(&["kill-server"]);
    assert!(exited, "`teamster up` did not end after Ctrl-C");
    assert!(shown, "no status lines while starting:\n{during}");
    assert!(ready, "never ready:\n{after}");
    assert!(
        !after.contains("waiting for"),
        "status lines left behind:\n{after}"
    );
    assert!(after.contains("[teamster] db is ready"), "{after}");
}
