//! Tests of the whole path from bundle text to [`BundleSpec`], and of every error a user
//! can meet on the way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::signal::StopSignal;
use serde_json::json;

use super::spec::{
    BundleSpec, ClockKind, KindRef, LinePattern, Readiness, ServiceSpec, StreamFilter,
};
use crate::error_chain;

/// Parses `text` as `/proj/bundle.toml`; nothing is read from disk.
fn parse(text: &str) -> BundleSpec {
    BundleSpec::parse(text, Path::new("/proj/bundle.toml"))
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)))
}

/// The message a user would read for `text` saved as `bundle.toml`.
fn error(text: &str) -> String {
    match BundleSpec::parse(text, Path::new("bundle.toml")) {
        Ok(spec) => panic!("expected an error, got {spec:#?}"),
        Err(e) => error_chain(&e),
    }
}

fn ready_of(text: &str) -> Vec<Readiness> {
    let spec = parse(&format!("[services.web]\ncommand = \"srv\"\n{text}\n"));
    spec.services[0].ready.clone()
}

#[test]
fn an_empty_file_is_an_empty_bundle_with_defaults() {
    let spec = parse("");
    assert_eq!(spec.project_dir, PathBuf::from("/proj"));
    assert_eq!(spec.source.as_deref(), Some(Path::new("/proj/bundle.toml")));
    assert_eq!(spec.startup_timeout, Duration::from_secs(15));
    assert_eq!(spec.shutdown_timeout, Duration::from_secs(5));
    assert_eq!(spec.run_root, PathBuf::from("/proj/.teamster"));
    assert_eq!(spec.keep_runs, 10);
    assert_eq!(spec.clock, ClockKind::Preload);
    assert!(spec.services.is_empty());
}

#[test]
fn every_top_level_key() {
    let spec = parse(
        r#"
        project_dir = "sub/./dir"
        startup_timeout = "1m30s"
        shutdown_timeout = 2.5
        run_dir = "/var/tmp/runs"
        keep_runs = 3
        clock = "libfaketime"
        "#,
    );
    assert_eq!(spec.project_dir, PathBuf::from("/proj/sub/dir"));
    assert_eq!(spec.startup_timeout, Duration::from_secs(90));
    assert_eq!(spec.shutdown_timeout, Duration::from_millis(2500));
    assert_eq!(spec.run_root, PathBuf::from("/var/tmp/runs"));
    assert_eq!(spec.keep_runs, 3);
    assert_eq!(spec.clock, ClockKind::Libfaketime);
}

#[test]
fn every_service_key() {
    let spec = parse(
        r#"
        shutdown_timeout = "5s"

        [services.db]
        kind = "postgres"
        [services.db.config]
        version = 16
        databases = ["app", "test"]
        tuning = { shared_buffers = "128MB", fsync = false }
        since = 1979-05-27T07:32:00Z

        [services.web]
        command = ["python3", "-m", "http.server", "8000"]
        directory = "app"
        env = { FOO = "bar", PORT = 8000, DEBUG = true, RATIO = 0.5 }
        inherit_env = false
        needs = ["db"]
        stop_signal = "SIGINT"
        user = "www"
        faketime = false
        shutdown_timeout = "10s"
        "#,
    );
    assert_eq!(spec.services.len(), 2);
    let db = spec.service("db").expect("db");
    assert!(db.command.is_empty());
    assert_eq!(
        db.kind,
        Some(KindRef {
            name: "postgres".into(),
            config: json!({
                "version": 16,
                "databases": ["app", "test"],
                "tuning": { "shared_buffers": "128MB", "fsync": false },
                "since": "1979-05-27T07:32:00Z",
            }),
            grants: Vec::new(),
            faketime_set: false,
        })
    );
    assert_eq!(db.effective_shutdown_timeout(&spec), Duration::from_secs(5));

    let web = spec.service("web").expect("web");
    assert_eq!(web.command, ["python3", "-m", "http.server", "8000"]);
    assert_eq!(web.directory.as_deref(), Some(Path::new("/proj/app")));
    let env: Vec<(&str, &str)> = web
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("FOO", "bar"),
            ("PORT", "8000"),
            ("DEBUG", "true"),
            ("RATIO", "0.5")
        ]
    );
    assert!(!web.inherit_env);
    assert_eq!(web.needs, ["db"]);
    assert_eq!(web.stop_signal, StopSignal::INT);
    assert_eq!(web.user.as_deref(), Some("www"));
    assert!(!web.faketime);
    assert_eq!(
        web.effective_shutdown_timeout(&spec),
        Duration::from_secs(10)
    );
    assert!(web.kind.is_none());
}

#[test]
fn service_defaults() {
    let spec = parse("[services.web]\ncommand = \"srv\"\n");
    let web = &spec.services[0];
    assert_eq!(
        web,
        &ServiceSpec {
            command: vec!["srv".into()],
            directory: Some("/proj".into()),
            ..ServiceSpec::new("web")
        }
    );
    assert_eq!(web.stop_signal, StopSignal::TERM);
    assert!(web.inherit_env && web.faketime && web.ready.is_empty());
}

/// Whether a kind service's `faketime` was set is kept: the kind's own default (a
/// `chromedriver` stays on the real clock) applies at start, only where it was not.
#[test]
fn an_unset_faketime_is_left_to_the_kind() {
    let spec = parse(
        r#"
        [services.browser]
        kind = "chromedriver"
        [services.travelling]
        kind = "chromedriver"
        faketime = true
        [services.cache]
        kind = "redis"
        faketime = false
        "#,
    );
    let clock = |name| {
        let s = spec.service(name).expect(name);
        (s.faketime, s.kind.as_ref().expect("a kind").faketime_set)
    };
    assert_eq!(clock("browser"), (true, false));
    assert_eq!(clock("travelling"), (true, true));
    assert_eq!(clock("cache"), (false, true));
    let built = BundleSpec::builder("/proj")
        .service(ServiceSpec::builder("browser").kind("chromedriver", json!({})))
        .service(
            ServiceSpec::builder("travelling")
                .faketime(true)
                .kind("chromedriver", json!({})),
        )
        .service(
            ServiceSpec::builder("late")
                .kind("chromedriver", json!({}))
                .faketime(true),
        )
        .build()
        .expect("builds");
    let clock = |name| {
        let s = built.service(name).expect(name);
        (s.faketime, s.kind.as_ref().expect("a kind").faketime_set)
    };
    assert_eq!(clock("browser"), (true, false));
    assert_eq!(clock("travelling"), (true, true));
    assert_eq!(clock("late"), (true, true));
}

