//! The `redis` kind on a real Redis server.

use super::stdout_of;
use crate::fixture::Project;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_subcommand_pings() {
    let p = Project::new();
    let running = p.start("[services.cache]\nkind = \"redis\"\n").await;
    assert_eq!(stdout_of(&running["cache"], "cli", &["PING"]).await, "PONG");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_points_at_the_server() {
    let p = Project::new();
    let running = p.start("[services.cache]\nkind = \"redis\"\n").await;
    let port = running["cache"].ports()[0].1;
    assert_eq!(
        running.connection("cache", "url"),
        Some(format!("redis://127.0.0.1:{port}/0").as_str())
    );
    let out = std::process::Command::new("redis-cli")
        .args([
            "-u",
            running.connection("cache", "url").expect("url"),
            "SET",
            "k",
            "v",
        ])
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    assert_eq!(
        stdout_of(&running["cache"], "cli", &["GET", "k"]).await,
        "v"
    );
    running.stop().await;
}
