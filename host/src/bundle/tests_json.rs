//! The JSON front door: the same specs and the same errors as TOML, at JSON positions.

use std::path::Path;

use super::spec::{BundleSpec, ClientHook, Readiness};
use crate::error_chain;

fn json(text: &str) -> Result<BundleSpec, String> {
    BundleSpec::parse_json(text, Path::new("/proj/bundle.json")).map_err(|e| error_chain(&e))
}

fn toml(text: &str) -> BundleSpec {
    BundleSpec::parse(text, Path::new("/proj/bundle.json")).expect("valid TOML")
}

#[test]
fn json_and_toml_give_the_same_spec() {
    let from_json = json(
        r#"{"startup_timeout": "30s", "services": {
            "db": {"kind": "postgres", "user": "postgres", "config": {"databases": [{"name": "app"}], "port": 5433}},
            "web": {"command": "python3 -m http.server 8000", "env": {"PORT": 8000, "DEBUG": true, "URL": "${db.url}"},
                    "ready": [{"http": {"url": "http://127.0.0.1:8000/", "status": 200}}, {"log": {"regex": "Serving", "stream": "stderr"}}],
                    "stop_signal": "INT", "shutdown_timeout": 0.5, "client_hooks": ["poststart"]},
            "alpha": {"command": ["true"], "ready": {"client": true}}
        }}"#,
    )
    .expect("valid");
    let from_toml = toml(
        r#"startup_timeout = "30s"
[services.db]
kind = "postgres"
user = "postgres"
config = { databases = [{ name = "app" }], port = 5433 }
[services.web]
command = "python3 -m http.server 8000"
env = { PORT = 8000, DEBUG = true, URL = "${db.url}" }
ready = [{ http = { url = "http://127.0.0.1:8000/", status = 200 } }, { log = { regex = "Serving", stream = "stderr" } }]
stop_signal = "INT"
shutdown_timeout = 0.5
client_hooks = ["poststart"]
[services.alpha]
command = ["true"]
ready = { client = true }
"#,
    );
    assert_eq!(from_json, from_toml);
    let names: Vec<&str> = from_json.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["db", "web", "alpha"],
        "JSON key order is service order"
    );
    assert_eq!(from_json.services[1].client_hooks, [ClientHook::Poststart]);
    assert_eq!(from_json.services[2].ready, [Readiness::Client]);
}

#[test]
fn errors_point_into_the_json_text() {
    let text = "{\n  \"services\": {\n    \"web\": {\n      \"command\": [\"x\"],\n      \"needs\": [\"dbb\"]\n    },\n    \"db\": {\"command\": \"y\"}\n  }\n}";
    insta::assert_snapshot!(json(text).unwrap_err(), @"/proj/bundle.json:5:7: service `web` needs unknown service `dbb` (did you mean `db`?)");
    insta::assert_snapshot!(
        json("{\"services\": {\"web\": {\"comand\": \"x\"}}}").unwrap_err(),
        @"/proj/bundle.json:1:23: unknown key `comand` in service `web` (did you mean `command`?); allowed keys: `command`, `directory`, `env`, `inherit_env`, `needs`, `stop_signal`, `user`, `faketime`, `shutdown_timeout`, `kind`, `config`, `grants`, `connection`, `ready`, `client_hooks`"
    );
    insta::assert_snapshot!(
        json("{\"services\": {\"web\": {\"command\": \"x\", \"env\": {\"A\": null}}}}").unwrap_err(),
        @"/proj/bundle.json:1:52: invalid `env.A` of service `web`: `null` is not a value in a bundle; leave the key out instead"
    );
    insta::assert_snapshot!(
        json("{\"services\": {\"web\": {\"command\": \"x\", \"client_hooks\": [\"teardown\"]}}}").unwrap_err(),
        @"/proj/bundle.json:1:39: invalid `client_hooks` of service `web`: `teardown` is not a hook; the client may run `setup` and `poststart`"
    );
    insta::assert_snapshot!(json("{\"services\": {,}}").unwrap_err(), @"/proj/bundle.json:1:15: invalid JSON: unexpected token in object");
    insta::assert_snapshot!(json("[1]").unwrap_err(), @r#"/proj/bundle.json:1:1: invalid JSON: a JSON bundle is an object, such as {"services": {…}}"#);
    insta::assert_snapshot!(
        json("{\"startup_timeout\": \"soon\"}").unwrap_err(),
        @"/proj/bundle.json:1:2: invalid duration for `startup_timeout`: expected a number at `soon`"
    );
}

#[test]
fn a_document_is_json_when_it_starts_with_a_brace() {
    let spec = BundleSpec::parse_any(
        "  {\"services\": {\"a\": {\"command\": \"x\"}}}",
        Path::new("<stdin>"),
    )
    .expect("JSON");
    assert_eq!(spec.services[0].name, "a");
    let spec = BundleSpec::parse_any("[services.a]\ncommand = \"x\"\n", Path::new("<stdin>"))
        .expect("TOML");
    assert_eq!(spec.services[0].name, "a");
}

/// The schema in docs/ lists exactly the keys the loader accepts (which the loader itself
/// lists in its unknown-key errors).
#[test]
fn the_json_schema_names_every_key_the_loader_accepts() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/bundle.schema.json"))
            .expect("the schema is JSON");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let allowed = |text: &str| -> Vec<String> {
        match BundleSpec::parse(text, Path::new("/p/b.toml")) {
            Err(super::BundleError::UnknownKey { allowed, .. }) => {
                let mut a = allowed;
                a.sort();
                a
            }
            other => panic!("expected an unknown key error, got {other:?}"),
        }
    };
    assert_eq!(keys(&schema), allowed("zzz = 1\n"));
    assert_eq!(
        keys(&schema["$defs"]["service"]),
        allowed("[services.a]\nzzz = 1\n")
    );
    assert_eq!(
        keys(&schema["$defs"]["ready"]),
        allowed("[services.a]\ncommand = \"x\"\nready = { zzz = 1 }\n")
    );
}
