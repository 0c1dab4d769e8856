//! A bundle from a plain `#[test]`, with no async runtime in the test.

use std::time::Duration;

use teamster::{BundleSpec, ServiceSpec};

#[test]
fn a_plain_test_starts_and_stops_a_bundle() {
    let project = tempfile::tempdir().expect("a private project directory");
    let bundle = BundleSpec::builder(project.path())
        .service(ServiceSpec::builder("cache").kind("redis", serde_json::json!({})))
        .start_blocking()
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));

    let line = bundle
        .wait_for_line(
            "cache",
            "Ready to accept connections",
            Duration::from_secs(10),
        )
        .expect("redis says it is ready");
    assert!(line.text.contains("Ready"), "{}", line.text);
    let out = bundle
        .block_on(
            bundle
                .service("cache")
                .expect("cache")
                .subcommand("cli", ["PING"])
                .expect("redis offers `cli`")
                .output(),
        )
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
    // Dropping the handle stops every service and waits until their trees are gone.
    drop(bundle);
}
