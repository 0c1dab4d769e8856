use std::time::Duration;

use tokio_stream::StreamExt;

use crate::fixture::Project;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_and_follow_see_new_lines() {
    let p = Project::new();
    let r = p
        .bundle(
            "[services.s]\ncommand = [\"sh\", \"-c\", \"echo up; while [ ! -e go ]; do sleep 0.02; done; echo '{\\\"event\\\": \\\"done\\\", \\\"n\\\": 3}'; echo after >&2; exec sleep 600\"]\nready = { log = \"up\" }\n",
        )
        .start()
        .await
        .expect("start");
    let logs = r["s"].logs();
    // stdout only: lines of two pipes have no order between them, so "after" (stderr) may
    // be read before the JSON line even though the shell wrote it later.
    let mut follow = logs.out().follow(1);
    assert_eq!(follow.next().await.expect("backlog").text, "up");
    std::fs::write(p.file("go"), "").expect("write");
    let json = logs
        .until_json(
            serde_json::json!({"event": "done"}),
            Duration::from_secs(10),
        )
        .await
        .expect("json line");
    assert_eq!(json.value["n"], 3);
    let line = logs
        .err()
        .until("after", Duration::from_secs(10))
        .lines_back(10)
        .await
        .expect("stderr line");
    assert_eq!(line.text, "after");
    let next = tokio::time::timeout(Duration::from_secs(10), follow.next())
        .await
        .expect("follow")
        .expect("line");
    assert!(next.text.contains("\"done\""), "{next:?}");
    assert_eq!(logs.json().expect("json").len(), 1);
    r.stop().await;
}

/// Console lines are prefixed with the right-aligned service name, `Err` for stderr.
#[test]
fn console_prefixes() {
    let p = Project::new();
    p.bundle_file(
        r#"
[services.db]
command = "sh -c 'echo to out; echo to err >&2; echo up; exec sleep 600'"
ready = { log = "up" }
[services.webapp]
command = "sh -c 'echo hello from web; exec sleep 600'"
needs = ["db"]
ready = { log = "hello" }
"#,
    );
    let mut child = std::process::Command::new(crate::fixture::teamster_bin())
        .arg("up")
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if std::io::BufRead::read_line(&mut out, &mut l).expect("read") == 0 {
            break;
        }
        if l.contains("services ready") {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            )
            .expect("interrupt");
        }
        lines.push(l);
    }
    child.wait().expect("wait");
    let re = regex::Regex::new(r"\d+(\.\d+)?\s?m?s").expect("regex");
    let mut service_lines: Vec<String> = lines
        .iter()
        .filter(|l| l.contains(" db]") || l.contains(" webapp]"))
        .map(|l| re.replace_all(l, "<T>").into_owned())
        .collect();
    // Two services print concurrently only after db is ready; db's own lines keep their order.
    service_lines.sort();
    insta::assert_snapshot!(service_lines.concat());
}