#[test]
fn services_keep_declaration_order() {
    let spec = parse(
        "[services.zeta]\ncommand = \"z\"\n[services.alpha]\ncommand = \"a\"\n[services.mid]\ncommand = \"m\"\n",
    );
    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

#[test]
fn a_command_string_is_split_like_a_shell_would() {
    let spec = parse(
        r#"[services.web]
command = "sh -c 'echo \"hello world\"' --flag=a\\ b""#,
    );
    assert_eq!(
        spec.services[0].command,
        ["sh", "-c", r#"echo "hello world""#, "--flag=a b"]
    );
}

#[test]
fn stop_signals_in_every_spelling() {
    for (text, signal) in [
        ("\"SIGINT\"", StopSignal::INT),
        ("\"QUIT\"", StopSignal::QUIT),
        ("\"hup\"", StopSignal::HUP),
        ("9", StopSignal::KILL),
    ] {
        let spec = parse(&format!(
            "[services.web]\ncommand = \"srv\"\nstop_signal = {text}\n"
        ));
        assert_eq!(spec.services[0].stop_signal, signal, "{text}");
    }
}

#[test]
fn durations_as_text_and_numbers() {
    for (text, duration) in [
        ("\"250ms\"", Duration::from_millis(250)),
        ("\"1.5s\"", Duration::from_millis(1500)),
        ("\"2m\"", Duration::from_secs(120)),
        ("\"1h\"", Duration::from_secs(3600)),
        ("30", Duration::from_secs(30)),
        ("0.25", Duration::from_millis(250)),
    ] {
        assert_eq!(
            parse(&format!("startup_timeout = {text}")).startup_timeout,
            duration,
            "{text}"
        );
    }
}

#[test]
fn log_readiness_forms() {
    assert_eq!(
        ready_of(r#"ready = { log = "Serving HTTP" }"#),
        [Readiness::log("Serving HTTP")]
    );
    let regex = ready_of(
        r#"ready = { log = { regex = 'listening on .*:\d+', stream = "stderr", nth = 2 } }"#,
    );
    let expected = Readiness::log_on(
        StreamFilter::Stderr,
        LinePattern::Regex(regex::Regex::new(r"listening on .*:\d+").unwrap()),
        2,
    );
    assert_eq!(regex, [expected]);
    let contains = ready_of(r#"ready = { log = { contains = "up", stream = "stdout" } }"#);
    assert_eq!(
        contains,
        [Readiness::log_on(
            StreamFilter::Stdout,
            LinePattern::Contains("up".into()),
            1
        )]
    );
    let any = ready_of(r#"ready = { log = { contains = "up", stream = "any" } }"#);
    assert_eq!(any, [Readiness::log("up")]);
}

#[test]
fn network_and_file_readiness_forms() {
    assert_eq!(ready_of("ready = { tcp = 8000 }"), [Readiness::tcp(8000)]);
    assert_eq!(
        ready_of(r#"ready = { tcp = "db.local:5432" }"#),
        [Readiness::tcp_at("db.local", 5432)]
    );
    assert_eq!(
        ready_of(r#"ready = { tcp = "[::1]:5432" }"#),
        [Readiness::tcp_at("::1", 5432)]
    );
    assert_eq!(
        ready_of(r#"ready = { http = "http://127.0.0.1:8000/" }"#),
        [Readiness::http("http://127.0.0.1:8000/")]
    );
    assert_eq!(
        ready_of(r#"ready = { http = { url = "http://127.0.0.1:8000/health", status = 204 } }"#),
        [Readiness::http_status("http://127.0.0.1:8000/health", 204)]
    );
    assert_eq!(
        ready_of(r#"ready = { http = { url = "http://127.0.0.1:8000/" } }"#),
        [Readiness::http("http://127.0.0.1:8000/")]
    );
    assert_eq!(
        ready_of(r#"ready = { socket = "run/app.sock" }"#),
        [Readiness::socket("/proj/run/app.sock")]
    );
    assert_eq!(
        ready_of(r#"ready = { file = "/tmp/app.pid" }"#),
        [Readiness::file("/tmp/app.pid")]
    );
}

#[test]
fn command_and_plugin_readiness_forms() {
    assert_eq!(
        ready_of(r#"ready = { command = ["pg_isready", "-p", "5432"] }"#),
        [Readiness::command(["pg_isready", "-p", "5432"])]
    );
    assert_eq!(
        ready_of(r#"ready = { command = "pg_isready -p 5432" }"#),
        [Readiness::command(["pg_isready", "-p", "5432"])]
    );
    let spec = parse("[services.db]\nkind = \"postgres\"\nready = { plugin = true }\n");
    assert_eq!(spec.services[0].ready, [Readiness::Plugin]);
}

#[test]
fn several_conditions_keep_the_order_written() {
    let expected = [
        Readiness::log("x"),
        Readiness::tcp(8000),
        Readiness::file("/proj/pid"),
    ];
    assert_eq!(
        ready_of(r#"ready = [{ log = "x" }, { tcp = 8000 }, { file = "pid" }]"#),
        expected
    );
    assert_eq!(
        ready_of(r#"ready = { log = "x", tcp = 8000, file = "pid" }"#),
        expected
    );
    let reversed = ready_of(r#"ready = { file = "pid", tcp = 8000, log = "x" }"#);
    assert_eq!(
        reversed,
        [
            Readiness::file("/proj/pid"),
            Readiness::tcp(8000),
            Readiness::log("x")
        ]
    );
    let table = parse(
        "[services.web]\ncommand = \"srv\"\n[services.web.ready]\nlog = \"x\"\ntcp = 8000\nfile = \"pid\"\n",
    );
    assert_eq!(table.services[0].ready, expected);
}

#[test]
fn tables_written_with_headers_mean_the_same_as_inline_ones() {
    let spec = parse(
        r#"
        [services.web]
        command = "srv"
        [services.web.env]
        B = "2"
        A = "1"
        [[services.web.ready]]
        log = "x"
        [[services.web.ready]]
        tcp = 8000
        "#,
    );
    let web = &spec.services[0];
    assert_eq!(
        web.env,
        [
            ("B".to_owned(), "2".to_owned()),
            ("A".to_owned(), "1".to_owned())
        ]
    );
    assert_eq!(web.ready, [Readiness::log("x"), Readiness::tcp(8000)]);
}

#[test]
fn no_conditions_means_ready_when_spawned() {
    assert!(ready_of("").is_empty());
    assert!(ready_of("ready = []").is_empty());
}

#[test]
fn relative_paths_follow_the_file_project_and_service_directories() {
    let spec = BundleSpec::parse(
        r#"
        project_dir = "../project"
        run_dir = "state"
        [services.web]
        command = "srv"
        directory = "web/./app"
        ready = [{ socket = "run/app.sock" }, { file = "/abs/pid" }]
        [services.api]
        command = "api"
        directory = "/srv/api"
        ready = { file = "pid" }
        "#,
        Path::new("/home/me/conf/bundle.toml"),
    )
    .expect("valid");
    assert_eq!(spec.project_dir, PathBuf::from("/home/me/conf/../project"));
    assert_eq!(
        spec.run_root,
        PathBuf::from("/home/me/conf/../project/state")
    );
    let web = &spec.services[0];
    assert_eq!(
        web.directory.as_deref(),
        Some(Path::new("/home/me/conf/../project/web/app"))
    );
    assert_eq!(
        web.ready,
        [
            Readiness::socket("/home/me/conf/../project/web/app/run/app.sock"),
            Readiness::file("/abs/pid")
        ]
    );
    let api = &spec.services[1];
    assert_eq!(api.directory.as_deref(), Some(Path::new("/srv/api")));
    assert_eq!(api.ready, [Readiness::file("/srv/api/pid")]);
}

#[test]
fn a_relative_file_path_resolves_against_the_current_directory() {
    let spec = BundleSpec::parse("", Path::new("conf/bundle.toml")).expect("valid");
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(spec.project_dir, cwd.join("conf"));
    assert_eq!(spec.source.as_deref(), Some(Path::new("conf/bundle.toml")));
}

#[test]
fn load_reads_a_real_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle.toml");
    std::fs::write(
        &path,
        "[services.web]\ncommand = \"srv\"\ndirectory = \"app\"\n",
    )
    .expect("write");
    let spec = BundleSpec::load(&path).expect("valid");
    assert_eq!(spec.project_dir, dir.path());
    assert_eq!(
        spec.services[0].directory.as_deref(),
        Some(dir.path().join("app").as_path())
    );

    let missing = dir.path().join("missing.toml");
    let error = BundleSpec::load(&missing).expect_err("missing file");
    let text = error_chain(&error).replace(&dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!(text, @"cannot read bundle file `<dir>/missing.toml`: No such file or directory (os error 2)");
}

#[test]
fn the_builder_and_the_file_produce_the_same_spec() {
    let from_file = parse(
        r#"
        startup_timeout = "20s"
        shutdown_timeout = "3s"
        run_dir = "runs"
        keep_runs = 4
        clock = "libfaketime"

        [services.db]
        kind = "postgres"
        config = { version = 16 }
        ready = { plugin = true }

        [services.web]
        command = "python3 -m http.server 8000"
        directory = "app"
        env = { FOO = "bar", PORT = "8000" }
        inherit_env = false
        needs = ["db"]
        stop_signal = "INT"
        user = "www"
        faketime = false
        shutdown_timeout = "10s"
        ready = [
            { log = { regex = 'Serving HTTP on .*:\d+', stream = "stderr", nth = 2 } },
            { tcp = 8000, http = { url = "http://127.0.0.1:8000/", status = 200 } },
            { socket = "app.sock", file = "app.pid", command = ["true"] },
        ]
        "#,
    );
    let log = Readiness::log_on(
        StreamFilter::Stderr,
        LinePattern::Regex(regex::Regex::new(r"Serving HTTP on .*:\d+").unwrap()),
        2,
    );
    let mut from_builder = BundleSpec::builder("/proj")
        .startup_timeout(Duration::from_secs(20))
        .shutdown_timeout(Duration::from_secs(3))
        .run_root("runs")
        .keep_runs(4)
        .clock(ClockKind::Libfaketime)
        .service(
            ServiceSpec::builder("db")
                .kind("postgres", json!({ "version": 16 }))
                .ready(Readiness::plugin()),
        )
        .service(
            ServiceSpec::builder("web")
                .shell("python3 -m http.server 8000")
                .directory("app")
                .env("FOO", "bar")
                .env("PORT", "8000")
                .inherit_env(false)
                .needs("db")
                .stop_signal(StopSignal::INT)
                .user("www")
                .faketime(false)
                .shutdown_timeout(Duration::from_secs(10))
                .ready(log)
                .ready(Readiness::tcp(8000))
                .ready(Readiness::http_status("http://127.0.0.1:8000/", 200))
                .ready(Readiness::socket("app.sock"))
                .ready(Readiness::file("app.pid"))
                .ready(Readiness::command(["true"])),
        )
        .build()
        .expect("valid");
    // Only the file knows where it came from.
    assert_eq!(from_builder.source, None);
    from_builder.source = from_file.source.clone();
    assert_eq!(from_file, from_builder);
}

mod errors {
    use super::error;

    #[test]
    fn toml_syntax() {
        insta::assert_snapshot!(error("[services.web\ncommand = \"x\"\n"), @"bundle.toml:1:14: invalid TOML: unclosed table, expected `]`");
        insta::assert_snapshot!(error("keep_runs = \n"), @"bundle.toml:1:13: invalid TOML: string values must be quoted, expected literal string");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"x\"\n[services.web]\ncommand = \"y\"\n"), @"bundle.toml:3:11: invalid TOML: duplicate key");
    }

    #[test]
    fn unknown_keys() {
        insta::assert_snapshot!(error("startup_timeot = \"1s\"\n"), @"bundle.toml:1:1: unknown key `startup_timeot` in the top level (did you mean `startup_timeout`?); allowed keys: `project_dir`, `startup_timeout`, `shutdown_timeout`, `run_dir`, `keep_runs`, `clock`, `services`");
        insta::assert_snapshot!(error("[services.web]\ncomand = \"srv\"\n"), @"bundle.toml:2:1: unknown key `comand` in service `web` (did you mean `command`?); allowed keys: `command`, `directory`, `env`, `inherit_env`, `needs`, `stop_signal`, `user`, `faketime`, `shutdown_timeout`, `kind`, `config`, `grants`, `connection`, `ready`, `client_hooks`");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nready = { tpc = 8000 }\n"), @"bundle.toml:3:11: unknown key `tpc` in `ready` of service `web`; allowed keys: `log`, `tcp`, `http`, `socket`, `file`, `command`, `plugin`, `client`");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nready = [{ tcp = 1 }, { log = { regex = \"x\", steam = \"stderr\" } }]\n"), @"bundle.toml:3:46: unknown key `steam` in `ready[1].log` of service `web` (did you mean `stream`?); allowed keys: `contains`, `regex`, `stream`, `nth`");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nready = { http = { url = \"http://x/\", code = 200 } }\n"), @"bundle.toml:3:39: unknown key `code` in `ready.http` of service `web`; allowed keys: `url`, `status`");
    }

    #[test]
    fn wrong_types() {
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nuser = 3\n"), @"bundle.toml:3:8: invalid `user` of service `web`: invalid type: integer `3`, expected a string");
        insta::assert_snapshot!(error("[services.web]\ncommand = 3\n"), @r#"bundle.toml:2:11: invalid `command` of service `web`: invalid type: integer `3`, expected a command as an array of strings (["prog", "arg"]) or a string ("prog arg")"#);
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nneeds = [\"db\", 3]\n"), @"bundle.toml:3:16: invalid `needs[1]` of service `web`: invalid type: integer `3`, expected a string");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nready = 3\n"), @"bundle.toml:3:9: invalid `ready` of service `web`: invalid type: integer `3`, expected a readiness table such as { tcp = 8000 }, or an array of them");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nready = { http = { status = 200 } }\n"), @"bundle.toml:3:18: invalid `ready.http` of service `web`: missing field `url`");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nready = { log = { regex = \"x\", stream = \"both\" } }\n"), @"bundle.toml:3:41: invalid `ready.log.stream` of service `web`: unknown variant `both`, expected one of `stdout`, `stderr`, `any`");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nenv = { A = [1] }\n"), @"bundle.toml:3:13: invalid `env.A` of service `web`: invalid type: sequence, expected a string, number or boolean");
        insta::assert_snapshot!(error("keep_runs = -1\n"), @"bundle.toml:1:13: invalid `keep_runs`: -1 is negative; keep 0 or more runs");
        insta::assert_snapshot!(error("clock = \"sundial\"\n"), @"bundle.toml:1:9: invalid `clock`: unknown variant `sundial`, expected `preload` or `libfaketime`");
        insta::assert_snapshot!(error("services = 3\n"), @"bundle.toml:1:12: invalid `services`: invalid type: integer `3`, expected a table");
        insta::assert_snapshot!(error("startup_timeout = true\n"), @r#"bundle.toml:1:19: invalid `startup_timeout`: invalid type: boolean `true`, expected a duration such as "15s", "250ms" or "1m30s", or a number of seconds"#);
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nstop_signal = 1.5\n"), @r#"bundle.toml:3:15: invalid `stop_signal` of service `web`: invalid type: floating point `1.5`, expected a signal name such as "SIGINT" or "INT", or a signal number"#);
    }

    #[test]
    fn names_and_needs() {
        insta::assert_snapshot!(error("[services.\"my web\"]\ncommand = \"srv\"\n"), @"bundle.toml:1:11: invalid service name `my web`: use only ASCII letters, digits, `_` and `-`");
        insta::assert_snapshot!(error("[services.db]\ncommand = \"db\"\n[services.web]\ncommand = \"srv\"\nneeds = [\"db\", \"dbb\"]\n"), @"bundle.toml:5:16: service `web` needs unknown service `dbb` (did you mean `db`?)");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nneeds = [\"cache\"]\n"), @"bundle.toml:3:10: service `web` needs unknown service `cache`");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nneeds = [\"web\"]\n"), @"bundle.toml:3:10: service `web` needs itself; remove `web` from its `needs`");
    }

    #[test]
    fn cycles_are_named_from_the_first_declared_service() {
        let text = "
[services.c]
command = \"c\"
needs = [\"a\"]
[services.a]
command = \"a\"
needs = [\"b\"]
[services.b]
command = \"b\"
needs = [\"c\"]
[services.d]
command = \"d\"
needs = [\"a\"]
";
        insta::assert_snapshot!(error(text), @"bundle.toml:4:10: dependency cycle: `c` → `a` → `b` → `c`; remove one of these `needs`");
        let pair = "[services.x]\ncommand = \"x\"\nneeds = [\"y\"]\n[services.y]\ncommand = \"y\"\nneeds = [\"x\"]\n";
        insta::assert_snapshot!(error(pair), @"bundle.toml:3:10: dependency cycle: `x` → `y` → `x`; remove one of these `needs`");
    }

    #[test]
    fn durations() {
        insta::assert_snapshot!(error("startup_timeout = \"15 sec\"\n"), @"bundle.toml:1:19: invalid duration for `startup_timeout`: unknown unit `sec`; use `ms`, `s`, `m` or `h`");
        insta::assert_snapshot!(error("startup_timeout = \"15\"\n"), @"bundle.toml:1:19: invalid duration for `startup_timeout`: `15` has no unit; add one of `ms`, `s`, `m` or `h`");
        insta::assert_snapshot!(error("shutdown_timeout = -3\n"), @"bundle.toml:1:20: invalid duration for `shutdown_timeout`: a duration cannot be negative");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nshutdown_timeout = \"\"\n"), @"bundle.toml:3:20: invalid duration for `shutdown_timeout` of service `web`: a duration cannot be empty; write for example `15s` or `250ms`");
    }

    #[test]
    fn signals() {
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nstop_signal = \"SIGFOO\"\n"), @"bundle.toml:3:15: invalid `stop_signal` of service `web`: unknown signal `SIGFOO`; write a name such as `SIGTERM`, `INT` or `quit`, or a number");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nstop_signal = 99\n"), @"bundle.toml:3:15: invalid `stop_signal` of service `web`: no signal has number 99 on this platform");
    }

    #[test]
    fn commands_and_kinds() {
        insta::assert_snapshot!(error("[services.web]\ndirectory = \"app\"\n"), @"bundle.toml:1:11: service `web` has no command; set `command`, or `kind` to let a plugin configure it");
        insta::assert_snapshot!(error("[services.web]\ncommand = []\n"), @"bundle.toml:1:11: service `web` has no command; set `command`, or `kind` to let a plugin configure it");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"echo 'oops\"\n"), @"bundle.toml:2:11: cannot split the `command` of service `web` into words: missing closing quote");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\n[services.web.config]\nport = 1\n"), @"bundle.toml:3:1: service `web` has a `config` table but no `kind`; `config` is passed to the kind's plugin");
        insta::assert_snapshot!(error("[services.db]\nkind = \"post gres\"\n"), @"bundle.toml:2:8: invalid `kind` `post gres` of service `db`: use only ASCII letters, digits, `_` and `-`");
        insta::assert_snapshot!(error("[services.db]\nkind = \"postgres\"\nconfig = { tuning = { ratio = nan } }\n"), @"bundle.toml:3:10: invalid `config.tuning.ratio` of service `db`: NaN cannot be passed to a plugin; JSON has no NaN or infinity");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nenv = { \"A=B\" = \"c\" }\n"), @"bundle.toml:3:9: invalid environment variable name `A=B` in service `web`: it must be non-empty and contain no `=` or NUL");
    }

    /// What a start would refuse only once it got there (a spawn failing on a NUL, a
    /// timeout of nothing, a name no file can carry) is refused while loading, with a
    /// position, so `teamster check` finds it.
    #[test]
    fn what_a_start_could_not_use() {
        insta::assert_snapshot!(error("[services.web]\ncommand = \"srv\"\nenv = { A = \"x\\u0000y\" }\n"), @"bundle.toml:3:13: env `A` of service `web` contains a NUL byte, which cannot be passed to a process");
        insta::assert_snapshot!(error("[services.web]\ncommand = [\"srv\", \"a\\u0000\"]\n"), @"bundle.toml:2:19: `command[1]` of service `web` contains a NUL byte, which cannot be passed to a process");
        insta::assert_snapshot!(error("startup_timeout = 0\n"), @r#"bundle.toml:1:19: invalid `startup_timeout`: 0s leaves no time for any service to become ready; give a positive duration such as "15s""#);
        insta::assert_snapshot!(error("startup_timeout = \"0ms\"\n"), @r#"bundle.toml:1:19: invalid `startup_timeout`: 0s leaves no time for any service to become ready; give a positive duration such as "15s""#);
        let long = format!("[services.{}]\ncommand = \"srv\"\n", "a".repeat(5000));
        insta::assert_snapshot!(error(&long), @"bundle.toml:1:11: service name `aaaaaaaaaaaaaaaaaaaaaaaa…` is 5000 characters long; names are at most 64 characters, since they name the service's files");
        // The longest name allowed is fine.
        super::parse(&format!(
            "[services.{}]\ncommand = \"srv\"\n",
            "a".repeat(64)
        ));
    }

    #[test]
    fn readiness() {
        let ready = |condition: &str| {
            error(&format!(
                "[services.web]\ncommand = \"srv\"\nready = {condition}\n"
            ))
        };
        insta::assert_snapshot!(ready("{}"), @"bundle.toml:3:9: invalid readiness condition for service `web`: the table sets no condition; use `log`, `tcp`, `http`, `socket`, `file`, `command`, `plugin` or `client`");
        insta::assert_snapshot!(ready("[{ tcp = 1 }, {}]"), @"bundle.toml:3:23: invalid readiness condition for service `web`: the table sets no condition; use `log`, `tcp`, `http`, `socket`, `file`, `command`, `plugin` or `client`");
        insta::assert_snapshot!(ready("{ log = { stream = \"stderr\" } }"), @"bundle.toml:3:17: invalid readiness condition for service `web`: a `log` table needs `contains` or `regex`");
        insta::assert_snapshot!(ready("{ log = { contains = \"a\", regex = \"b\" } }"), @"bundle.toml:3:17: invalid readiness condition for service `web`: a `log` table takes `contains` or `regex`, not both");
        // The regex crate's own message spans several lines; the first one is ours.
        let regex = ready("{ log = { regex = \"(unclosed\" } }");
        insta::assert_snapshot!(regex.lines().next().unwrap_or_default(), @"bundle.toml:3:27: invalid readiness condition for service `web`: invalid regex: regex parse error:");
        insta::assert_snapshot!(ready("{ log = { contains = \"a\", nth = 0 } }"), @"bundle.toml:3:41: invalid readiness condition for service `web`: `nth` counts matches from 1, got 0");
        insta::assert_snapshot!(ready("{ tcp = 0 }"), @"bundle.toml:3:17: invalid readiness condition for service `web`: port 0 is outside 1..=65535");
        insta::assert_snapshot!(ready("{ tcp = 70000 }"), @"bundle.toml:3:17: invalid readiness condition for service `web`: port 70000 is outside 1..=65535");
        insta::assert_snapshot!(ready("{ tcp = \"localhost\" }"), @"bundle.toml:3:17: invalid readiness condition for service `web`: `localhost` is not `host:port` or a port number");
        insta::assert_snapshot!(ready("{ tcp = \":80\" }"), @"bundle.toml:3:17: invalid readiness condition for service `web`: `:80` is not `host:port` or a port number");
        insta::assert_snapshot!(ready("{ http = \"localhost:8000\" }"), @"bundle.toml:3:18: invalid readiness condition for service `web`: `localhost:8000` is not an `http://` URL");
        insta::assert_snapshot!(ready("{ http = \"https://127.0.0.1:8443/\" }"), @"bundle.toml:3:18: invalid readiness condition for service `web`: `https://127.0.0.1:8443/` is an `https://` URL, but `http` conditions speak plain http only; use an `http://` URL, or a `tcp` condition for a TLS port");
        insta::assert_snapshot!(ready("{ http = { url = \"http://x/\", status = 42 } }"), @"bundle.toml:3:18: invalid readiness condition for service `web`: status 42 is outside 100..=599");
        insta::assert_snapshot!(ready("{ socket = \"\" }"), @"bundle.toml:3:20: invalid readiness condition for service `web`: the path is empty");
        insta::assert_snapshot!(ready("{ command = [] }"), @"bundle.toml:3:21: invalid readiness condition for service `web`: the probe command is empty");
        insta::assert_snapshot!(ready("{ command = \"pg_isready 'oops\" }"), @"bundle.toml:3:21: invalid readiness condition for service `web`: cannot split the probe command into words: missing closing quote");
        insta::assert_snapshot!(ready("{ plugin = false }"), @"bundle.toml:3:20: invalid readiness condition for service `web`: `plugin = false` sets no condition; remove it");
        insta::assert_snapshot!(ready("{ plugin = true }"), @"bundle.toml:3:20: invalid readiness condition for service `web`: `plugin` readiness needs a `kind`, whose plugin decides when the service is ready");
    }
}

/// `${…}` references: what loading keeps, the needs they imply, and every error with the
/// position of the reference inside its string.
mod references {
    use super::*;

    #[test]
    fn references_are_kept_as_written_and_imply_needs() {
        let spec = parse(
            r#"
            [services.web]
            command = ["srv", "--db", "${db.url}"]
            env = { CACHE = "redis://${cache.host}:${cache.port}/0", HOME_COPY = "${env.HOME}" }
            needs = ["cache"]

            [services.db]
            kind = "postgres"

            [services.cache]
            command = "redis-server --port ${self.port}"
            connection = { host = "127.0.0.1", port = 6390 }
            "#,
        );
        let web = spec.service("web").expect("web");
        assert_eq!(web.command, ["srv", "--db", "${db.url}"]);
        assert_eq!(web.env[0].1, "redis://${cache.host}:${cache.port}/0");
        // The need written by hand comes first, then the implied one.
        assert_eq!(web.needs, ["cache", "db"]);
        let cache = spec.service("cache").expect("cache");
        assert_eq!(cache.command, ["redis-server", "--port", "${self.port}"]);
        assert_eq!(
            cache.connection,
            [
                ("host".to_owned(), "127.0.0.1".to_owned()),
                ("port".to_owned(), "6390".to_owned())
            ]
        );
        assert!(cache.needs.is_empty(), "`self` and `env` imply no need");
        let order: Vec<&str> = spec.topo_order().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order, ["db", "cache", "web"]);
    }

    /// The contract with the orchestrator, end to end: load a real file, fill in a
    /// dependent from what its need published, and run the command it gives.
    #[test]
    fn filled_in_values_reach_a_real_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bundle.toml");
        std::fs::write(
            &path,
            r#"
            [services.api]
            command = "api"
            connection = { port = 18080, url = "http://127.0.0.1:${self.port}/v1" }

            [services.client]
            command = ["sh", "-c", "printf '%s|%s|%s' \"$API_URL\" \"$${API_URL}\" \"$0\"", "${api.port}"]
            env = { API_URL = "${api.url}" }
            "#,
        )
        .expect("write");
        let spec = BundleSpec::load(&path).expect("valid");
        let api = spec.services[0]
            .interpolated(&std::collections::BTreeMap::new())
            .expect("api needs nothing");
        let published =
            std::collections::BTreeMap::from([("api".to_owned(), api.connection.clone())]);
        let client = spec.services[1]
            .interpolated(&published)
            .expect("api has published");
        let output = std::process::Command::new(&client.command[0])
            .args(&client.command[1..])
            .envs(client.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("sh runs");
        assert!(output.status.success(), "{output:?}");
        // `$API_URL` and `${API_URL}` (written `$${API_URL}`) are the shell's to expand.
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "http://127.0.0.1:18080/v1|http://127.0.0.1:18080/v1|18080"
        );
    }

    #[test]
    fn a_connection_table_may_be_written_with_a_header() {
        let spec = parse(
            r#"
            [services.api]
            command = "api"
            [services.api.connection]
            port = "8080"
            url = "http://127.0.0.1:${self.port}/"
            "#,
        );
        assert_eq!(
            spec.services[0].connection,
            [
                ("port".to_owned(), "8080".to_owned()),
                (
                    "url".to_owned(),
                    "http://127.0.0.1:${self.port}/".to_owned()
                )
            ]
        );
    }

    #[test]
    fn a_loaded_bundle_fills_in_like_the_orchestrator_will() {
        let spec = parse(
            r#"
            [services.cache]
            command = ["redis-server", "--port", "${self.port}"]
            connection = { port = "6390", url = "redis://127.0.0.1:${self.port}/0" }

            [services.web]
            command = "srv"
            env = { REDIS_URL = "${cache.url}", RAW = "$${cache.url}" }
            "#,
        );
        let mut published = std::collections::HashMap::new();
        let cache = spec.services[0]
            .interpolated(&published)
            .expect("cache needs nothing");
        assert_eq!(cache.command, ["redis-server", "--port", "6390"]);
        published.insert("cache".to_owned(), cache.connection.clone());
        let web = spec.services[1]
            .interpolated(&published)
            .expect("cache has published");
        assert_eq!(
            web.env,
            [
                (
                    "REDIS_URL".to_owned(),
                    "redis://127.0.0.1:6390/0".to_owned()
                ),
                ("RAW".to_owned(), "${cache.url}".to_owned())
            ]
        );
    }

    /// A bundle with a plugin service `db`, a command service `cache` offering `host` and
    /// `port`, a command service `worker` offering nothing, and `web` with `extra` lines.
    fn with_web(extra: &str) -> String {
        error(&format!(
            "[services.db]\nkind = \"postgres\"\n\
             [services.cache]\ncommand = \"redis-server\"\nconnection = {{ host = \"127.0.0.1\", port = \"6390\" }}\n\
             [services.worker]\ncommand = \"work\"\n\
             [services.web]\n{extra}\n"
        ))
    }

    #[test]
    fn malformed_references_point_inside_the_string() {
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { DATABASE_URL = \"postgres://${db}\" }"), @"bundle.toml:10:36: invalid reference in env `DATABASE_URL` of service `web`: `${db}` names no key; write `${db.<key>}` for a service's connection info, `${env.db}` for teamster's environment, or `$${db}` to leave `${db}` to a shell");
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { URL = \"${}\" }"), @"bundle.toml:10:16: invalid reference in env `URL` of service `web`: `${}` names nothing; write `${service.key}`, such as `${db.url}`");
        insta::assert_snapshot!(with_web("command = [\"srv\", \"--db\", \"${db.url\"]"), @"bundle.toml:9:28: invalid reference in `command[2]` of service `web`: `${db.url` is not closed by `}`; write `$${` for a literal `${`");
        insta::assert_snapshot!(with_web("command = \"srv --cache '${ cache.port }'\""), @"bundle.toml:9:25: invalid reference in `command[2]` of service `web`: `${ cache.port }` contains ' '; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
        insta::assert_snapshot!(with_web("command = \"srv\"\nconnection = { url = \"${self.port\" }"), @"bundle.toml:10:23: invalid reference in `connection.url` of service `web`: `${self.port` is not closed by `}`; write `$${` for a literal `${`");
    }

    #[test]
    fn references_to_what_does_not_exist() {
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { DATABASE_URL = \"${dbb.url}\" }"), @"bundle.toml:10:25: invalid reference in env `DATABASE_URL` of service `web`: `${dbb.url}` names unknown service `dbb` (did you mean `db`?)");
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { Q = \"${queue.url}\" }"), @"bundle.toml:10:14: invalid reference in env `Q` of service `web`: `${queue.url}` names unknown service `queue`");
        insta::assert_snapshot!(with_web("command = [\"srv\", \"--port=${web.port}\"]"), @"bundle.toml:9:27: invalid reference in `command[1]` of service `web`: `${web.port}` names the service itself; write `${self.port}`");
        insta::assert_snapshot!(with_web("command = \"srv --port ${self.port}\""), @r#"bundle.toml:9:23: invalid reference in `command[2]` of service `web`: `${self.port}` refers to this service's `connection` table, which it does not have; add one, such as `connection = { port = "…" }`"#);
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { W = \"${worker.url}\" }"), @r#"bundle.toml:10:14: invalid reference in env `W` of service `web`: `${worker.url}` refers to the connection info of `worker`, which has none; give `worker` a `connection` table, such as `connection = { url = "http://127.0.0.1:8000/" }`"#);
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { REDIS_PORT = \"${cache.prot}\" }"), @"bundle.toml:10:23: invalid reference in env `REDIS_PORT` of service `web`: `${cache.prot}` names a key `cache` does not offer; `cache` offers: `host`, `port`");
        insta::assert_snapshot!(with_web("command = \"srv\"\nconnection = { port = \"80\", url = \"http://h:${self.prot}/\" }"), @"bundle.toml:10:45: invalid reference in `connection.url` of service `web`: `${self.prot}` names a key this service does not offer; this service offers: `port`, `url`");
        insta::assert_snapshot!(error("[services.db]\nkind = \"postgres\"\nenv = { PGPORT = \"${self.port}\" }\n"), @"bundle.toml:3:19: invalid reference in env `PGPORT` of service `db`: `${self.port}` needs a `connection` table, but a `kind` service's connection info comes from its plugin once it is ready");
    }

    #[test]
    fn positions_survive_escapes_and_repeats() {
        // `\t` is two characters in the file but one in the value.
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { A = \"\\t\\t${dbb.url}\" }"), @"bundle.toml:10:18: invalid reference in env `A` of service `web`: `${dbb.url}` names unknown service `dbb` (did you mean `db`?)");
        // The escaped text contains the same characters as the reference that fails.
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { A = \"$${dbb.url} ${dbb.url}\" }"), @"bundle.toml:10:26: invalid reference in env `A` of service `web`: `${dbb.url}` names unknown service `dbb` (did you mean `db`?)");
        // In a command string, a repeated word is found in the right place.
        insta::assert_snapshot!(with_web("command = \"srv ${cache.port} ${cache.port} ${cache.x}\""), @"bundle.toml:9:44: invalid reference in `command[3]` of service `web`: `${cache.x}` names a key `cache` does not offer; `cache` offers: `host`, `port`");
        insta::assert_snapshot!(with_web("command = 'srv ${cache.host} x${cache.host}y \"${cache.nope}\"'"), @"bundle.toml:9:47: invalid reference in `command[3]` of service `web`: `${cache.nope}` names a key `cache` does not offer; `cache` offers: `host`, `port`");
        // A reference spelt with a unicode escape cannot be found: the value is pointed at.
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { A = \"\\u0024{dbb.url}\" }"), @"bundle.toml:10:13: invalid reference in env `A` of service `web`: `${dbb.url}` names unknown service `dbb` (did you mean `db`?)");
        insta::assert_snapshot!(with_web("command = \"srv\"\nenv = { A = \"\"\"\nline\n${dbb.url}\"\"\" }"), @"bundle.toml:12:1: invalid reference in env `A` of service `web`: `${dbb.url}` names unknown service `dbb` (did you mean `db`?)");
    }

    #[test]
    fn cycles_through_references() {
        let implied = "[services.api]\ncommand = \"api\"\nenv = { WEB_URL = \"${web.url}\" }\nconnection = { url = \"http://a/\" }\n\
                       [services.web]\ncommand = \"web\"\nneeds = [\"api\"]\nconnection = { url = \"http://w/\" }\n";
        insta::assert_snapshot!(error(implied), @"bundle.toml:3:20: dependency cycle: `api` → `web` → `api`; `${web.url}` in env `WEB_URL` of service `api` makes it need `web`; remove that reference or break the cycle elsewhere");
        let both = "[services.api]\ncommand = \"api\"\nconnection = { url = \"http://a/${web.url}\" }\n\
                    [services.web]\ncommand = [\"web\", \"${api.url}\"]\nconnection = { url = \"http://w/\" }\n";
        insta::assert_snapshot!(error(both), @"bundle.toml:3:32: dependency cycle: `api` → `web` → `api`; `${web.url}` in `connection.url` of service `api` makes it need `web`; remove that reference or break the cycle elsewhere");
        let own = "[services.web]\ncommand = \"web\"\nconnection = { base = \"${self.url}/x\", url = \"${self.host}\", host = \"${self.base}\" }\n";
        insta::assert_snapshot!(error(own), @"bundle.toml:3:24: invalid reference in `connection.base` of service `web`: the `connection` keys refer to each other in a cycle: `base` → `url` → `host` → `base`");
        let itself =
            "[services.web]\ncommand = \"web\"\nconnection = { url = \"http://h/${self.url}\" }\n";
        insta::assert_snapshot!(error(itself), @"bundle.toml:3:32: invalid reference in `connection.url` of service `web`: the `connection` keys refer to each other in a cycle: `url` → `url`");
    }

    #[test]
    fn connection_tables_and_directories() {
        insta::assert_snapshot!(error("[services.db]\nkind = \"postgres\"\nconnection = { url = \"x\" }\n"), @"bundle.toml:3:14: service `db` has a `connection` table and a `kind`; the kind's plugin provides its connection info, so remove the table");
        insta::assert_snapshot!(error("[services.db]\nkind = \"postgres\"\n[services.db.connection]\nurl = \"x\"\n"), @"bundle.toml:3:1: service `db` has a `connection` table and a `kind`; the kind's plugin provides its connection info, so remove the table");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"web\"\nconnection = { url = \"x\", \"my url\" = \"y\" }\n"), @"bundle.toml:3:27: invalid `connection` key `my url` of service `web`: use only ASCII letters, digits, `_` and `-`, so that `${web.<key>}` can name it");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"web\"\nconnection = { url = [1] }\n"), @"bundle.toml:3:22: invalid `connection.url` of service `web`: invalid type: sequence, expected a string, number or boolean");
        insta::assert_snapshot!(error("[services.web]\ncommand = \"web\"\ndirectory = \"${env.HOME}/app\"\n"), @"bundle.toml:3:13: invalid `directory` of service `web`: references such as `${…}` cannot be used here, because the directory is fixed when the bundle is loaded");
    }

    #[test]
    fn the_builder_implies_needs_and_reports_without_positions() {
        let spec = BundleSpec::builder("/p")
            .service(ServiceSpec::builder("db").kind("postgres", json!({})))
            .service(
                ServiceSpec::builder("web")
                    .command(["srv", "--port", "${self.port}"])
                    .connection("port", "8000")
                    .connection("url", "http://127.0.0.1:${self.port}/")
                    .connection("port", "8001")
                    .env("DATABASE_URL", "${db.url}"),
            )
            .build()
            .expect("valid");
        let web = spec.service("web").expect("web");
        assert_eq!(web.needs, ["db"]);
        assert_eq!(web.connection[0], ("port".to_owned(), "8001".to_owned()));

        let build_error = |service: crate::bundle::ServiceBuilder| {
            let error = BundleSpec::builder("/p")
                .service(ServiceSpec::builder("db").kind("postgres", json!({})))
                .service(service)
                .build()
                .expect_err("the bundle should be rejected");
            error_chain(&error)
        };
        insta::assert_snapshot!(build_error(ServiceSpec::builder("web").command(["srv"]).env("URL", "${dbb.url}")), @"invalid reference in env `URL` of service `web`: `${dbb.url}` names unknown service `dbb` (did you mean `db`?)");
        insta::assert_snapshot!(build_error(ServiceSpec::builder("web").command(["srv", "${db}"])), @"invalid reference in `command[1]` of service `web`: `${db}` names no key; write `${db.<key>}` for a service's connection info, `${env.db}` for teamster's environment, or `$${db}` to leave `${db}` to a shell");
        insta::assert_snapshot!(build_error(ServiceSpec::builder("web").command(["srv"]).directory("${env.HOME}")), @"invalid `directory` of service `web`: references such as `${…}` cannot be used here, because the directory is fixed when the bundle is loaded");
        insta::assert_snapshot!(build_error(ServiceSpec::builder("web").kind("x", json!({})).connection("url", "u")), @"service `web` has a `connection` table and a `kind`; the kind's plugin provides its connection info, so remove the table");
    }

    #[test]
    fn a_spec_edited_by_hand_must_still_need_what_it_refers_to() {
        let mut spec = parse(
            "[services.db]\nkind = \"postgres\"\n[services.web]\ncommand = \"srv\"\nenv = { URL = \"${db.url}\" }\n",
        );
        spec.services[1].needs.clear();
        insta::assert_snapshot!(error_chain(&spec.validate().expect_err("db is not needed")), @"/proj/bundle.toml: invalid reference in env `URL` of service `web`: `${db.url}` refers to `db`, which is not in `needs`; add `db` to `needs`");
    }
}

