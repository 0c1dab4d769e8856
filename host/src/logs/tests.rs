//! Tests of the hub as the orchestrator uses it: real files in private temp dirs.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tokio_stream::StreamExt;

use super::*;

use crate::test_support::Captured;

fn config(dir: &Path, window_lines: usize) -> LogConfig {
    LogConfig {
        console: ConsoleMode::Quiet,
        window: WindowLimits {
            lines: window_lines,
            bytes: usize::MAX,
        },
        ..LogConfig::new(dir)
    }
}

fn texts(lines: &[LogLine]) -> Vec<String> {
    lines.iter().map(|l| l.text.clone()).collect()
}

/// Pushes `count` lines alternating between services `a` and `b` and, within each,
/// between stdout and stderr; returns them in push order.
fn interleave(hub: &LogHub, count: usize) -> Vec<LogLine> {
    let a = hub.sink("a").expect("a");
    let b = hub.sink("b").expect("b");
    (0..count)
        .map(|i| {
            let sink = if i % 3 == 0 { &b } else { &a };
            let stream = if i % 2 == 0 { Stream::Out } else { Stream::Err };
            sink.push(stream, format!("{} {i}", sink.service()))
        })
        .collect()
}

#[test]
fn order_across_services_and_streams_survives_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 16), &["a", "b"]).expect("hub");
    let pushed = interleave(&hub, 5000);
    assert!(pushed.windows(2).all(|w| w[0].seq < w[1].seq));

    assert_eq!(hub.logs().lines().expect("lines"), pushed);
    let a_err: Vec<_> = pushed
        .iter()
        .filter(|l| &*l.service == "a" && l.stream == Stream::Err)
        .cloned()
        .collect();
    assert_eq!(
        hub.service("a").expect("a").err().lines().expect("lines"),
        a_err
    );
    // The files alone give the same answer.
    hub.flush().expect("flush");
    assert_eq!(read_dir(dir.path()).expect("read dir"), pushed);
    for name in ["a", "b"] {
        for ext in ["out", "err", "idx"] {
            assert!(
                dir.path().join(format!("{name}.{ext}")).is_file(),
                "{name}.{ext}"
            );
        }
    }
    // Files come with their first line: the bundle's own log said nothing.
    for ext in ["out", "err", "idx"] {
        assert!(!dir.path().join(format!("{BUNDLE_SERVICE}.{ext}")).exists());
    }
}

/// Files come with their first line; a stream that never got one reads as empty, from
/// memory and from disk alike, beyond the window too.
#[test]
fn quiet_streams_have_no_files_and_read_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 4), &["talker", "mute"]).expect("hub");
    let talker = hub.sink("talker").expect("talker");
    let pushed: Vec<_> = (0..100)
        .map(|i| talker.push(Stream::Out, format!("out {i}")))
        .collect();
    hub.flush().expect("flush");
    let exists = |name: &str| dir.path().join(name).exists();
    assert!(exists("talker.out") && exists("talker.idx"));
    assert!(!exists("talker.err"));
    assert!(!exists("mute.out") && !exists("mute.err") && !exists("mute.idx"));

    let talker_logs = hub.service("talker").expect("talker");
    assert_eq!(talker_logs.lines().expect("lines"), pushed);
    assert_eq!(talker_logs.err().lines().expect("err lines"), []);
    assert_eq!(
        hub.service("mute").expect("mute").lines().expect("lines"),
        []
    );
    assert_eq!(read_dir(dir.path()).expect("read dir"), pushed);

    // The first stderr line creates its file once flushed, and old stdout lines still read
    // back.
    let late = talker.push(Stream::Err, "late".into());
    hub.flush().expect("flush");
    assert!(exists("talker.err"));
    assert_eq!(talker_logs.err().lines().expect("err lines"), [late]);
    assert_eq!(talker_logs.lines().expect("lines")[..100], pushed[..]);
}

#[test]
fn files_hold_plain_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 16), &["a", "b"]).expect("hub");
    interleave(&hub, 6);
    hub.flush().expect("flush");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("read");
    assert_eq!(read("a.out"), "a 2\na 4\n");
    assert_eq!(read("a.err"), "a 1\na 5\n");
    assert_eq!(read("b.out"), "b 0\n");
    assert_eq!(read("b.err"), "b 3\n");
    assert_eq!(
        std::fs::metadata(dir.path().join("a.idx"))
            .expect("idx")
            .len(),
        4 * 8
    );
}

