//! Real PostgreSQL and Redis servers under the clock preload library.

use std::process::Command;
use std::time::Duration;

use chrono::Utc;

use crate::fixture::{Project, eventually, free_port};

fn pg_bin() -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (Debian package `postgresql`)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("a postgres binary under /usr/lib/postgresql/*/bin")
}

fn psql(port: u16, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn pg_epoch(port: u16) -> f64 {
    psql(port, "select extract(epoch from now())")
        .parse()
        .expect("epoch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_now_moves_with_the_bundle() {
    let p = Project::new();
    let port = free_port();
    let bin = pg_bin();
    let running = p.start(&format!(
            r#"
startup_timeout = "60s"
[services.db]
command = ["sh", "-c", "{bin}/initdb -D \"$TEAMSTER_DATA_DIR/pg\" --auth=trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null && exec {bin}/postgres -D \"$TEAMSTER_DATA_DIR/pg\" -p {port} -k \"$TEAMSTER_DATA_DIR\" -c listen_addresses=127.0.0.1 -F"]
{user}stop_signal = "SIGINT"
ready = {{ log = "database system is ready to accept connections" }}
"#,
            bin = bin.display(),
            user = crate::fixture::postgres_user_line(),
        )).await;

    running
        .time_travel(chrono::Duration::days(30))
        .expect("travel");
    let want = Utc::now().timestamp() as f64 + 30.0 * 86400.0;
    assert!((pg_epoch(port) - want).abs() < 60.0);
    running
        .time_travel(chrono::Duration::hours(-2))
        .expect("travel");
    let want = Utc::now().timestamp() as f64 + 30.0 * 86400.0 - 7200.0;
    assert!((pg_epoch(port) - want).abs() < 60.0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_expires_keys_after_a_jump_without_access() {
    let p = Project::new();
    let port = free_port();
    let running = p
        .start(&format!(
            r#"
[services.cache]
command = "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --dir ."
ready = {{ log = "Ready to accept connections" }}
"#
        ))
        .await;
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(&["set", "session", "x", "EX", "3600"]), "OK");
    assert_eq!(cli(&["dbsize"]), "1");
    running
        .time_travel(chrono::Duration::hours(2))
        .expect("travel");
    // Redis's active expiry cycle removes the key by itself; DBSIZE does not touch it.
    assert!(
        eventually(Duration::from_secs(10), || cli(&["dbsize"]) == "0").await,
        "the key outlived its TTL"
    );
    running.stop().await;
    // It stopped normally, not by SIGKILL.
    let lines = running_logs_contain(&p, "cache", "ready to exit");
    assert!(lines, "redis did not shut down cleanly");
}

fn running_logs_contain(p: &Project, service: &str, text: &str) -> bool {
    let runs = p.file(".teamster/runs");
    std::fs::read_dir(runs).expect("runs").flatten().any(|run| {
        std::fs::read_to_string(run.path().join("logs").join(format!("{service}.out")))
            .is_ok_and(|s| s.to_lowercase().contains(text))
    })
}
