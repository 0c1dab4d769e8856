//! What each first-party kind says about itself: the programs users grant, the
//! sub-commands they can run and the config keys they can write.

use teamster::plugin::{PluginHost, PluginHostConfig};

/// `describe` as users read it, with the config keys taken from the schema.
fn describe(kind: &str) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginHostConfig::in_dir(home.path())).expect("plugin host");
    let plugin = host
        .resolve(kind)
        .unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    let info = plugin.describe();
    let schema: serde_json::Value =
        serde_json::from_str(info.config_schema.as_deref().expect("a config schema"))
            .expect("schema is JSON");
    let keys: Vec<String> = schema["properties"]
        .as_object()
        .expect("schema properties")
        .iter()
        .map(|(key, spec)| format!("{key}: {}", spec["type"]))
        .collect();
    let subcommands: Vec<String> = info
        .subcommands
        .iter()
        .map(|s| format!("{} ({})", s.name, s.summary))
        .collect();
    format!(
        "{} — {}\nprograms: {}\nsubcommands: {}\nconfig: {}\nunknown keys refused: {}",
        info.name,
        info.summary,
        or_none(&info.programs),
        or_none(&subcommands),
        keys.join(", "),
        schema["additionalProperties"] == false,
    )
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

#[test]
fn postgres_describes_itself() {
    insta::assert_snapshot!(describe("postgres"), @r#"
    postgres — A throwaway PostgreSQL server with users, databases and SQL files
    programs: sh, initdb, cp, postgres, psql, pg_dump, pg_restore
    subcommands: psql (Open psql on the service's database), pg_dump (Dump the service's database), pg_restore (Restore a dump into the service's database)
    config: bin_dir: "string", database: "string", databases: "array", password: "string", port: ["integer","string"], template_cache: "boolean", user: "string", users: "array"
    unknown keys refused: true
    "#);
}

#[test]
fn redis_describes_itself() {
    insta::assert_snapshot!(describe("redis"), @r#"
    redis — A throwaway Redis server without persistence
    programs: redis-server, redis-cli
    subcommands: cli (Run redis-cli against the service)
    config: args: "array", port: ["integer","string"]
    unknown keys refused: true
    "#);
}

#[test]
fn django_describes_itself() {
    insta::assert_snapshot!(describe("django"), @r#"
    django — A Django development server, migrated and with fixtures loaded
    programs: python3, python, sh
    subcommands: manage (Run manage.py with the service's environment)
    config: app_dir: "string", fixtures: "array", migrate: "boolean", port: ["integer","string"], python: "string", ready_path: "string", settings: "string"
    unknown keys refused: true
    "#);
}

#[test]
fn smtp_sink_describes_itself() {
    insta::assert_snapshot!(describe("smtp-sink"), @r#"
    smtp-sink — A mock SMTP server printing every message as one JSON line
    programs: teamster
    subcommands: none
    config: port: ["integer","string"]
    unknown keys refused: true
    "#);
}

#[test]
fn celery_describes_itself() {
    insta::assert_snapshot!(describe("celery"), @r#"
    celery — A Celery worker for an app, optionally with beat
    programs: sh
    subcommands: celery (Run the celery command (inspect, call, purge, …) with the worker's app and broker)
    config: app: "string", app_dir: "string", beat: "boolean", beat_max_interval: "number", broker: "string", concurrency: "integer", extra_args: "array", port: ["integer","string"], python: "string", queues: "array", result_backend: "string"
    unknown keys refused: true
    "#);
}

#[test]
fn chromedriver_describes_itself() {
    insta::assert_snapshot!(describe("chromedriver"), @r#"
    chromedriver — Headless Chromium driven through chromedriver, for Selenium
    programs: chromedriver
    subcommands: version (Print the chromedriver version)
    config: chromedriver_args: "array", chromium: "string", chromium_args: "array", port: ["integer","string"], sandbox: "boolean"
    unknown keys refused: true
    "#);
}

/// Every kind must accept `port`, which the host reads to reserve a fixed port.
#[test]
fn every_kind_accepts_a_port() {
    let home = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginHostConfig::in_dir(home.path())).expect("plugin host");
    for kind in [
        "postgres",
        "redis",
        "django",
        "smtp-sink",
        "celery",
        "chromedriver",
    ] {
        let plugin = host.resolve(kind).expect("built-in kind");
        for port in [serde_json::json!(5999), serde_json::json!("auto")] {
            let mut config = serde_json::json!({ "port": port });
            if kind == "celery" {
                // The one required key of a first-party kind: the app to run.
                config["app"] = serde_json::json!("tasks");
            }
            plugin
                .check_config("svc", &config)
                .unwrap_or_else(|e| panic!("{kind}: {}", teamster::error_chain(&e)));
        }
    }
}

/// The schemas derived from the config types check nested tables as the hand-written ones
/// did: unknown keys and missing names inside `users` and `databases` are refused, naming
/// the key, and the schema holds nothing the host cannot read (no `$ref` to follow).
#[test]
fn derived_schemas_check_nested_tables() {
    let home = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginHostConfig::in_dir(home.path())).expect("plugin host");
    let plugin = host.resolve("postgres").expect("postgres");
    let refusal = |config: serde_json::Value| {
        plugin
            .validate_config(&config)
            .map(|()| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string())
    };
    insta::assert_snapshot!(
        [
            refusal(serde_json::json!({"users": [{"name": "app", "pasword": "x"}]})),
            refusal(serde_json::json!({"databases": [{"owner": "app"}]})),
            refusal(serde_json::json!({"databases": [{"name": "d", "sql_files": ["a", 1]}]})),
            refusal(serde_json::json!({"template_cache": "yes"})),
            refusal(serde_json::json!({"users": [{"name": "app"}], "password": "pw", "bin_dir": "/x"})),
        ]
        .join("\n"),
        @r"
    unknown key `users[0].pasword` (known keys: name, password)
    missing required key `databases[0].name`
    `databases[0].sql_files[1]` must be a string, not an integer
    `template_cache` must be a boolean, not a string
    accepted
    "
    );
    for kind in [
        "postgres",
        "redis",
        "django",
        "smtp-sink",
        "celery",
        "chromedriver",
    ] {
        let schema = host
            .resolve(kind)
            .expect("built-in kind")
            .config_schema()
            .expect("a schema")
            .to_string();
        assert!(
            !schema.contains("$ref") && !schema.contains("$defs"),
            "{kind}: {schema}"
        );
    }
}
