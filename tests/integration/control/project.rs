//! One bundle per project, any project path, attach and refuse, and a SIGKILLed daemon.

use std::time::Duration;

use serde_json::json;

use super::{Conn, TWO, gone_within, start, teamster, up_detached};
use crate::fixture::{Project, alive, read_pid};

#[test]
fn a_second_up_in_the_same_project_is_refused_naming_the_first() {
    let p = Project::new();
    let d = start(&p, TWO, &[]);
    let out = teamster(p.path(), &["up"], None);
    assert_eq!(out.status.code(), Some(8));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "a bundle already runs in this project (pid {}",
            d.pid()
        )),
        "{stderr}"
    );
    // The first one is untouched and still the one every command reaches.
    assert!(alive(d.pid()));
    let status = teamster(p.path(), &["status", "--json"], None);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["pid"], d.ready["pid"]);
    assert_eq!(status["phase"], "ready");
}

#[test]
fn two_detached_starts_at_once_share_one_host() {
    let p = Project::new();
    p.bundle_file(TWO);
    let dir = p.path().to_owned();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || up_detached(&dir, &["--leased"], None))
        })
        .collect();
    let readies: Vec<serde_json::Value> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    let pids: std::collections::BTreeSet<u64> =
        readies.iter().map(|r| r["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 1, "{readies:?}");
    assert_eq!(readies.iter().filter(|r| r["attached"] == false).count(), 1);
    let down = teamster(&dir, &["down"], None);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

#[test]
fn a_changed_bundle_is_refused_with_how_to_restart() {
    let p = Project::new();
    let d = start(&p, TWO, &[]);
    p.bundle_file(&format!("{TWO}\n# changed\n"));
    let out = teamster(p.path(), &["up", "-d"], None);
    assert_eq!(out.status.code(), Some(8));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a different bundle runs in this project"),
        "{stderr}"
    );
    assert!(stderr.contains("`teamster down`"), "{stderr}");
    assert!(alive(d.pid()));
}

#[test]
fn a_project_path_of_200_characters_works() {
    let p = Project::new();
    let mut deep = p.path().to_path_buf();
    while deep.as_os_str().len() < 200 {
        deep.push("a-rather-long-directory-name");
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("bundle.toml"), TWO).unwrap();
    let ready = up_detached(&deep, &[], None);
    let _guard = super::Detached {
        dir: deep.clone(),
        ready: ready.clone(),
    };
    assert!(deep.as_os_str().len() >= 200);
    let now = teamster(&deep, &["now"], None);
    assert!(
        now.status.success(),
        "{}",
        String::from_utf8_lossy(&now.stderr)
    );
    let travel = teamster(&deep, &["travel", "+1d"], None);
    assert!(
        travel.status.success(),
        "{}",
        String::from_utf8_lossy(&travel.stderr)
    );
    assert!(String::from_utf8_lossy(&travel.stdout).starts_with("Time travelling to"));
    let run_json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(ready["run_dir"].as_str().unwrap()).join("run.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(run_json["socket"], ready["socket"]);
    assert!(ready["socket"].as_str().unwrap().len() < 100);
}

#[test]
fn a_sigkilled_daemon_host_leaves_no_process() {
    let p = Project::new();
    let toml = format!(
        r#"
[services.a]
command = ["sh", "-c", "echo $$ > {a}; sleep 1000 & echo $! > {a}.child; echo up; wait"]
ready = {{ log = "up" }}
[services.b]
command = ["sh", "-c", "echo $$ > {b}; exec sleep 1000"]
"#,
        a = p.file("a.pid").display(),
        b = p.file("b.pid").display()
    );
    let d = start(&p, &toml, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pids: Vec<u32> = rt.block_on(async {
        vec![
            read_pid(&p.file("a.pid")).await,
            read_pid(&p.file("a.pid.child")).await,
            read_pid(&p.file("b.pid")).await,
        ]
    });
    let host_children = teamster::process::descendants(d.pid());
    assert!(!host_children.is_empty());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    for pid in pids.iter().chain(host_children.iter()) {
        assert!(
            gone_within(*pid, Duration::from_secs(15)),
            "pid {pid} outlived its SIGKILLed host"
        );
    }
    // Nothing answers any more, and the next command says so.
    let status = teamster(p.path(), &["status"], None);
    assert_eq!(status.status.code(), Some(6));
}

#[test]
fn a_bundle_from_stdin_as_json_runs_and_exec_reaches_it() {
    let p = Project::new();
    let bundle = json!({
        "startup_timeout": "20s",
        "services": {"a": {"command": ["sh", "-c", "echo ready; exec sleep 1000"], "ready": {"log": "ready"}}}
    });
    let ready = up_detached(p.path(), &["-"], Some(&bundle.to_string()));
    let d = super::Detached {
        dir: p.path().to_owned(),
        ready,
    };
    let (mut conn, hello) = Conn::open(&d.socket());
    assert_eq!(hello["bundle"], "<stdin>");
    assert_eq!(
        conn.call("status", json!({})).unwrap()["services"][0]["name"],
        "a"
    );
    // `status` finds the bundle of this directory without a bundle file.
    let status = teamster(p.path(), &["status"], None);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // The same JSON again attaches.
    let again = up_detached(p.path(), &["-"], Some(&bundle.to_string()));
    assert_eq!(again["attached"], true);
}

#[test]
fn a_bad_json_bundle_gets_the_toml_errors_at_json_positions() {
    let p = Project::new();
    let text = "{\n  \"services\": {\n    \"web\": {\n      \"comand\": [\"x\"]\n    }\n  }\n}\n";
    let out = teamster(p.path(), &["check", "-"], Some(text));
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: <stdin>:4:7: "), "{stderr}");
    assert!(
        stderr.contains("`comand`") && stderr.contains("`web`"),
        "{stderr}"
    );
    let out = teamster(p.path(), &["up", "-d", "--json", "-"], Some(text));
    assert_eq!(out.status.code(), Some(3));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["event"], "error");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("<stdin>:4:7: "),
        "{line}"
    );
}

#[test]
fn down_waits_until_every_process_is_gone() {
    let p = Project::new();
    let toml = format!(
        r#"
[services.slow]
command = ["sh", "-c", "echo $$ > {pid}; trap 'sleep 0.3; exit 0' TERM; echo up; while :; do sleep 0.05; done"]
ready = {{ log = "up" }}
"#,
        pid = p.file("slow.pid").display()
    );
    let d = start(&p, &toml, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = rt.block_on(read_pid(&p.file("slow.pid")));
    let out = teamster(p.path(), &["down"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!alive(pid), "`down` returned while the service still ran");
    // `down` returns once the host's lock is released, which the kernel does while the
    // process exits; it turns into a zombie a moment later.
    assert!(
        gone_within(d.pid(), Duration::from_secs(5)),
        "the host outlived `down`"
    );
    let again = teamster(p.path(), &["down"], None);
    assert_eq!(again.status.code(), Some(6));
}

#[test]
fn kind_errors_at_up_point_into_the_file_as_at_check() {
    let p = Project::new();
    p.bundle_file("[services.db]\nkind = \"postgress\"\n");
    for args in [&["up"][..], &["up", "-d"][..]] {
        let out = teamster(p.path(), args, None);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: bundle.toml:2:8: unknown kind `postgress`"),
            "{args:?}: {stderr}"
        );
    }
}