#[test]
fn the_window_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 100), &["a", "b"]).expect("hub");
    let sink = hub.sink("a").expect("a");
    for i in 0..20_000 {
        sink.push(Stream::Out, format!("line {i}"));
        assert!(hub.inner().stores[0].lock().window_len() <= 100);
    }
    assert_eq!(
        hub.service("a").expect("a").lines().expect("lines").len(),
        20_000
    );
}

#[test]
fn tail_reads_back_from_files_when_the_window_is_too_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 8), &["a", "b"]).expect("hub");
    let pushed = interleave(&hub, 3000);
    let logs = hub.logs();
    assert_eq!(logs.tail(0).expect("tail"), []);
    assert_eq!(logs.tail(3).expect("tail"), pushed[2997..]);
    assert_eq!(logs.tail(2500).expect("tail"), pushed[500..]);
    assert_eq!(logs.tail(1_000_000).expect("tail"), pushed);
    // One stream of one service: the other lines in between must not count.
    let b_out: Vec<_> = pushed
        .iter()
        .filter(|l| &*l.service == "b" && l.stream == Stream::Out)
        .cloned()
        .collect();
    assert_eq!(
        hub.service("b").expect("b").out().tail(300).expect("tail"),
        b_out[b_out.len() - 300..]
    );
}

#[test]
fn bundle_messages_are_printed_aligned_and_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let console = Captured::default();
    let config = LogConfig {
        console: ConsoleMode::Plain,
        writer: Box::new(console.clone()),
        ..config(dir.path(), 16)
    };
    let hub = LogHub::new(config, &["db", "web"]).expect("hub");
    hub.message("starting 2 services");
    hub.sink("db")
        .expect("db")
        .push(Stream::Err, "LOG:  database system is ready".into());
    hub.sink("web")
        .expect("web")
        .push(Stream::Out, "listening on :8080".into());
    hub.warning("web took 3s\nconsider a readiness probe");
    assert!(hub.settle_console(std::time::Duration::from_secs(10)));
    insta::assert_snapshot!(console.text(), @r"
    [teamster] starting 2 services
    [  Err db] LOG:  database system is ready
    [     web] listening on :8080
    [teamster] warning: web took 3s
    [teamster] warning: consider a readiness probe
    ");
    let bundle = hub.service(BUNDLE_SERVICE).expect("bundle");
    assert_eq!(
        texts(&bundle.err().lines().expect("lines")),
        ["web took 3s", "consider a readiness probe"]
    );
    assert_eq!(hub.logs().lines().expect("lines").len(), 5);
}

#[test]
fn embedded_newlines_do_not_break_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 1), &["a"]).expect("hub");
    let sink = hub.sink("a").expect("a");
    sink.push(Stream::Out, "one\ntwo\r\nthree".into());
    sink.push(Stream::Out, "four".into());
    assert_eq!(
        texts(&hub.service("a").expect("a").lines().expect("lines")),
        ["one␤two␤three", "four"]
    );
}

#[test]
fn names_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = |services: &[&str]| {
        LogHub::new(config(dir.path(), 1), services)
            .expect_err("refused")
            .to_string()
    };
    insta::assert_snapshot!(error(&["web", "web"]), @"service name `web` is used twice");
    insta::assert_snapshot!(error(&["teamster"]), @"service name `teamster` cannot be used for logs: it is reserved for the bundle's own messages");
    insta::assert_snapshot!(error(&["../x"]), @"service name `../x` cannot be used for logs: log file names cannot start with `.` or contain `/`");
    assert!(
        LogHub::new(config(dir.path(), 1), &["web"])
            .expect("hub")
            .sink("db")
            .is_none()
    );
}

#[test]
fn json_lines_are_parsed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 2), &["api"]).expect("hub");
    let sink = hub.sink("api").expect("api");
    for text in [
        r#"{"level":"info","msg":"up"}"#,
        "plain text",
        "42",
        "  [1, 2]",
        "{broken",
        r#"{"event":"ready","port":8080}"#,
    ] {
        sink.push(Stream::Out, text.into());
    }
    let json = hub.logs().json().expect("json");
    let values: Vec<_> = json.iter().map(|j| j.value.clone()).collect();
    assert_eq!(
        values,
        [
            json!({"level":"info","msg":"up"}),
            json!([1, 2]),
            json!({"event":"ready","port":8080})
        ]
    );
    assert_eq!(json[1].line.text, "  [1, 2]");
}

