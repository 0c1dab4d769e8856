use crate::fixture::Project;

/// The whole path: configure → setup → spawn → plugin ready-check → poststart →
/// sub-command → connection info, on a real HTTP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_kind_end_to_end() {
    let p = Project::new();
    let running = p
        .bundle(
            r#"
[services.web]
kind = "generic"
[services.web.config]
command = "echo setup-ran-before: $(cat {data_dir}/setup.txt); exec python3 -u -m http.server {port} --bind 127.0.0.1"
ready_line = "Serving HTTP"
setup_command = "echo yes > {data_dir}/setup.txt"
poststart_command = "echo poststart > {data_dir}/poststart.txt"
subcommands = { hello = "echo hello from {name}:" }
connection = { url = "http://127.0.0.1:{port}/", port = "{port}" }
"#,
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    let web = &running["web"];
    let port = web.port("main").expect("a main port");
    assert_eq!(web.ports()[0], ("main".to_owned(), port));
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(
        web.connection("url"),
        Some(url.as_str()),
        "{:?}",
        web.connections()
    );
    // The handle and the bundle agree.
    assert_eq!(running.connection("web", "url"), web.connection("url"));
    // The server really listens on the allocated port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    // setup ran before spawn, poststart after ready.
    let lines: Vec<String> = web
        .logs()
        .lines()
        .expect("lines")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert!(
        lines.iter().any(|l| l == "setup-ran-before: yes"),
        "{lines:?}"
    );
    assert!(running.run_dir().join("data/web/poststart.txt").exists());
    // A sub-command runs with the user's arguments.
    let out = web
        .subcommand("hello", ["a b", "c"])
        .expect("build")
        .output()
        .await
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from web: a b c"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kind_and_bad_config_fail_before_anything_starts() {
    let p = Project::new();
    let err = p
        .bundle("[services.x]\nkind = \"no-such-kind\"\n")
        .start()
        .await
        .expect_err("unknown kind");
    let text = teamster::error_chain(&err);
    assert!(text.contains("no-such-kind"), "{text}");

    let err = p
        .bundle("[services.x]\nkind = \"generic\"\n[services.x.config]\ncommand = \"true\"\nbogus = 1\n")
        .start()
        .await
        .expect_err("bad config");
    let text = teamster::error_chain(&err);
    assert!(text.contains("bogus"), "{text}");
}

/// `${service.key}` in a dependent's env is filled in from the service's connection info,
/// which is also written to `connections.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_info_reaches_dependents_and_connections_json() {
    let p = Project::new();
    let running = p
        .bundle(
            r#"
[services.db]
kind = "generic"
[services.db.config]
command = "echo db up; exec sleep 600"
ready_line = "db up"
connection = { url = "postgresql://u@127.0.0.1:{port}/app", port = "{port}" }
[services.api]
command = "sh -c 'echo url=$DATABASE_URL; exec sleep 600'"
env = { DATABASE_URL = "${db.url}" }
connection = { url = "http://127.0.0.1:1/" }
ready = { log = "url=" }
"#,
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    let url = running.connection("db", "url").expect("db url").to_owned();
    assert!(url.starts_with("postgresql://u@127.0.0.1:"), "{url}");
    let line = running["api"]
        .logs()
        .tail(1)
        .expect("tail")
        .pop()
        .expect("line")
        .text;
    assert_eq!(line, format!("url={url}"));
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(running.run_dir().join("connections.json")).expect("file"),
    )
    .expect("json");
    assert_eq!(json["db"]["url"], url.as_str());
    assert_eq!(json["api"]["url"], "http://127.0.0.1:1/");
    running.stop().await;
}

/// Where the instance pool cannot reserve its address space (a `ulimit -v`), plugins still
/// work, with instances allocated on demand.
#[test]
fn plugins_work_under_an_address_space_limit() {
    let home = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -v 4000000 && exec \"$0\" plugin inspect generic",
        ])
        .arg(crate::fixture::teamster_bin())
        .env("TEAMSTER_HOME", home.path())
        .output()
        .expect("run teamster");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("generic "));
}
