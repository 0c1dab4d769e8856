use super::*;

/// A bundle of three: `db` (setup, a TCP probe, poststart), `cache` (a log line) and `web`
/// (needs both; an HTTP probe), started, then stopped.
const LOG: &str = r#"{"t_ms":0,"service":"db","phase":"waiting","needs":[]}
{"t_ms":0,"service":"cache","phase":"waiting","needs":[]}
{"t_ms":0,"service":"web","phase":"waiting","needs":["db","cache"]}
{"t_ms":1,"service":"db","phase":"configuring"}
{"t_ms":2,"service":"db","phase":"setting_up"}
{"t_ms":2,"service":"cache","phase":"configuring"}
{"t_ms":3,"service":"cache","phase":"spawning"}
{"t_ms":9,"service":"cache","phase":"waiting_ready","conditions":["log \"Ready to accept connections\""]}
{"t_ms":60,"service":"cache","phase":"ready"}
{"t_ms":250,"service":"db","phase":"spawning"}
{"t_ms":262,"service":"db","phase":"waiting_ready","conditions":["tcp 5432"]}
{"t_ms":900,"service":"db","phase":"poststart"}
{"t_ms":1000,"service":"db","phase":"ready"}
{"t_ms":1001,"service":"web","phase":"configuring"}
{"t_ms":1002,"service":"web","phase":"spawning"}
{"t_ms":1010,"service":"web","phase":"waiting_ready","conditions":["http http://127.0.0.1:8000/health"]}
{"t_ms":1500,"service":"web","phase":"ready"}
{"t_ms":3000,"service":"web","phase":"stopping"}
{"t_ms":3040,"service":"web","phase":"exited","status":"killed by SIGTERM","expected":true}
{"t_ms":3042,"service":"web","phase":"stopped"}
{"t_ms":3043,"service":"db","phase":"stopping"}
{"t_ms":3043,"service":"cache","phase":"stopping"}
{"t_ms":3100,"service":"db","phase":"exited","status":"exit code 0","expected":true}
{"t_ms":3101,"service":"db","phase":"stopped"}
{"t_ms":3050,"service":"cache","phase":"exited","status":"exit code 0","expected":true}
{"t_ms":3051,"service":"cache","phase":"stopped"}
"#;

/// The same bundle, where `web` exits before it is ready.
const FAILED: &str = r#"{"t_ms":0,"service":"db","phase":"waiting","needs":[]}
{"t_ms":0,"service":"web","phase":"waiting","needs":["db"]}
{"t_ms":1,"service":"db","phase":"configuring"}
{"t_ms":2,"service":"db","phase":"spawning"}
{"t_ms":10,"service":"db","phase":"waiting_ready","conditions":["tcp 5432"]}
{"t_ms":400,"service":"db","phase":"ready"}
{"t_ms":401,"service":"web","phase":"configuring"}
{"t_ms":402,"service":"web","phase":"spawning"}
{"t_ms":410,"service":"web","phase":"waiting_ready","conditions":["tcp 8000"]}
{"t_ms":700,"service":"web","phase":"exited","status":"exit code 3","expected":false}
{"t_ms":705,"service":"web","phase":"stopped"}
{"t_ms":706,"service":"db","phase":"stopping"}
{"t_ms":720,"service":"db","phase":"exited","status":"killed by SIGTERM","expected":true}
{"t_ms":721,"service":"db","phase":"stopped"}
"#;

fn timeline(text: &str) -> Timeline {
    Timeline::parse(text, std::path::Path::new("events.jsonl")).expect("the log parses")
}

#[test]
fn text_of_a_fixed_run() {
    insta::assert_snapshot!(timeline(LOG).text());
}

#[test]
fn text_of_a_failed_start() {
    insta::assert_snapshot!(timeline(FAILED).text());
}

#[test]
fn the_chain_follows_the_need_that_was_ready_last() {
    let chain = timeline(LOG).critical_chain();
    let names: Vec<&str> = chain.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["web", "db"]);
    assert_eq!((chain[0].at_ms, chain[0].took_ms), (1001, 499));
    assert_eq!(
        chain[1].slowest,
        Some(("waiting for tcp 5432".to_owned(), 638))
    );
}

#[test]
fn spans_are_in_order_and_end_where_the_next_begins() {
    let t = timeline(LOG);
    let db = &t.services[0];
    let kinds: Vec<PhaseKind> = db.spans.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            PhaseKind::Waiting,
            PhaseKind::Configuring,
            PhaseKind::SettingUp,
            PhaseKind::Spawning,
            PhaseKind::WaitingReady,
            PhaseKind::Poststart,
            PhaseKind::Ready,
            PhaseKind::Stopping,
            PhaseKind::Exited,
        ]
    );
    for w in db.spans.windows(2) {
        assert_eq!(w[0].end_ms, w[1].start_ms);
    }
    assert_eq!(db.stop_ms, Some(58));
    assert_eq!(t.services[2].needs, ["db", "cache"]);
}

#[test]
fn a_bad_line_is_named() {
    let err = Timeline::parse("{}\n", std::path::Path::new("x/events.jsonl")).unwrap_err();
    insta::assert_snapshot!(crate::error_chain(&err), @"line 1 of the event log x/events.jsonl is not a timeline entry: missing field `t_ms` at line 1 column 2");
}

#[test]
fn svg_has_a_bar_per_service_and_an_arrow_per_need() {
    let svg = timeline(LOG).svg();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(svg.matches(r#"<g class="service""#).count(), 3);
    assert_eq!(svg.matches(r#"<path class="need""#).count(), 2);
    assert!(!svg.contains("<script"));
}

#[test]
fn svg_escapes_what_services_wrote() {
    let log = r#"{"t_ms":0,"service":"a<b>","phase":"waiting","needs":[]}
{"t_ms":5,"service":"a<b>","phase":"failed","reason":"\u001b]0;owned\u0007 & <script>"}
"#;
    let svg = timeline(log).svg();
    assert!(!svg.contains("<script>"));
    assert!(!svg.contains('\u{1b}'));
    assert!(svg.contains("a&lt;b&gt;"));
}

#[test]
fn recorder_appends_only_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS_FILE);
    let r = Recorder::new(Some(path.clone()), None);
    r.record("db", Phase::Waiting { needs: vec![] });
    r.flush().unwrap();
    r.record("db", Phase::Ready);
    r.flush().unwrap();
    r.flush().unwrap();
    let t = Timeline::load(&path).unwrap();
    assert_eq!(t.services[0].spans.len(), 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
}