#[tokio::test]
async fn until_finds_a_line_in_history_or_among_new_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 4), &["web"]).expect("hub");
    let sink = hub.sink("web").expect("web");
    sink.push(Stream::Out, "ready 1".into());
    for i in 0..10 {
        sink.push(Stream::Out, format!("noise {i}"));
    }
    let web = hub.service("web").expect("web");
    let timeout = Duration::from_secs(10);
    // Far enough back, the old line counts (it is read back from the files).
    let found = web
        .until("ready", timeout)
        .lines_back(100)
        .await
        .expect("found in history");
    assert_eq!(found.text, "ready 1");
    // Not far enough back: only a new line will do.
    let (found, pushed) = tokio::join!(web.until("ready", timeout).lines_back(5), async {
        sink.push(Stream::Out, "ready 2".into())
    });
    assert_eq!(found.expect("found new line"), pushed);
    // The stream filter applies to new lines too.
    let web_out = web.out();
    let (found, _) = tokio::join!(
        web_out.until(regex::Regex::new("^ok$").expect("regex"), timeout),
        async {
            sink.push(Stream::Err, "ok".into());
            sink.push(Stream::Out, "ok".into())
        }
    );
    assert_eq!(found.expect("found").stream, Stream::Out);
}

#[tokio::test]
async fn until_times_out_naming_what_it_waited_for_and_the_last_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 4), &["web"]).expect("hub");
    let sink = hub.sink("web").expect("web");
    sink.push(Stream::Out, "booting".into());
    sink.push(Stream::Err, "cannot bind :8080".into());
    let error = hub
        .service("web")
        .expect("web")
        .until("listening", Duration::from_millis(50))
        .lines_back(10)
        .await
        .expect_err("timeout");
    insta::assert_snapshot!(error.to_string(), @r#"
    timed out after 50ms waiting for a line containing "listening" in `web`; last lines:
      [web] booting
      [Err web] cannot bind :8080
    "#);
    let error = hub
        .service(BUNDLE_SERVICE)
        .expect("bundle")
        .out()
        .until(
            line_where("a greeting", |l| l.text.starts_with("hi")),
            Duration::from_millis(1),
        )
        .lines_back(10)
        .await
        .expect_err("timeout");
    insta::assert_snapshot!(error.to_string(), @"timed out after 1ms waiting for a greeting in stdout of `teamster` (it printed nothing)");
}

#[tokio::test]
async fn until_json_matches_by_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 4), &["api"]).expect("hub");
    let sink = hub.sink("api").expect("api");
    sink.push(Stream::Out, r#"{"event":"ready","port":1}"#.into());
    let api = hub.service("api").expect("api");
    let timeout = Duration::from_secs(10);
    let found = api
        .until_json(json!({"event": "ready"}), timeout)
        .lines_back(10)
        .await
        .expect("found");
    assert_eq!(found.value["port"], 1);
    let (found, _) = tokio::join!(
        api.until_json(
            json_where("port above 1", |v| v["port"].as_u64() > Some(1)),
            timeout
        )
        .lines_back(10),
        async {
            sink.push(Stream::Out, "not json".into());
            sink.push(Stream::Out, r#"{"event":"ready","port":2}"#.into());
        }
    );
    assert_eq!(found.expect("found").value["port"], 2);
    let error = api
        .until_json(json!({"event": "gone"}), Duration::from_millis(1))
        .lines_back(10)
        .await
        .expect_err("timeout");
    assert!(
        error.to_string().starts_with(
            r#"timed out after 1ms waiting for a JSON line containing {"event":"gone"} in `api`"#
        ),
        "{error}"
    );
}

#[tokio::test]
async fn until_fails_when_the_hub_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 4), &["web"]).expect("hub");
    let web = hub.service("web").expect("web");
    let (result, ()) = tokio::join!(web.until("never", Duration::from_secs(10)), async {
        hub.close()
    });
    insta::assert_snapshot!(result.expect_err("closed").to_string(), @r#"logs of `web` ended while waiting for a line containing "never""#);
}

