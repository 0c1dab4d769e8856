//! The `postgres` kind: a throwaway PostgreSQL server per bundle.
//!
//! Tests want a real database that starts in a second and disappears with the bundle. So the
//! cluster lives in the service's data directory, fsync is off, and the server is the
//! postmaster itself (not `pg_ctl`), so the supervisor holds it and `SIGINT` ("fast"
//! shutdown) stops it without waiting for clients.
//!
//! `initdb` is the slow part of a start (a second or more). Its result depends only on the
//! PostgreSQL version and the options, so `setup` keeps one initialised cluster per
//! (version, options) in the kind's cache directory (`service-context.cache-dir`) and
//! copies it; see [`template`]. When there is no cache directory, or `template_cache` is
//! off, it runs a plain `initdb`. The cluster's WAL segments are 1 MB instead of 16, which
//! makes the template 24 MB instead of 39 and every copy of it faster.
//!
//! Even a copy takes 50 to 500 ms on a virtual machine's disk, so the kind says
//! `setup_ahead`: once a bundle is ready the host runs `setup` again into a spare data
//! directory, and the next start of the same service takes it over. That start's `setup`
//! then finds the cluster in place, as a restart does, and returns at once.
//!
//! Once the server is ready, `poststart` creates the configured users and databases and loads
//! SQL files, through `psql` with `ON_ERROR_STOP`. Every statement checks first whether its
//! object exists, so a restart on the same data directory does not fail.
//!
//! Programs are found like the host finds them (PATH, then the newest
//! `/usr/lib/postgresql/<version>/bin`), unless `bin_dir` names a directory; programs there
//! (the server, `initdb`, `psql` and the sub-commands) are reached through the declared
//! `sh`, because the host starts only programs it resolves itself.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Needle, PortSetting, Process, Readiness, Service,
    Stream, cache, find_program, fs, log,
};

/// The line the postmaster prints (on stderr) once it accepts connections.
const READY_LINE: Needle = Needle::from_static("database system is ready to accept connections");

/// The locale every cluster gets: always present on Debian, and independent of the host's
/// settings, so the same options give the same template everywhere.
const LOCALE: &str = "C.UTF-8";

/// A login role created by `poststart`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct User {
    name: String,
    password: Option<String>,
}

/// A database created by `poststart`, optionally filled from SQL files.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Database {
    name: String,
    /// Defaults to the superuser.
    owner: Option<String>,
    /// Paths relative to the project directory, run in order as the owner.
    #[serde(default)]
    sql_files: Vec<String>,
}

/// Whether `setup` may use the template cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Templates {
    Cached,
    Off,
}

/// The `[services.<name>.config]` table of a postgres service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// Read by the host, which reserves or picks the main port; only checked here.
    #[serde(default)]
    port: PortSetting,
    /// The superuser's name inside the cluster.
    #[serde(default = "default_superuser")]
    user: String,
    /// The superuser's password; with it, the cluster requires passwords.
    password: Option<String>,
    /// The database that connection info and `psql` point at.
    database: Option<String>,
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    databases: Vec<Database>,
    bin_dir: Option<String>,
    #[serde(default = "default_true")]
    template_cache: bool,
}

fn default_superuser() -> String {
    "postgres".to_string()
}

fn default_true() -> bool {
    true
}

impl Config {
    /// Checks what the schema cannot: the port value, names and owners.
    fn validate(&self) -> Result<(), Error> {
        self.port.check()?;
        let mut names = vec![self.user.as_str()];
        for user in &self.users {
            check_name("user", &user.name)?;
            if names.contains(&user.name.as_str()) {
                return Err(Error::msg(format!(
                    "user `{}` is listed twice (the superuser counts)",
                    user.name
                )));
            }
            names.push(&user.name);
        }
        for db in &self.databases {
            check_name("database", &db.name)?;
            if let Some(owner) = &db.owner
                && !names.contains(&owner.as_str())
            {
                return Err(Error::msg(format!(
                    "database `{}` is owned by `{owner}`, which is neither the superuser `{}` nor in `users`",
                    db.name, self.user
                )));
            }
        }
        Ok(())
    }

