//! `teamster kernel`, the `kernel` method and `ServiceHandle::kernel`: a real IPython kernel
//! embedded in a service, found through the service's own environment and connected to by
//! a real `jupyter console`.

use std::time::Duration;

use serde_json::json;

use super::{Conn, start, teamster};
use crate::fixture::Project;

/// An app that becomes ready, then, once `go` exists, embeds a kernel holding `answer` in a
/// child of its main process, with a `HOME` of its own (where Jupyter puts the file).
fn app(project: &Project) -> String {
    let home = project.path().join("app-home");
    std::fs::create_dir_all(&home).unwrap();
    let go = project.path().join("go");
    format!(
        r#"
[services.app]
command = ["sh", "-c", "echo app ready; while [ ! -e '{go}' ]; do sleep 0.02; done; python3 -u -c \"from ipykernel.embed import embed_kernel; answer = 42; embed_kernel(local_ns={{'answer': answer}})\""]
ready = {{ log = "app ready" }}
env = {{ HOME = "{home}" }}
"#,
        go = go.display(),
        home = home.display(),
    )
}

#[test]
fn kernel_waits_for_the_embedded_kernel_and_a_console_runs_code_in_it() {
    let p = Project::new();
    let _bundle = start(&p, &app(&p), &[]);
    let dir = p.path().to_owned();
    // Asked before the kernel exists: the command waits for its announcement.
    let waiting = std::thread::spawn(move || teamster(&dir, &["kernel", "app", "--print"], None));
    std::fs::write(p.path().join("go"), "").unwrap();
    let out = waiting.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let runtime = p.path().join("app-home/.local/share/jupyter/runtime");
    assert!(
        file.starts_with(runtime.to_str().unwrap()) && file.ends_with(".json"),
        "{file}"
    );

    let console = teamster(
        p.path(),
        &["kernel", "app", "--", "--simple-prompt"],
        Some("print(answer * 2)\nquit(keep_kernel=True)\n"),
    );
    let stdout = String::from_utf8_lossy(&console.stdout);
    assert!(
        console.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&console.stderr)
    );
    assert!(stdout.contains("84"), "{stdout}");
}

#[test]
fn the_kernel_method_names_the_file_and_its_announcement() {
    let p = Project::new();
    let bundle = start(&p, &app(&p), &[]);
    std::fs::write(p.path().join("go"), "").unwrap();
    let (mut conn, _) = Conn::open(&bundle.socket());
    let reply = conn
        .call("kernel", json!({"service": "app", "timeout_ms": 60_000}))
        .expect("kernel");
    let file = reply["connection_file"].as_str().expect("a file");
    let connection: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert!(connection["shell_port"].as_u64().is_some(), "{connection}");
    let name = std::path::Path::new(file)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        reply["line"]["text"].as_str().unwrap().contains(name),
        "{reply}"
    );

    let error = conn
        .call("kernel", json!({"service": "nope", "timeout_ms": 10}))
        .unwrap_err();
    assert_eq!(error["code"], -32010, "{error}");
}

#[test]
fn a_service_without_a_kernel_is_reported_with_its_last_lines() {
    let p = Project::new();
    let _bundle = start(
        &p,
        r#"
[services.quiet]
command = ["sh", "-c", "echo hello; exec sleep 1000"]
ready = { log = "hello" }
"#,
        &[],
    );
    let out = teamster(p.path(), &["kernel", "quiet", "--timeout", "200ms"], None);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @"
    error: service `quiet` announced no IPython kernel (`IPython.embed_kernel()` announces one): timed out after 200ms waiting for a `--existing kernel-….json` line in `quiet`; last lines:
      [quiet] hello
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_api_finds_the_kernel_too() {
    let p = Project::new();
    let running = p.start(&app(&p)).await;
    std::fs::write(p.path().join("go"), "").unwrap();
    let app = running.service("app").unwrap();
    let kernel = app
        .kernel(Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    assert!(kernel.file.is_file(), "{kernel:?}");
    assert!(kernel.line.text.contains("--existing"), "{kernel:?}");
    running.stop().await;
}