#[tokio::test]
async fn follow_yields_history_then_new_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 4), &["a", "b"]).expect("hub");
    let pushed = interleave(&hub, 20);
    let mut follow = hub.logs().follow(3);
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(follow.next().await.expect("history"));
    }
    assert_eq!(first, pushed[17..]);
    let more = interleave(&hub, 2);
    assert_eq!(follow.next().await.expect("new"), more[0]);
    assert_eq!(follow.next().await.expect("new"), more[1]);
    hub.close();
    assert_eq!(follow.next().await, None);
}

#[tokio::test]
async fn a_lagging_follower_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 64), &["a", "b"]).expect("hub");
    let mut everything = hub.logs().follow(0);
    let mut b_err = hub.service("b").expect("b").err().follow(0);
    // Far more than the follower channel holds, while nobody reads.
    let pushed = interleave(&hub, 50_000);
    hub.close();
    let mut seen = Vec::new();
    while let Some(line) = everything.next().await {
        seen.push(line);
    }
    assert_eq!(seen, pushed);
    let mut seen = Vec::new();
    while let Some(line) = b_err.next().await {
        seen.push(line);
    }
    let expected: Vec<_> = pushed
        .into_iter()
        .filter(|l| &*l.service == "b" && l.stream == Stream::Err)
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_reach_followers_exactly_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = LogHub::new(config(dir.path(), 32), &["a", "b", "c"]).expect("hub");
    let follower = {
        let mut follow = hub.logs().follow(0);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(line) = follow.next().await {
                seen.push(line);
            }
            seen
        })
    };
    let writers: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let sink = hub.sink(name).expect("sink");
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    let stream = if i % 2 == 0 { Stream::Out } else { Stream::Err };
                    sink.push(stream, format!("{name} {i}"));
                }
            })
        })
        .collect();
    // A follower that joins mid-way must also see each line exactly once.
    let mut late = hub.logs().follow(100);
    for writer in writers {
        writer.join().expect("writer");
    }
    hub.close();
    let all = hub.logs().lines().expect("lines");
    assert_eq!(all.len(), 60_000);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(follower.await.expect("follower"), all);
    let mut late_seen = Vec::new();
    while let Some(line) = late.next().await {
        late_seen.push(line);
    }
    let first = late_seen.first().expect("late follower saw lines").seq;
    let from = all.iter().position(|l| l.seq == first).expect("known line");
    assert_eq!(late_seen, all[from..]);
}

#[test]
fn the_flusher_writes_files_without_being_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        flush_interval: Duration::from_millis(5),
        ..config(dir.path(), 4)
    };
    let hub = LogHub::new(config, &["a"]).expect("hub");
    hub.sink("a")
        .expect("a")
        .push(Stream::Out, "soon on disk".into());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let path = dir.path().join("a.out");
    // The file itself appears with the first flush.
    while std::fs::read_to_string(&path).unwrap_or_default() != "soon on disk\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the line never reached {}",
            path.display()
        );
        std::thread::yield_now();
    }
}

#[tokio::test]
async fn unreadable_files_are_reported_not_waited_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs_dir = dir.path().join("logs");
    let hub = LogHub::new(config(&logs_dir, 2), &["web"]).expect("hub");
    let sink = hub.sink("web").expect("web");
    for i in 0..10 {
        sink.push(Stream::Out, format!("line {i}"));
    }
    hub.flush().expect("flush");
    std::fs::remove_dir_all(&logs_dir).expect("remove the log files");
    let web = hub.service("web").expect("web");

    let error = web
        .until("absent", Duration::from_secs(30))
        .lines_back(100)
        .await
        .expect_err("read error");
    insta::assert_snapshot!(error.to_string(), @"cannot read the logs of `web`");
    let cause = std::error::Error::source(&error)
        .expect("a cause")
        .to_string();
    assert!(cause.starts_with("cannot read the log file "), "{cause}");

    // A follower goes on with what it can, and says so.
    let mut follow = web.follow(100);
    sink.push(Stream::Out, "after".into());
    assert_eq!(follow.next().await.expect("live line").text, "after");
    let warnings = hub
        .service(BUNDLE_SERVICE)
        .expect("bundle")
        .err()
        .tail(1)
        .expect("window");
    assert!(
        warnings[0]
            .text
            .starts_with("a follower of `web` may have missed lines: cannot read the log file"),
        "{warnings:?}"
    );
}