    /// The database connection info and `psql` use: `database`, else the first configured
    /// one, else `postgres`.
    fn main_database(&self) -> &str {
        self.database
            .as_deref()
            .or_else(|| self.databases.first().map(|d| d.name.as_str()))
            .unwrap_or("postgres")
    }

    fn templates(&self) -> Templates {
        if self.template_cache {
            Templates::Cached
        } else {
            Templates::Off
        }
    }
}

/// PostgreSQL takes almost any name when quoted, but a NUL or an empty name never works and
/// would only fail later with a confusing message.
fn check_name(what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('\0') || name.len() > 63 {
        return Err(Error::msg(format!(
            "{what} name `{name}` must be 1 to 63 characters without NUL"
        )));
    }
    Ok(())
}

struct Postgres;

impl Kind for Postgres {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "postgres",
            env!("CARGO_PKG_VERSION"),
            "A throwaway PostgreSQL server with users, databases and SQL files",
        )
        .program("sh")
        .program("initdb")
        .program("cp")
        .program("postgres")
        .program("psql")
        .program("pg_dump")
        .program("pg_restore")
        .subcommand("psql", "Open psql on the service's database")
        .subcommand("pg_dump", "Dump the service's database")
        .subcommand("pg_restore", "Restore a dump into the service's database")
        .config_schema_of::<Config>()
        .setup_ahead()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        svc.config.validate()?;
        refuse_root(svc)?;
        let port = svc.main_port()?;
        let (program, leading) = start_words(svc, "postgres")?;
        Ok(Process::new(program)
            .args(leading)
            .args(["-D".to_string(), pgdata(svc)])
            .args(["-p".to_string(), port.to_string()])
            .args(["-k".to_string(), svc.data_dir.clone()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "logging_collector=off"])
            .args(["-c", "log_destination=stderr"])
            .arg("-F")
            .env("LC_ALL", LOCALE)
            .stop_signal("SIGINT")
            .ready(Readiness::plugin_check()))
    }

    fn setup(svc: &Service<Config>) -> Result<(), Error> {
        let cfg = &svc.config;
        cfg.validate()?;
        if svc.data_path("pgdata/PG_VERSION").exists() {
            log::info("the cluster is in place already; nothing to set up");
            return Ok(());
        }
        let mut options = vec![
            format!("--username={}", cfg.user),
            "--encoding=UTF8".to_string(),
            format!("--locale={LOCALE}"),
            "--wal-segsize=1".to_string(),
        ];
        let pwfile = svc.data_path("pwfile");
        match &cfg.password {
            Some(password) => {
                fs::write(&pwfile, password)?;
                options.push(format!("--pwfile={}", pwfile.display()));
                options.push("--auth=password".to_string());
            }
            None => options.push("--auth=trust".to_string()),
        }
        let how = match (cfg.templates(), svc.cache_dir.as_deref()) {
            (Templates::Cached, Some(cache)) => template(svc, cache, &options),
            _ => initdb(svc, &pgdata(svc), &options).map(|()| "initdb"),
        }
        .map_err(|e| e.context(format!("initdb of service `{}`", svc.name)));
        // The password must not outlive setup, whether initdb worked or not.
        if cfg.password.is_some() {
            let _ = fs::remove_file(&pwfile);
        }
        log::info(format!("cluster ready ({})", how?));
        Ok(())
    }

    fn ready_check(_svc: &Service<Config>, _stream: Stream, line: &str) -> bool {
        READY_LINE.is_in(line)
    }

    fn poststart(svc: &Service<Config>) -> Result<(), Error> {
        let cfg = &svc.config;
        if cfg.users.is_empty() && cfg.databases.is_empty() {
            return Ok(());
        }
        let script = creation_script(cfg);
        psql(svc, "postgres")?
            .args(["-q", "-f", "-"])
            .stdin(script)
            .run_checked()
            .map_err(|e| e.context(format!("creating users and databases of `{}`", svc.name)))?;
        for db in &cfg.databases {
            load_sql_files(svc, db)?;
        }
        Ok(())
    }

    fn subcommand(svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        let cfg = &svc.config;
        let cmd = match name {
            "psql" | "pg_dump" | "pg_restore" => {
                let (program, leading) = start_words(svc, name)?;
                let cmd = Command::new(program).args(leading);
                client(svc, cmd)?.args(["-d", cfg.main_database()])
            }
            other => return Err(Error::unknown_subcommand(other)),
        };
        Ok(cmd.args(args.iter().cloned()))
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        let cfg = &svc.config;
        let port = svc.main_port()?;
        let database = cfg.main_database();
        let auth = match &cfg.password {
            Some(password) => format!("{}:{}", url_escape(&cfg.user), url_escape(password)),
            None => url_escape(&cfg.user),
        };
        Ok(vec![
            (
                "url".into(),
                format!(
                    "postgresql://{auth}@127.0.0.1:{port}/{}",
                    url_escape(database)
                ),
            ),
            ("host".into(), "127.0.0.1".into()),
            ("port".into(), port.to_string()),
            ("user".into(), cfg.user.clone()),
            ("password".into(), cfg.password.clone().unwrap_or_default()),
            ("database".into(), database.to_string()),
            ("socket_dir".into(), svc.data_dir.clone()),
        ])
    }
}

