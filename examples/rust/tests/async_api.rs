//! A bundle built in code and used from `#[tokio::test]`.

use std::time::Duration;

use teamster::{BundleSpec, Readiness, ServiceSpec};

#[tokio::test]
async fn redis_and_a_web_server_for_one_test() {
    let project = tempfile::tempdir().expect("a private project directory");
    let bundle = BundleSpec::builder(project.path())
        .service(ServiceSpec::builder("cache").kind("redis", serde_json::json!({})))
        .service(
            ServiceSpec::builder("web")
                .command([
                    "python3",
                    "-u",
                    "-m",
                    "http.server",
                    "0",
                    "--bind",
                    "127.0.0.1",
                ])
                .ready(Readiness::log("Serving HTTP"))
                .needs("cache"),
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));

    // Connection values, from the kind.
    let cache = &bundle["cache"];
    let port = cache.port("main").expect("redis has a main port");
    assert_eq!(
        cache.connection("url"),
        Some(format!("redis://127.0.0.1:{port}/0").as_str())
    );

    // A sub-command in the service's environment.
    let out = cache
        .subcommand("cli", ["SET", "greeting", "hello"])
        .expect("redis offers `cli`")
        .output()
        .await
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");

    // A wait on the logs: the line is already there, or comes within the timeout.
    let line = bundle["web"]
        .logs()
        .until("Serving HTTP", Duration::from_secs(10))
        .lines_back(usize::MAX)
        .await
        .expect("the server's banner");
    assert!(line.text.contains("127.0.0.1"), "{}", line.text);

    bundle.stop().await;
}
