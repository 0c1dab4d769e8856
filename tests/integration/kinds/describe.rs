//! What each first-party kind says about itself: the programs users grant, the
//! sub-commands they can run and the config keys they can write.

use teamster::plugin::{PluginHost, PluginHostConfig};

/// `describe` as users read it, with the config keys taken from the schema.
fn describe(kind: &str) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginHostConfig::in_dir(home.path())).expect("plugin host");
    let plugin = host.resolve(kind).unwrap_or_else(|e| panic!("{}", teamster::error_chain(&e)));
    let info = plugin.describe();
    let schema: serde_json::Value =
        serde_json::from_str(info.config_schema.as_deref().expect("a config schema")).expect("schema is JSON");
    let keys: Vec<String> = schema["properties"]
        .as_object()
        .expect("schema properties")
        .iter()
        .map(|(key, spec)| format!("{key}: {}", spec["type"]))
        .collect();
    let subcommands: Vec<String> = info.subcommands.iter().map(|s| format!("{} ({})", s.name, s.summary)).collect();
    format!(
        "{} — {}\nprograms: {}\nsubcommands: {}\nconfig: {}\nunknown keys refused: {}",
        info.name,
        info.summary,
        info.programs.join(", "),
        subcommands.join(", "),
        keys.join(", "),
        schema["additionalProperties"] == false,
    )
}

#[test]
fn postgres_describes_itself() {
    insta::assert_snapshot!(describe("postgres"), @"");
}

#[test]
fn redis_describes_itself() {
    insta::assert_snapshot!(describe("redis"), @"");
}

#[test]
fn django_describes_itself() {
    insta::assert_snapshot!(describe("django"), @"");
}

#[test]
fn smtp_sink_describes_itself() {
    insta::assert_snapshot!(describe("smtp-sink"), @"");
}

/// Every kind must accept `port`, which the host reads to reserve a fixed port.
#[test]
fn every_kind_accepts_a_port() {
    let home = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginHostConfig::in_dir(home.path())).expect("plugin host");
    for kind in ["postgres", "redis", "django", "smtp-sink"] {
        let plugin = host.resolve(kind).expect("built-in kind");
        for port in [serde_json::json!(5999), serde_json::json!("auto")] {
            let config = serde_json::json!({ "port": port });
            plugin.check_config("svc", &config).unwrap_or_else(|e| panic!("{kind}: {}", teamster::error_chain(&e)));
        }
    }
}