/// Prepares the cluster directory from the cache's template for these `options`, building
/// the template first if the cache has none (with [`cache::entry`], so bundles starting
/// at once never copy half a template). Says which happened.
///
/// The template's name holds everything its files depend on: the PostgreSQL version (as
/// `initdb --version` prints it) and a hash of the options, the password included (hashed:
/// it must not appear in a file name), but not the password file's path, which changes
/// with every run.
fn template(svc: &Service<Config>, cache: &str, options: &[String]) -> Result<&'static str, Error> {
    let (program, leading) = start_words(svc, "initdb")?;
    let version = Command::new(program)
        .args(leading)
        .arg("--version")
        .run_checked()?
        .stdout;
    let version: String = version
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut key: Vec<&str> = options
        .iter()
        .map(String::as_str)
        .filter(|o| !o.starts_with("--pwfile="))
        .collect();
    let password = svc.config.password.as_deref().unwrap_or("");
    key.push(password);
    let name = format!("{version}-{:016x}", fnv1a(key.join("\n").as_bytes()));
    let entry = cache::entry(cache, &name, |building| {
        initdb(svc, &building.display().to_string(), options)
    })?;
    // `cp` runs as the service's user, so the copy is theirs; plain `-R` keeps the modes
    // PostgreSQL checks and skips the timestamps and owners it does not.
    Command::new("cp")
        .arg("-R")
        .arg(entry.path())
        .arg(pgdata(svc))
        .timeout(std::time::Duration::from_secs(120))
        .run_checked()?;
    Ok(if entry.built() {
        "template built"
    } else {
        "template copied"
    })
}

/// Runs `initdb` with `options` on `dir`, which it creates.
fn initdb(svc: &Service<Config>, dir: &str, options: &[String]) -> Result<(), Error> {
    let (program, leading) = start_words(svc, "initdb")?;
    Command::new(program)
        .args(leading)
        .args(["-D", dir])
        .args(options)
        .env("LC_ALL", LOCALE)
        .timeout(std::time::Duration::from_secs(180))
        .run_checked()
        .map(drop)
}

/// PostgreSQL refuses to run as root with a line of its own after `initdb` has run; this
/// says so first, and what to write.
fn refuse_root(svc: &Service<Config>) -> Result<(), Error> {
    if !svc.user.is_root() {
        return Ok(());
    }
    Err(Error::msg(
        "PostgreSQL refuses to run as root: teamster runs as root, so add `user = \"postgres\"` (or another unprivileged user) to the service",
    ))
}

fn pgdata(svc: &Service<Config>) -> String {
    svc.data_path("pgdata").display().to_string()
}

/// The absolute path of a PostgreSQL program: in `bin_dir` when configured, else where the
/// host finds it.
fn program_path(svc: &Service<Config>, name: &str) -> Result<String, Error> {
    match &svc.config.bin_dir {
        Some(dir) => {
            let dir = if dir.starts_with('/') {
                dir.clone()
            } else {
                format!("{}/{dir}", svc.project_dir)
            };
            Ok(format!("{}/{name}", dir.trim_end_matches('/')))
        }
        None => find_program(name).ok_or_else(|| {
            Error::msg(format!(
                "cannot find `{name}`: install PostgreSQL (Debian: `apt install postgresql`) or set `bin_dir`"
            ))
        }),
    }
}

