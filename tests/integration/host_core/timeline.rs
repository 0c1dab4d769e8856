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

/// A tmux server of its own running one command in a 120x30 pane; killed when dropped.
struct Pane {
    socket: String,
}

impl Pane {
    /// Runs `teamster <args>` on a terminal in `p`'s directory (colours allowed), then
    /// prints `up-exited-<status>` once it ends.
    fn start(p: &Project, args: &str) -> Option<Pane> {
        if std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_err()
        {
            return None;
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pane = Pane {
            socket: format!("teamster-test-{}-{n}", std::process::id()),
        };
        let command = format!(
            "cd '{}' && env -u NO_COLOR TERM=xterm-256color '{}' {args}; echo up-exited-$?; sleep 60",
            p.path().display(),
            crate::fixture::teamster_bin()
        );
        let started = pane.tmux(&[
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
        Some(pane)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "up"]).stdout).into_owned()
    }

    /// Waits (bounded) until the pane shows something `done` accepts; returns whether it
    /// did, and the last capture.
    fn wait(&self, limit_s: u64, mut done: impl FnMut(&str) -> bool) -> (bool, String) {
        let mut last = String::new();
        let ok = crate::fixture::wait_for(std::time::Duration::from_secs(limit_s), || {
            last = self.capture();
            done(&last)
        });
        (ok, last)
    }

    /// Ctrl-C, then waits for the host to end (its services stopped).
    fn interrupt(&self) -> bool {
        self.tmux(&["send-keys", "-t", "up", "C-c"]);
        self.wait(20, |pane| pane.contains("up-exited-")).0
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// A bundle whose `db` takes 1.5 s, so that its start can be watched.
const SLOW_DB: &str = r#"
[services.db]
command = "sh -c 'sleep 1.5; echo up; exec sleep 600'"
ready = { log = "up" }
[services.web]
command = "sh -c 'echo listening; exec sleep 600'"
needs = ["db"]
ready = { log = "listening" }
"#;

/// On a terminal (a tmux pane), `teamster up` shows one status line per service under the
/// logs while it starts, and none once the bundle is ready.
#[test]
fn live_progress_on_a_terminal() {
    let p = Project::new();
    p.bundle_file(SLOW_DB);
    let Some(pane) = Pane::start(&p, "up") else {
        panic!("tmux is not installed (apt-get install tmux)");
    };
    let (shown, during) = pane.wait(10, |pane| {
        pane.contains("waiting for db") && pane.contains(r#"waiting for log line "up""#)
    });
    let (ready, after) = pane.wait(20, |pane| pane.contains("services ready"));
    assert!(pane.interrupt(), "`teamster up` did not end after Ctrl-C");
    assert!(shown, "no status lines while starting:\n{during}");
    assert!(ready, "never ready:\n{after}");
    assert!(
        !after.contains("waiting for"),
        "status lines left behind:\n{after}"
    );
    assert!(after.contains("[teamster] db is ready"), "{after}");
}

/// `--quiet` on a terminal: readiness lines, but no status lines and no service output.
#[test]
fn quiet_up_on_a_terminal_shows_no_progress() {
    let p = Project::new();
    p.bundle_file(SLOW_DB);
    let Some(pane) = Pane::start(&p, "up --quiet") else {
        panic!("tmux is not installed (apt-get install tmux)");
    };
    // Sampled all through the start: a status line would show during db's 1.5 s.
    let mut seen = String::new();
    let (ready, after) = pane.wait(20, |pane| {
        seen.push_str(pane);
        pane.contains("services ready")
    });
    assert!(
        pane.interrupt(),
        "`teamster up --quiet` did not end after Ctrl-C"
    );
    assert!(ready, "never ready:\n{after}");
    assert!(
        !seen.contains("waiting for"),
        "progress lines under --quiet:\n{seen}"
    );
    assert!(
        !seen.contains("listening"),
        "service output under --quiet:\n{seen}"
    );
    assert!(after.contains("[teamster] db is ready"), "{after}");
}

/// The SVG of a real run opens in headless Chromium with no network: its screenshot is
/// far from blank (compared with the screenshot of an empty SVG of the same size).
#[test]
fn the_svg_renders_in_headless_chromium() {
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|b| std::path::Path::new(b).exists())
        .expect("chromium is not installed (apt-get install chromium)");
    let p = Project::new();
    p.bundle_file(TWO);
    let up = teamster(&p, &["up", "-d"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let down = teamster(&p, &["down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let svg = p.file("timeline.svg");
    let drawn = teamster(&p, &["timeline", "--svg", svg.to_str().unwrap()]);
    assert!(
        drawn.status.success(),
        "{}",
        String::from_utf8_lossy(&drawn.stderr)
    );
    let text = std::fs::read_to_string(&svg).expect("the svg");
    let size = |name: &str| -> u32 {
        let value: f64 = attr(&text, name).parse().expect("a number");
        value.ceil() as u32
    };
    let (width, height) = (size("width"), size("height"));
    let blank = p.file("blank.svg");
    std::fs::write(
        &blank,
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"></svg>"#
        ),
    )
    .unwrap();

    let shot = |file: &std::path::Path, name: &str| -> Vec<u8> {
        let png = p.file(name);
        let out = std::process::Command::new(browser)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                &format!("--window-size={width},{height}"),
                &format!(
                    "--user-data-dir={}",
                    p.file(&format!("{name}.profile")).display()
                ),
                &format!("--screenshot={}", png.display()),
                &format!("file://{}", file.display()),
            ])
            .env("HOME", p.path())
            .output()
            .expect("chromium runs");
        std::fs::read(&png).unwrap_or_else(|e| {
            panic!(
                "no screenshot {} ({e}): {}",
                png.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let picture = shot(&svg, "timeline.png");
    let empty = shot(&blank, "blank.png");
    for png in [&picture, &empty] {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        // IHDR: width and height, big-endian, at bytes 16..24.
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((w, h), (width, height));
    }
    // Bars, labels and arrows compress far worse than a uniform page.
    assert!(
        picture.len() > 4 * empty.len(),
        "the timeline's screenshot ({} bytes) is barely bigger than a blank one ({} bytes)",
        picture.len(),
        empty.len()
    );
}

/// The value of the root element's `name="…"` attribute.
fn attr(svg: &str, name: &str) -> String {
    let root = &svg[svg.find("<svg").expect("an svg element")..];
    let root = &root[..root.find('>').expect("a closed tag")];
    let value = root
        .split(&format!(" {name}=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} on {root}"));
    value.split('"').next().unwrap().to_owned()
}
