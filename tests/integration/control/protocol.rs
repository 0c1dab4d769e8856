//! The handshake, every method, bad requests, and follow as a stream.

use serde_json::json;

use super::{Conn, TWO, start};
use crate::fixture::Project;

#[test]
fn the_handshake_comes_first_and_names_the_version() {
    let p = Project::new();
    let d = start(&p, TWO, &[]);
    let mut conn = Conn::connect(&d.socket());
    let early = conn.call("status", json!({})).unwrap_err();
    assert_eq!(early["code"], -32001, "{early}");
    let wrong = conn.call("hello", json!({"protocol": 99})).unwrap_err();
    assert_eq!(wrong["code"], -32002, "{wrong}");
    assert_eq!(wrong["data"]["supported"], json!([1]));
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("protocol 1, not 99"),
        "{wrong}"
    );
    // The host closes a connection that speaks another version.
    assert!(conn.recv().is_none());

    let (_, hello) = Conn::open(&d.socket());
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["phase"], "ready");
    assert_eq!(hello["pid"], d.ready["pid"]);
    assert_eq!(hello["spec_hash"], d.ready["spec_hash"]);
    assert_eq!(hello["detached"], true);
}

#[test]
fn bad_requests_get_json_rpc_errors() {
    let p = Project::new();
    let d = start(&p, TWO, &[]);
    let (mut conn, _) = Conn::open(&d.socket());
    conn.send("this is not json");
    assert_eq!(conn.recv().unwrap()["error"]["code"], -32700);
    conn.send(r#"{"id": 5, "method": "status"}"#);
    let reply = conn.recv().unwrap();
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert_eq!(reply["id"], 5);
    let unknown = conn.call("nope", json!({})).unwrap_err();
    assert_eq!(unknown["code"], -32601);
    assert!(
        unknown["data"]["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("status"))
    );
    let bad = conn.call("logs.query", json!({"tail": "ten"})).unwrap_err();
    assert_eq!(bad["code"], -32602, "{bad}");
    let extra = conn.call("now", json!({"when": 1})).unwrap_err();
    assert_eq!(extra["code"], -32602, "{extra}");
    let missing = conn.call("stats", json!({"service": "zzz"})).unwrap_err();
    assert_eq!(missing["code"], -32010, "{missing}");
    assert_eq!(missing["data"]["services"], json!(["a", "b"]));
    let regex = conn
        .call("logs.wait", json!({"regex": "(", "timeout_ms": 10}))
        .unwrap_err();
    assert_eq!(regex["code"], -32602, "{regex}");
    // The connection still works after every one of them.
    assert!(conn.call("now", json!({})).is_ok());
}

#[test]
fn every_method_answers() {
    let p = Project::new();
    let d = start(&p, TWO, &[]);
    let (mut conn, _) = Conn::open(&d.socket());

    let status = conn.call("status", json!({})).unwrap();
    assert_eq!(status["phase"], "ready");
    let services = status["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    assert_eq!(services[0]["name"], "a");
    assert_eq!(services[0]["state"], "ready");
    assert!(services[0]["pid"].as_u64().unwrap() > 1);
    assert!(services[0]["ready_after_ms"].is_u64());
    assert_eq!(
        conn.call("bundle.wait_ready", json!({})).unwrap()["phase"],
        "ready"
    );

    let all = conn.call("logs.query", json!({"service": "a"})).unwrap();
    let texts: Vec<&str> = all["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"hello") && texts.contains(&"oops"),
        "{texts:?}"
    );
    let err = conn
        .call("logs.query", json!({"service": "a", "stream": "err"}))
        .unwrap();
    assert_eq!(err["lines"].as_array().unwrap().len(), 1, "{err}");
    assert_eq!(err["lines"][0]["stream"], "err");
    let tail = conn.call("logs.query", json!({"tail": 1})).unwrap();
    assert_eq!(tail["lines"].as_array().unwrap().len(), 1);
    let since = conn
        .call("logs.query", json!({"since": all["next_seq"]}))
        .unwrap();
    assert!(
        since["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["seq"].as_u64() >= all["next_seq"].as_u64()),
        "{since}"
    );
    let json_lines = conn
        .call("logs.query", json!({"service": "a", "json": true}))
        .unwrap();
    assert_eq!(json_lines["lines"].as_array().unwrap().len(), 1);
    assert_eq!(json_lines["lines"][0]["value"]["event"], "up");

    let found = conn
        .call(
            "logs.wait",
            json!({"service": "a", "json_contains": {"n": 1}, "timeout_ms": 5000, "lines_back": 100}),
        )
        .unwrap();
    assert_eq!(found["line"]["value"]["event"], "up");
    let regex = conn
        .call(
            "logs.wait",
            json!({"regex": "^b-re", "timeout_ms": 5000, "lines_back": 100}),
        )
        .unwrap();
    assert_eq!(regex["line"]["service"], "b");
    let timeout = conn
        .call(
            "logs.wait",
            json!({"service": "a", "contains": "never printed", "timeout_ms": 50}),
        )
        .unwrap_err();
    assert_eq!(timeout["code"], -32012, "{timeout}");
    assert!(
        timeout["message"]
            .as_str()
            .unwrap()
            .contains("never printed")
    );
    assert!(!timeout["data"]["last_lines"].as_array().unwrap().is_empty());

    let stats = conn.call("stats", json!({"service": "a"})).unwrap();
    assert_eq!(stats["pid"], services[0]["pid"]);
    assert!(stats["rss_bytes"].as_u64().unwrap() > 0);
    assert!(stats["tree"]["processes"].as_u64().unwrap() >= 1);

    let sub = conn
        .call(
            "subcommand",
            json!({"service": "a", "name": "x", "args": []}),
        )
        .unwrap_err();
    assert_eq!(sub["code"], -32014);
    assert!(
        sub["message"].as_str().unwrap().contains("has no kind"),
        "{sub}"
    );

    let now = conn.call("now", json!({})).unwrap();
    let before = chrono::DateTime::parse_from_rfc3339(now["now"].as_str().unwrap()).unwrap();
    let travel = conn.call("travel", json!({"by": "+30d"})).unwrap();
    assert!(
        travel["report"]
            .as_str()
            .unwrap()
            .starts_with("Time travelling to")
    );
    let after = chrono::DateTime::parse_from_rfc3339(travel["now"].as_str().unwrap()).unwrap();
    assert!((after - before).num_days() >= 29, "{before} → {after}");
    let both = conn
        .call("travel", json!({"by": "+1d", "to": "2030-01-01T00:00:00Z"}))
        .unwrap_err();
    assert_eq!(both["code"], -32602);

    conn.call("message", json!({"text": "from the test"}))
        .unwrap();
    conn.call("message", json!({"text": "careful", "warning": true}))
        .unwrap();
    let bundle = conn
        .call("logs.query", json!({"service": "teamster"}))
        .unwrap();
    let lines = bundle["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["text"] == "from the test" && l["stream"] == "out")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["text"] == "careful" && l["stream"] == "err")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap().starts_with("Time travelling"))
    );

    conn.call("console", json!({"paused": true})).unwrap();
    conn.call("console", json!({"paused": false})).unwrap();

    let lease = conn.call("lease.acquire", json!({})).unwrap();
    assert_eq!(lease["leases"], 1);
    assert_eq!(conn.call("lease.release", json!({})).unwrap()["leases"], 0);
    conn.call("control.claim", json!({})).unwrap();
    assert_eq!(
        conn.call("bundle.keep", json!({"keep": true})).unwrap()["kept"],
        true
    );

    let sub = conn.call("logs.follow", json!({"service": "b"})).unwrap();
    conn.call(
        "logs.unfollow",
        json!({"subscription": sub["subscription"]}),
    )
    .unwrap();

    let pid = d.pid();
    conn.call("stop", json!({})).unwrap();
    // The host closes the connection when it exits, once every tree is gone.
    while conn.recv().is_some() {}
    assert!(super::gone_within(pid, std::time::Duration::from_secs(10)));
    for s in services {
        assert!(!crate::fixture::alive(s["pid"].as_u64().unwrap() as u32));
    }
}

#[test]
fn follow_pushes_history_then_new_lines_in_order() {
    let p = Project::new();
    let d = start(
        &p,
        r#"
[services.ticker]
command = ["sh", "-c", "echo start; i=0; while [ $i -lt 50 ]; do echo tick-$i; i=$((i+1)); sleep 0.01; done; exec sleep 1000"]
ready = { log = "start" }
"#,
        &[],
    );
    let (mut conn, _) = Conn::open(&d.socket());
    let sub = conn
        .call(
            "logs.follow",
            json!({"service": "ticker", "stream": "out", "lines_back": 1000}),
        )
        .unwrap()["subscription"]
        .clone();
    let mut texts = Vec::new();
    while texts.last().map(String::as_str) != Some("tick-49") {
        let note = conn.next_other().expect("a pushed line");
        assert_eq!(note["method"], "logs.line", "{note}");
        assert_eq!(note["params"]["subscription"], sub);
        texts.push(note["params"]["line"]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(texts[0], "start");
    let ticks: Vec<String> = (0..50).map(|i| format!("tick-{i}")).collect();
    assert_eq!(texts[1..], ticks[..]);
    // The stream ends with the bundle.
    let mut stopper = Conn::open(&d.socket()).0;
    stopper.call("stop", json!({})).unwrap();
    let mut ended = false;
    while let Some(note) = conn.next_other() {
        if note["method"] == "logs.end" {
            ended = true;
        }
    }
    assert!(ended, "a follower hears the end of the logs");
}

#[test]
fn the_documented_methods_are_the_answered_ones() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/control-protocol.md"
    ))
    .expect("docs/control-protocol.md");
    let mut documented: Vec<String> = Vec::new();
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            for part in heading.split('/') {
                let name = part.trim().trim_matches('`');
                if !name.is_empty() {
                    documented.push(name.to_owned());
                }
            }
        }
    }
    documented.extend(["hello".to_owned(), "control.claim".to_owned()]);
    documented.sort();
    documented.dedup();
    let mut served: Vec<String> = teamster::control::server::METHODS
        .iter()
        .map(|m| (*m).to_owned())
        .collect();
    served.sort();
    assert_eq!(
        documented, served,
        "docs/control-protocol.md and the server disagree"
    );

    // And each documented method is answered by a live host (not -32601).
    let p = Project::new();
    let d = start(&p, TWO, &[]);
    let (mut conn, _) = Conn::open(&d.socket());
    for method in &served {
        if method == "stop" {
            continue;
        }
        if let Err(e) = conn.call(method, json!({})) {
            assert_ne!(e["code"], -32601, "{method}: {e}");
        }
    }
}