/// The program and leading arguments that start PostgreSQL's `name`: the path the host
/// resolves, or with `bin_dir`, `sh` exec'ing the configured binary.
fn start_words(svc: &Service<Config>, name: &str) -> Result<(String, Vec<String>), Error> {
    let path = program_path(svc, name)?;
    Ok(match &svc.config.bin_dir {
        None => (path, Vec::new()),
        Some(_) => {
            let words = ["-c", EXEC_ARGV, &path];
            ("sh".to_string(), words.map(str::to_string).to_vec())
        }
    })
}

/// The `sh -c` script that replaces the shell with the program and arguments that follow
/// it (`$0` is the program).
const EXEC_ARGV: &str = r#"exec "$0" "$@""#;

/// `psql` on `database` as the superuser, stopping at the first error.
fn psql(svc: &Service<Config>, database: &str) -> Result<Command, Error> {
    let (program, leading) = start_words(svc, "psql")?;
    let cmd = Command::new(program).args(leading);
    Ok(client(svc, cmd)?
        .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-X"])
        .env("LC_ALL", LOCALE))
}

/// `cmd` as a client of this service's server: host, port, user and password.
fn client(svc: &Service<Config>, cmd: Command) -> Result<Command, Error> {
    let cfg = &svc.config;
    let port = svc.main_port()?.to_string();
    let cmd = cmd.args(["-h", "127.0.0.1", "-p", &port, "-U", &cfg.user]);
    Ok(match &cfg.password {
        Some(password) => cmd.env("PGPASSWORD", password.clone()),
        None => cmd,
    })
}

/// One psql script creating every missing user and database. `format()` with `%I`/`%L`
/// quotes the names on the server side; `\gexec` runs each generated statement on its own,
/// which `CREATE DATABASE` requires.
fn creation_script(cfg: &Config) -> String {
    let mut script = String::new();
    for user in &cfg.users {
        let password = match &user.password {
            Some(p) => format!(" PASSWORD %L', {}, {})", literal(&user.name), literal(p)),
            None => format!("', {})", literal(&user.name)),
        };
        script.push_str(&format!(
            "SELECT format('CREATE ROLE %I LOGIN{password} WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {})\\gexec\n",
            literal(&user.name)
        ));
    }
    for db in &cfg.databases {
        let owner = db.owner.as_deref().unwrap_or(&cfg.user);
        script.push_str(&format!(
            "SELECT format('CREATE DATABASE %I OWNER %I', {}, {}) WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {})\\gexec\n",
            literal(&db.name),
            literal(owner),
            literal(&db.name)
        ));
    }
    script
}

/// Runs a database's SQL files once, as its owner. A marker in the data directory remembers
/// that they ran, so a restart does not load them twice.
fn load_sql_files(svc: &Service<Config>, db: &Database) -> Result<(), Error> {
    if db.sql_files.is_empty() {
        return Ok(());
    }
    let marker = svc.data_path(format!("sql-loaded-{:016x}", fnv1a(db.name.as_bytes())));
    if marker.exists() {
        return Ok(());
    }
    let owner = db.owner.as_deref().unwrap_or(&svc.config.user);
    let mut cmd = psql(svc, &db.name)?.args([
        "-q".to_string(),
        "-c".to_string(),
        format!("SET ROLE {}", identifier(owner)),
    ]);
    for file in &db.sql_files {
        let path = if file.starts_with('/') {
            file.clone()
        } else {
            format!("{}/{file}", svc.project_dir)
        };
        cmd = cmd.args(["-f".to_string(), path]);
    }
    cmd.timeout(std::time::Duration::from_secs(240))
        .run_checked()
        .map_err(|e| {
            e.context(format!(
                "loading the SQL files of database `{}` of `{}`",
                db.name, svc.name
            ))
        })?;
    fs::write(&marker, db.sql_files.join("\n"))?;
    log::info(format!(
        "loaded {} SQL file(s) into `{}`",
        db.sql_files.len(),
        db.name
    ));
    Ok(())
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL quoted identifier.
fn identifier(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Percent-encodes everything but unreserved characters, for the user info and path of a URL.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// FNV-1a: a stable, dependency-free hash for cache keys and marker names (not security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

teamster_plugin_sdk::export_kind!(Postgres);
