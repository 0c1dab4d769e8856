//! Property tests of everything that parses untrusted input: bundle text (TOML and JSON),
//! service output (the line splitter) and control-protocol lines. They run in every
//! `cargo test` with a few hundred cases each; for a long run set `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=200000 cargo test -p teamster --lib proptests`. A failure prints the
//! minimal input; add it to the unit tests (or `tests/data/bad-bundles/`) as a case.

use std::path::Path;

use proptest::prelude::*;

use crate::bundle::spec::BundleSpec;
use crate::logs::LineSplitter;

/// Text that looks like a bundle file: keys, tables, values and junk mixed.
fn bundle_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[services.web]\n".to_owned()),
        Just("[services.db]\n".to_owned()),
        Just("command = \"srv\"\n".to_owned()),
        Just("command = [\"a\", \"${db.url}\"]\n".to_owned()),
        Just("needs = [\"db\"]\n".to_owned()),
        Just("ready = { log = \"up\", tcp = 8000 }\n".to_owned()),
        Just("ready = [{ http = { url = \"http://x/\", status = 200 } }]\n".to_owned()),
        Just("env = { A = \"${env.HOME}\", B = 1 }\n".to_owned()),
        Just("connection = { url = \"${self.port}\", port = 1 }\n".to_owned()),
        Just("kind = \"postgres\"\n".to_owned()),
        Just("startup_timeout = \"1m30s\"\n".to_owned()),
        Just("stop_signal = 2\n".to_owned()),
        "[a-z_ =\\[\\]{}\"$.0-9\n-]{0,40}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
}

/// Text that looks like a JSON bundle.
fn json_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::json!("x")),
        Just(serde_json::json!(1)),
        Just(serde_json::json!(1.5e300)),
        Just(serde_json::json!(null)),
        Just(serde_json::json!(true)),
        Just(serde_json::json!(["a", "b"])),
        Just(serde_json::json!({"log": "up"})),
    ];
    let keys = prop::sample::select(vec![
        "command",
        "needs",
        "ready",
        "env",
        "kind",
        "config",
        "comand",
        "client_hooks",
        "user",
    ]);
    let service = prop::collection::vec((keys, leaf), 0..5).prop_map(|kv| {
        serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    });
    prop::collection::vec(("[a-z]{1,4}", service), 0..4).prop_map(|services| {
        let services: serde_json::Map<String, serde_json::Value> = services.into_iter().collect();
        serde_json::json!({"services": services}).to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300),
        ..ProptestConfig::default()
    })]

    /// Any text gives a spec or an error, never a panic; an error names the file.
    #[test]
    fn the_bundle_loader_never_panics(text in bundle_like()) {
        if let Err(e) = BundleSpec::parse(&text, Path::new("/p/bundle.toml")) {
            let message = crate::error_chain(&e);
            prop_assert!(message.starts_with("/p/bundle.toml"), "{message}");
        }
    }

    /// The same for JSON; errors point into the JSON text, never past its end.
    #[test]
    fn the_json_loader_never_panics(text in json_like()) {
        if let Err(e) = BundleSpec::parse_json(&text, Path::new("/p/b.json"))
            && let Some(crate::bundle::Location::At { line, .. }) = e.location()
        {
            prop_assert!(*line as usize <= text.lines().count().max(1), "{e}");
        }
    }

    /// Lines are bounded, hold no newline, and lose nothing: ASCII input split into any
    /// chunks comes back as its lines, long ones cut into pieces.
    #[test]
    fn the_line_splitter_keeps_every_byte(
        lines in prop::collection::vec("[ -~]{0,300}", 0..20),
        cuts in prop::collection::vec(0usize..4000, 0..10),
        max_len in 4usize..200,
    ) {
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut cuts = cuts;
        cuts.retain(|c| *c <= input.len());
        cuts.sort_unstable();
        let mut split = LineSplitter::new(max_len);
        let mut out = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            split.feed(&input.as_bytes()[from..cut], |l| out.push(l));
            from = cut;
        }
        split.finish(|l| out.push(l));
        let expected: Vec<String> = lines
            .iter()
            .flat_map(|l| {
                if l.is_empty() {
                    return vec![String::new()];
                }
                l.as_bytes().chunks(max_len).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect()
            })
            .collect();
        prop_assert_eq!(out, expected);
    }

    /// Arbitrary bytes (invalid UTF-8 included) never panic and never give a long line.
    #[test]
    fn the_line_splitter_bounds_any_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..5000),
        max_len in 4usize..100,
    ) {
        let mut split = LineSplitter::new(max_len);
        let mut out = Vec::new();
        split.feed(&bytes, |l| out.push(l));
        split.finish(|l| out.push(l));
        for line in out {
            prop_assert!(!line.contains('\n'));
            // Lossy replacement may grow a cut byte into U+FFFD (3 bytes).
            prop_assert!(line.len() <= max_len * 3, "{} > {max_len}", line.len());
        }
    }
}

