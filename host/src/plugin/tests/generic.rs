//! The whole plugin path on the built-in `generic` kind and a real process:
//! configure → setup → spawn → plugin ready-check → poststart → subcommand → connection-info.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;

use super::{chain, context, free_port, run_env, test_host, which};
use crate::bundle::spec::Readiness;
use crate::logs::Stream;
use crate::plugin::Limits;
use crate::service::hooks::ServiceHooks;

#[test]
fn generic_kind_runs_end_to_end_on_a_real_process() {
    let (host, _home) = test_host(Limits::default());
    let plugin = host.resolve("generic").expect("built-in kind");
    assert_eq!(plugin.describe().programs, ["sh"]);
    assert_eq!(
        plugin.grants(),
        ["sh"],
        "built-ins are granted what they declare"
    );

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = json!({
        "command": "echo booting; echo \"$GREETING, server ready on {port}\"; exec sleep 100",
        "env": {"GREETING": "hi"},
        "ready_line": "ready on",
        "stop_signal": "int",
        "setup_command": "echo prepared > {data_dir}/state.txt && echo setup done",
        "poststart_command": "echo started >> {data_dir}/state.txt",
        "subcommands": {"greet": "echo hello"},
        "connection": {"url": "http://127.0.0.1:{port}/", "service": "{name}"},
    });
    let ctx = context("web", dir.path(), port, config);
    let data_dir = ctx.data_dir.clone();
    let svc = plugin
        .instantiate(ctx, run_env(dir.path()), &[])
        .expect("instantiate");

    let spec = svc.configure().expect("configure");
    // The host starts the `sh` it resolved, the one program the kind declares.
    assert_eq!(spec.command[..2], [which("sh"), "-c".to_string()]);
    assert!(
        spec.command[2].contains(&format!("ready on {port}")),
        "placeholders expanded: {:?}",
        spec.command
    );
    assert_eq!(spec.env, [("GREETING".to_string(), "hi".to_string())]);
    assert_eq!(spec.stop_signal, Some(crate::StopSignal::INT));
    assert!(matches!(spec.ready[..], [Readiness::Plugin]));

    svc.setup().expect("setup");
    let state = data_dir.join("state.txt");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "prepared\n");
    assert!(
        svc.recent_logs().iter().any(|l| l.message == "setup done"),
        "the setup command's output reaches the log: {:?}",
        svc.recent_logs()
    );

    let mut child = Command::new(&spec.command[0])
        .args(&spec.command[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the service");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut verdicts = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = svc.ready_check(Stream::Out, &line).expect("ready-check");
        verdicts.push((line, ready));
        if ready {
            break;
        }
    }
    assert_eq!(
        verdicts,
        [
            ("booting".to_string(), false),
            (format!("hi, server ready on {port}"), true)
        ]
    );

    svc.poststart().expect("poststart");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "prepared\nstarted\n"
    );

    let cmd = svc
        .subcommand("greet", &["big world".to_string()])
        .expect("subcommand");
    let out = Command::new(&cmd.argv[0])
        .args(&cmd.argv[1..])
        .output()
        .expect("run the sub-command");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello big world\n");

    let err = svc.subcommand("nope", &[]).unwrap_err();
    insta::assert_snapshot!("generic_unknown_subcommand", chain(&err));
    assert!(
        !svc.is_poisoned(),
        "an error the plugin returns does not poison it"
    );

    let info = svc.connection_info().expect("connection info");
    assert_eq!(
        info,
        [
            ("service".to_string(), "web".to_string()),
            ("url".to_string(), format!("http://127.0.0.1:{port}/"))
        ]
    );

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn generic_setup_failure_reports_the_command_and_its_stderr() {
    let (host, _home) = test_host(Limits::default());
    let plugin = host.resolve("generic").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config =
        json!({"command": ["sleep", "100"], "setup_command": "echo no database >&2; exit 3"});
    let svc = plugin
        .instantiate(
            context("db", dir.path(), free_port(), config),
            run_env(dir.path()),
            &[],
        )
        .unwrap();
    let spec = svc.configure().unwrap();
    // An argument list runs through the declared `sh`, which execs it.
    assert_eq!(
        spec.command,
        [
            which("sh"),
            "-c".into(),
            r#"exec "$0" "$@""#.into(),
            "sleep".into(),
            "100".into()
        ]
    );
    assert!(spec.ready.is_empty());
    let err = svc.setup().unwrap_err();
    insta::assert_snapshot!("generic_setup_failure", chain(&err));
}

#[test]
fn config_errors_name_the_key() {
    let (host, _home) = test_host(Limits::default());
    let plugin = host.resolve("generic").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing", json!({"ready_line": "x"})),
        ("unknown", json!({"command": "true", "redy_line": "x"})),
        ("wrong_type", json!({"command": 5})),
        (
            "nested",
            json!({"command": "true", "subcommands": {"psql": ["psql"]}}),
        ),
        ("array_item", json!({"command": ["sh", 1]})),
    ];
    let mut report = String::new();
    for (name, config) in cases {
        let err = plugin
            .instantiate(
                context("web", dir.path(), 1, config),
                run_env(dir.path()),
                &[],
            )
            .unwrap_err();
        report.push_str(&format!("{name}: {}\n", chain(&err)));
    }
    // A placeholder error comes from the plugin itself, at configure time.
    let svc = plugin
        .instantiate(
            context("web", dir.path(), 1, json!({"command": "echo {prot}"})),
            run_env(dir.path()),
            &[],
        )
        .unwrap();
    report.push_str(&format!(
        "placeholder: {}\n",
        chain(&svc.configure().unwrap_err())
    ));
    insta::assert_snapshot!("generic_config_errors", report);
}
