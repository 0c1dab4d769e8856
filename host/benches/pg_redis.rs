//! teamster's side of the Postgres + Redis benchmark (see bench/pg_redis.sh): a bundle of
//! the `postgres` and `redis` kinds, from `start` to all ready, then stopped.
//! Prints one JSON object: {"runs": N, "ready_s": [...], "total_s": [...]}.

use std::time::Instant;

use teamster::{Bundle, BundleSpec};

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let user = if nix::unistd::Uid::effective().is_root() {
        "user = \"postgres\"\n"
    } else {
        ""
    };
    let path = dir.path().join("bundle.toml");
    std::fs::write(
        &path,
        format!("[services.db]\nkind = \"postgres\"\n{user}[services.cache]\nkind = \"redis\"\n"),
    )
    .expect("write");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut ready, mut total) = (Vec::new(), Vec::new());
    rt.block_on(async {
        // One warm-up run: compiles the plugins into the cache and builds the initdb template,
        // as the first test of a suite would.
        for i in 0..=runs {
            let spec =
                BundleSpec::load(&path).unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
            let t = Instant::now();
            let r = Bundle::new(spec)
                .start()
                .await
                .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
            let up = t.elapsed().as_secs_f64();
            r.stop().await;
            if i > 0 {
                ready.push(up);
                total.push(t.elapsed().as_secs_f64());
            }
        }
    });
    println!(
        "{}",
        serde_json::json!({"runs": runs, "ready_s": ready, "total_s": total})
    );
}