/// Control-protocol lines, valid and not, sent to a live server: it answers each (or
/// ignores a response it did not ask for), never panics, and still says hello after.
#[test]
fn the_control_server_survives_any_line() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("c.sock");
    let server = rt.block_on(async {
        crate::control::ControlServer::bind(
            &socket,
            crate::control::ServerOptions {
                bundle: None,
                run_dir: dir.path().to_owned(),
                spec_hash: "h".to_owned(),
                detached: false,
                kept: true,
                grace: std::time::Duration::from_secs(1),
                startup_timeout: std::time::Duration::from_secs(1),
            },
            vec![("web".to_owned(), None)],
        )
        .unwrap()
    });
    // With no bundle behind it, a starting server would hold `bundle.wait_ready` for its
    // whole timeout: a failed start answers everything at once.
    server.failed("no bundle in this test".to_owned(), serde_json::json!({}));
    let line = prop_oneof![
        any::<String>().prop_map(|s| s.replace('\n', " ")),
        Just(r#"{"jsonrpc":"2.0","id":1,"method":"hello","params":{"protocol":1}}"#.to_owned()),
        (
            prop::sample::select(crate::control::server::METHODS.to_vec()),
            prop_oneof![
                Just("{}".to_owned()),
                Just("null".to_owned()),
                Just("[]".to_owned()),
                Just(r#"{"service":"web","timeout_ms":1,"contains":"x"}"#.to_owned()),
                Just(r#"{"service":7}"#.to_owned()),
                Just(r#"{"by":"+1d","to":"x"}"#.to_owned()),
            ],
            prop_oneof![
                Just("1".to_owned()),
                Just("\"a\"".to_owned()),
                Just("null".to_owned())
            ],
        )
            .prop_map(|(m, p, id)| format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{m}","params":{p}}}"#
            )),
        Just(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#.to_owned()),
        Just(r#"{"jsonrpc":"1.0","id":1,"method":"status"}"#.to_owned()),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let writer = std::cell::RefCell::new(stream.try_clone().unwrap());
    let reader = std::cell::RefCell::new(BufReader::new(stream));
    writeln!(
        writer.borrow_mut(),
        r#"{{"jsonrpc":"2.0","id":0,"method":"hello","params":{{"protocol":1}}}}"#
    )
    .unwrap();
    let mut reply = String::new();
    reader.borrow_mut().read_line(&mut reply).unwrap();
    runner
        .run(&line, |text| {
            writeln!(writer.borrow_mut(), "{text}").unwrap();
            // A blank line or a response is not answered; anything else gets one line.
            let answered = !text.trim().is_empty() && !text.contains(r#""result""#);
            if answered && !text.contains(r#""method":"stop""#) {
                let mut reply = String::new();
                reader.borrow_mut().read_line(&mut reply).unwrap();
                let value: serde_json::Value = serde_json::from_str(&reply).unwrap();
                prop_assert!(
                    value.get("result").is_some() || value.get("error").is_some(),
                    "{reply}"
                );
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    drop(server);
}
