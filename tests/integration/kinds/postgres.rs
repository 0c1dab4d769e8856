//! The `postgres` kind on a real PostgreSQL server.

use std::process::Command;
use std::time::Instant;

use super::stdout_of;
use crate::fixture::Project;
use crate::fixture::postgres_user_line;

fn start_text(config: &str) -> String {
    format!(
        "startup_timeout = \"90s\"\n[services.db]\nkind = \"postgres\"\n{user}[services.db.config]\n{config}\n",
        user = postgres_user_line()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_subcommand_runs_sql() {
    let p = Project::new();
    let running = p.start(&start_text("")).await;
    assert_eq!(
        stdout_of(&running["db"], "psql", &["-tAc", "select 1 + 1"]).await,
        "2"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_connects_from_outside() {
    let p = Project::new();
    let running = p
        .start(&start_text(
            "password = \"s3cret/pw\"\ndatabase = \"postgres\"",
        ))
        .await;
    let url = running.connection("db", "url").expect("url").to_owned();
    let port = running["db"].ports()[0].1;
    assert_eq!(
        url,
        format!("postgresql://postgres:s3cret%2Fpw@127.0.0.1:{port}/postgres")
    );
    let psql = |url: &str| {
        Command::new("psql")
            .args([url, "-w", "-X", "-tAc", "select current_user"])
            .output()
            .expect("psql runs")
    };
    let out = psql(&url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "postgres");
    // The password is really required: the same URL without it is refused.
    let out = psql(&format!("postgresql://postgres@127.0.0.1:{port}/postgres"));
    assert!(
        !out.status.success(),
        "a connection without the password was accepted"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poststart_creates_users_databases_and_loads_sql() {
    let p = Project::new();
    std::fs::write(p.file("schema.sql"), "create table items (id int primary key, name text);\ninsert into items values (1, 'it''s here');\n")
        .expect("write schema");
    let running = p
        .start(&start_text(
            r#"users = [{ name = "app", password = "apppw" }, { name = "reader" }]
databases = [{ name = "appdb", owner = "app", sql_files = ["schema.sql"] }]"#,
        ))
        .await;
    let db = &running["db"];
    // `psql` opens on the first configured database.
    assert_eq!(
        stdout_of(db, "psql", &["-tAc", "select current_database()"]).await,
        "appdb"
    );
    assert_eq!(
        stdout_of(
            db,
            "psql",
            &[
                "-tAc",
                "select pg_get_userbyid(datdba) from pg_database where datname = 'appdb'"
            ]
        )
        .await,
        "app"
    );
    assert_eq!(
        stdout_of(
            db,
            "psql",
            &[
                "-tAc",
                "select count(*) from pg_roles where rolname in ('app', 'reader')"
            ]
        )
        .await,
        "2"
    );
    // The SQL file ran as the owner.
    assert_eq!(
        stdout_of(
            db,
            "psql",
            &[
                "-tAc",
                "select tableowner from pg_tables where tablename = 'items'"
            ]
        )
        .await,
        "app"
    );
    assert_eq!(
        stdout_of(db, "psql", &["-tAc", "select name from items"]).await,
        "it's here"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_subcommand_dumps_the_database() {
    let p = Project::new();
    let running = p
        .start(&start_text(r#"databases = [{ name = "shop" }]"#))
        .await;
    stdout_of(
        &running["db"],
        "psql",
        &["-c", "create table orders (id int)"],
    )
    .await;
    let dump = stdout_of(&running["db"], "pg_dump", &["--schema-only"]).await;
    assert!(dump.contains("CREATE TABLE public.orders"), "{dump}");
    running.stop().await;
}

/// The first start in an empty cache builds a template in the kind's cache directory
/// (`teamster/kinds/postgres/<version>` of the service's cache home); the next one copies
/// it (a file planted in the template shows up in the new cluster). Prints both start
/// times, which is what the template is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_copies_the_cached_template() {
    let p = Project::new();
    let cache = p.file("cache");
    std::fs::create_dir(&cache).expect("cache dir");
    let owner = nix::unistd::Uid::effective().is_root().then(|| {
        nix::unistd::User::from_name("postgres")
            .expect("lookup")
            .expect("a postgres user")
    });
    if let Some(pg) = &owner {
        nix::unistd::chown(&cache, Some(pg.uid), Some(pg.gid)).expect("chown");
    }
    // A private cache, so the first start really is cold whatever other tests left behind.
    let text = format!(
        "startup_timeout = \"90s\"\n[services.db]\nkind = \"postgres\"\n{user}env = {{ XDG_CACHE_HOME = \"{cache}\" }}\n",
        user = postgres_user_line(),
        cache = cache.display()
    );

    let started = Instant::now();
    let running = p.start(&text).await;
    let cold = started.elapsed();
    running.stop().await;
    let templates = templates_in(&cache);
    assert_eq!(templates.len(), 1, "{templates:?}");
    let marker = templates[0].join("planted-by-test");
    std::fs::write(&marker, "x").expect("plant a marker");
    if let Some(pg) = &owner {
        nix::unistd::chown(&marker, Some(pg.uid), Some(pg.gid)).expect("chown");
    }

    // The first run left a spare data directory, made from the template before the marker
    // was planted; without it the next start copies the template again.
    std::fs::remove_dir_all(p.path().join(".teamster/spares")).expect("remove the spares");
    let started = Instant::now();
    let running = p.start(&text).await;
    let warm = started.elapsed();
    assert!(
        running
            .run_dir()
            .join("data/db/pgdata/planted-by-test")
            .is_file(),
        "the cluster was not copied from the template"
    );
    assert_eq!(
        stdout_of(&running["db"], "psql", &["-tAc", "select 1"]).await,
        "1"
    );
    running.stop().await;
    eprintln!("postgres bundle start: cold template {cold:?}, warm template {warm:?}");
}

/// Everything in the postgres kind's cache directories under `cache` (one per plugin
/// version), which must all be whole templates.
fn templates_in(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    let kind = cache.join("teamster/kinds/postgres");
    let entries: Vec<_> = std::fs::read_dir(&kind)
        .expect("the kind's cache directory")
        .flatten()
        .flat_map(|version| {
            std::fs::read_dir(version.path())
                .expect("a version")
                .flatten()
        })
        .map(|e| e.path())
        .collect();
    for path in &entries {
        assert!(
            path.join("PG_VERSION").is_file(),
            "not a whole template: {path:?}"
        );
    }
    entries
}

/// A private cache home for the `postgres` user (or the test's own), and the bundle text
/// of `services` postgres services that use it.
fn private_cache(p: &Project, services: usize) -> (std::path::PathBuf, String) {
    let cache = p.file("cache");
    std::fs::create_dir(&cache).expect("cache dir");
    if nix::unistd::Uid::effective().is_root() {
        let pg = nix::unistd::User::from_name("postgres")
            .expect("lookup")
            .expect("a postgres user");
        nix::unistd::chown(&cache, Some(pg.uid), Some(pg.gid)).expect("chown");
    }
    let mut text = "startup_timeout = \"90s\"\n".to_string();
    for i in 0..services {
        text.push_str(&format!(
            "[services.db{i}]\nkind = \"postgres\"\n{user}env = {{ XDG_CACHE_HOME = \"{cache}\" }}\n",
            user = postgres_user_line(),
            cache = cache.display()
        ));
    }
    (cache, text)
}

/// Three services filling an empty cache at once (as three bundles would) all start, and
/// leave one whole template behind: each built under a private name and renamed it into
/// place, and the losers used the winner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_filling_the_cache_at_once_leave_one_whole_template() {
    let p = Project::new();
    let (cache, text) = private_cache(&p, 3);
    let running = p.start(&text).await;
    for i in 0..3 {
        assert_eq!(
            stdout_of(
                &running[format!("db{i}").as_str()],
                "psql",
                &["-tAc", "select 1"]
            )
            .await,
            "1"
        );
    }
    running.stop().await;
    let templates = templates_in(&cache);
    assert_eq!(templates.len(), 1, "{templates:?}");
}

/// `template_cache = false` runs a plain `initdb` on the cluster directory and leaves the
/// kind's cache directory empty; the server and its password work as with a template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_template_cache_initdb_runs_in_place() {
    let p = Project::new();
    let (cache, text) = private_cache(&p, 1);
    let text = format!("{text}[services.db0.config]\ntemplate_cache = false\npassword = \"pw\"\n");
    let running = p.start(&text).await;
    assert_eq!(
        stdout_of(&running["db0"], "psql", &["-tAc", "select 2 * 3"]).await,
        "6"
    );
    let pwfile = running.run_dir().join("data/db0/pwfile");
    running.stop().await;
    assert!(
        templates_in(&cache).is_empty(),
        "a template was made: {:?}",
        templates_in(&cache)
    );
    assert!(!pwfile.exists(), "the password file outlived setup");
}

/// As root without `user`, the kind refuses before `initdb` runs, saying what to write;
/// PostgreSQL's own refusal comes later and names no fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_as_root_is_refused_with_what_to_write() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: only a root host can run the service as root");
        return;
    }
    let p = Project::new();
    let err = p
        .bundle("[services.db]\nkind = \"postgres\"\n")
        .start()
        .await
        .expect_err("postgres as root");
    insta::assert_snapshot!(teamster::error_chain(&err), @r#"cannot configure service `db`: plugin `postgres` failed in `configure`: PostgreSQL refuses to run as root: teamster runs as root, so add `user = "postgres"` (or another unprivileged user) to the service"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_owned_by_an_unknown_user_is_refused_at_configure() {
    let p = Project::new();
    let err = p
        .bundle(&start_text(
            r#"databases = [{ name = "shop", owner = "nobody_here" }]"#,
        ))
        .start()
        .await
        .expect_err("an unknown owner");
    insta::assert_snapshot!(teamster::error_chain(&err), @"cannot configure service `db`: plugin `postgres` failed in `configure`: database `shop` is owned by `nobody_here`, which is neither the superuser `postgres` nor in `users`");
}

/// The text of every line `service` has logged so far.
fn log_texts(service: &teamster::ServiceHandle) -> Vec<String> {
    service
        .logs()
        .lines()
        .expect("logs")
        .into_iter()
        .map(|l| l.text)
        .collect()
}

/// The spare data directories of the project `p`: `(key directory, entries)` each.
fn spares_of(p: &Project) -> Vec<(String, Vec<String>)> {
    let root = p.path().join(".teamster/spares");
    let Ok(keys) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<String>)> = keys
        .flatten()
        .map(|key| {
            let mut names: Vec<String> = std::fs::read_dir(key.path())
                .expect("a key directory")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            (key.file_name().to_string_lossy().into_owned(), names)
        })
        .collect();
    out.sort();
    out
}

/// Once a bundle is ready, the host runs the postgres kind's `setup` once more into a spare
/// data directory (the kind says `setup-ahead`). The next start in the project takes that
/// directory over, so its `setup` finds the cluster in place; and nothing the first run
/// wrote is in it. A new spare is made for the start after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_start_takes_a_spare_made_after_the_last_and_nothing_leaks() {
    let p = Project::new();
    let (_cache, text) = private_cache(&p, 1);
    let running = p.start(&text).await;
    stdout_of(
        &running["db0"],
        "psql",
        &["-tAc", "create table from_the_first_run (x int)"],
    )
    .await;
    // `stop` waits for the spare being prepared.
    running.stop().await;
    let first = spares_of(&p);
    assert_eq!(first.len(), 1, "one key for one service: {first:?}");
    assert!(first[0].0.starts_with("postgres-"), "{first:?}");
    assert_eq!(first[0].1.len(), 1, "{first:?}");
    assert!(first[0].1[0].starts_with("ready-"), "{first:?}");

    let running = p.start(&text).await;
    let lines = log_texts(&running["db0"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("a spare that `setup` prepared after an earlier start")),
        "the spare was not taken: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("the cluster is in place already")),
        "setup did not find the spare's cluster: {lines:#?}"
    );
    assert_eq!(
        stdout_of(
            &running["db0"],
            "psql",
            &["-tAc", "select to_regclass('from_the_first_run') is null"]
        )
        .await,
        "t",
        "a table of the first run reached the second"
    );
    running.stop().await;
    let second = spares_of(&p);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].1.len(), 1, "{second:?}");
    assert!(second[0].1[0].starts_with("ready-"), "{second:?}");
    assert_ne!(first[0].1, second[0].1, "the taken spare was not replaced");
}

/// A different config is a different key: its start does not take the other's spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spare_serves_only_the_same_config() {
    let p = Project::new();
    let (_cache, text) = private_cache(&p, 1);
    p.start(&text).await.stop().await;
    let other = format!("{text}[services.db0.config]\nuser = \"someone\"\n");
    let running = p.start(&other).await;
    let lines = log_texts(&running["db0"]);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("a spare that `setup` prepared")),
        "a spare of another config was taken: {lines:#?}"
    );
    assert_eq!(
        stdout_of(&running["db0"], "psql", &["-tAc", "select current_user"]).await,
        "someone"
    );
    running.stop().await;
    assert_eq!(spares_of(&p).len(), 2, "{:?}", spares_of(&p));
}

/// A bundle killed right after it is ready calls off the spare being prepared (the kill
/// switch does, and so does dropping a bundle without `stop`): no helper process is left,
/// no half-made directory, and no spare; its `setup` runs helpers for far longer than the
/// kill takes, so a spare would mean the work went on. `stop` waits for what it called off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bundle_calls_its_spare_off() {
    let p = Project::new();
    let (_cache, text) = private_cache(&p, 1);
    let running = p.start(&text).await;
    running.kill_switch().kill();
    running.stop().await;
    let spares = p.path().join(".teamster/spares");
    let needle = spares.to_string_lossy().into_owned();
    let helpers: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect();
    assert!(helpers.is_empty(), "helpers left running: {helpers:?}");
    let left = spares_of(&p);
    assert!(
        left.iter().all(|(_, names)| names.is_empty()),
        "the preparation went on: {left:?}"
    );
}