/// The example of the References section of `docs/bundle-format.md` loads, so the document
/// cannot drift from the format.
#[test]
fn the_documented_references_example_loads() {
    let doc = include_str!("../../../docs/bundle-format.md");
    let section = doc
        .split("## References")
        .nth(1)
        .expect("the document has a References section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a TOML example");
    let spec = parse(example);
    let web = spec.service("web").expect("web");
    assert_eq!(web.needs, ["db", "cache"]);
    let mut published = std::collections::HashMap::new();
    published.insert(
        "db".to_owned(),
        vec![("url".to_owned(), "postgres://db".to_owned())],
    );
    let cache = spec.services[1].interpolated(&published).expect("cache");
    published.insert("cache".to_owned(), cache.connection);
    let web = web.interpolated(&published).expect("web");
    assert_eq!(web.command, ["python3", "manage.py", "runserver", "8000"]);
    assert_eq!(web.env[0].1, "postgres://db");
    assert_eq!(web.env[1].1, "redis://127.0.0.1:6390/0");
}

#[test]
fn grants_go_to_the_kind_and_need_one() {
    let spec = parse("[services.db]\nkind = \"postgres\"\ngrants = [\"psql\", \"pg_dump\"]\n");
    let kind = spec.services[0].kind.as_ref().expect("kind");
    assert_eq!(kind.grants, ["psql", "pg_dump"]);
    insta::assert_snapshot!(error("[services.x]\ncommand = \"true\"\ngrants = [\"sh\"]\n"), @"bundle.toml:3:10: invalid `grants` of service `x`: `grants` gives programs to a plugin kind: it needs `kind`");
}

#[test]
fn a_long_cycle_is_named_in_short() {
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "[services.s{i}]\ncommand = \"x\"\nneeds = [\"s{}\"]\n",
            (i + 1) % 2000
        ));
    }
    let message = error(&text);
    assert!(message.len() < 400, "{} bytes: {message}", message.len());
    insta::assert_snapshot!(message, @"bundle.toml:3:10: dependency cycle: `s0` → `s1` → `s2` → `s3` → `s4` → `s5` → `s6` → `s7` → `s8` → `s9` → … 1988 more … → `s1998` → `s1999` → `s0`; remove one of these `needs`");
}
