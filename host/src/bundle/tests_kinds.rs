//! The rules that need the plugins (`validate_kinds`): what a [`KindCheck`] finds becomes
//! an error that points at the kind, the grant, or the config key or value at fault, in
//! TOML and in JSON alike. The kinds here are a stand-in that reports one given problem;
//! the real plugin host answers in `tests/integration/plugins/check.rs`.

use std::path::Path;

use super::spec::{BundleSpec, KindRef};
use super::validate::{KindCheck, KindProblem};
use crate::error_chain;

/// Kinds that find the problem `0` makes in every kind service.
struct Finds(Box<dyn Fn() -> KindProblem>);

impl KindCheck for Finds {
    fn check_kind(&self, _kind: &KindRef) -> Result<(), KindProblem> {
        Err((self.0)())
    }
}

fn finds(problem: impl Fn() -> KindProblem + 'static) -> Finds {
    Finds(Box::new(problem))
}

/// Kinds that find nothing wrong.
struct Fine;

impl KindCheck for Fine {
    fn check_kind(&self, _kind: &KindRef) -> Result<(), KindProblem> {
        Ok(())
    }
}

fn checked(text: &str, kinds: &dyn KindCheck) -> String {
    match BundleSpec::parse_with(text, Path::new("bundle.toml"), Some(kinds)) {
        Ok(spec) => panic!("expected an error, got {spec:#?}"),
        Err(e) => error_chain(&e),
    }
}

/// A config finding about `key` (its value, if `value`).
fn config(key: &'static str, value: bool) -> impl Fn() -> KindProblem + 'static {
    move || KindProblem::Config {
        key: key.to_owned(),
        value,
        source: format!("`{key}` is wrong").into(),
    }
}

#[test]
fn loading_alone_asks_no_kinds() {
    let text =
        "[services.db]\nkind = \"mysql\"\ngrants = [\"x\"]\nconfig = { port = \"eighty\" }\n";
    BundleSpec::parse(text, Path::new("bundle.toml")).expect("pure loading knows no kinds");
    BundleSpec::parse_with(text, Path::new("bundle.toml"), Some(&Fine)).expect("fine kinds");
}

#[test]
fn an_unknown_kind_names_the_known_ones() {
    let text = "[services.db]\nkind = \"postgress\"\n";
    let unknown = || KindProblem::Unknown {
        known: vec!["generic".into(), "postgres".into(), "redis".into()],
    };
    insta::assert_snapshot!(checked(text, &finds(unknown)), @"bundle.toml:2:8: unknown kind `postgress` of service `db` (did you mean `postgres`?); known kinds: `generic`, `postgres`, `redis`; install a plugin with `teamster plugin install <file.wasm>`");
    let unusable = || KindProblem::Unusable("its plugin changed since it was installed".into());
    insta::assert_snapshot!(checked(text, &finds(unusable)), @"bundle.toml:2:8: cannot use kind `postgress` of service `db`: its plugin changed since it was installed");
}

#[test]
fn a_grant_of_an_undeclared_program_points_at_the_entry() {
    let text = "[services.db]\nkind = \"redis\"\ngrants = [\"redis-cli\", \"nonexistent\"]\n";
    let grant = || KindProblem::Grant {
        index: 1,
        declared: vec!["redis-server".into(), "redis-cli".into()],
    };
    insta::assert_snapshot!(checked(text, &finds(grant)), @"bundle.toml:3:24: `grants` of service `db` names `nonexistent`, which kind `redis` does not declare; it declares: `redis-server`, `redis-cli`");
    let none = || KindProblem::Grant {
        index: 0,
        declared: Vec::new(),
    };
    insta::assert_snapshot!(checked("[services.db]\nkind = \"k\"\ngrants = [\"sh\"]\n", &finds(none)), @"bundle.toml:3:11: `grants` of service `db` names `sh`, which kind `k` does not declare; it declares: no programs");
}

/// Config findings point at the value for a wrong value, at the key for a wrong key, and at
/// the deepest part present for a missing key, whichever way the table is written.
#[test]
fn config_findings_point_at_the_key_or_value() {
    let cases: [(&str, &'static str, bool); 8] = [
        // An inline table; the value is wrong.
        (
            "[services.db]\nkind = \"redis\"\nconfig = { port = \"eighty\" }\n",
            "port",
            true,
        ),
        // A table of its own; the key is unknown.
        (
            "[services.db]\nkind = \"redis\"\n[services.db.config]\nargs = []\nbogus = 1\n",
            "bogus",
            false,
        ),
        // Inside an array of tables.
        (
            "[services.db]\nkind = \"postgres\"\n[services.db.config]\nusers = [{ name = \"a\" }, { name = \"b\", pasword = \"x\" }]\n",
            "users[1].pasword",
            false,
        ),
        // A missing key: its table.
        (
            "[services.db]\nkind = \"postgres\"\n[services.db.config]\ndatabases = [{ owner = \"a\" }]\n",
            "databases[0].name",
            false,
        ),
        // A dotted key.
        (
            "[services.db]\nkind = \"redis\"\nconfig.port = true\n",
            "port",
            true,
        ),
        // The whole table.
        (
            "[services.db]\nkind = \"redis\"\nconfig = { a = 1 }\n",
            "",
            false,
        ),
        // Deeper tables of their own.
        (
            "[services.db]\nkind = \"k\"\n[services.db.config.db]\nport = 1.5\n",
            "db.port",
            true,
        ),
        // No config at all: the kind.
        ("[services.db]\nkind = \"k\"\n", "x", false),
    ];
    let mut report = String::new();
    for (text, key, value) in cases {
        let kinds = finds(config(key, value));
        report.push_str(&checked(text, &kinds));
        report.push('\n');
    }
    insta::assert_snapshot!(report, @r"
    bundle.toml:3:19: invalid config for service `db` of kind `redis`: `port` is wrong
    bundle.toml:5:1: invalid config for service `db` of kind `redis`: `bogus` is wrong
    bundle.toml:4:40: invalid config for service `db` of kind `postgres`: `users[1].pasword` is wrong
    bundle.toml:4:14: invalid config for service `db` of kind `postgres`: `databases[0].name` is wrong
    bundle.toml:3:15: invalid config for service `db` of kind `redis`: `port` is wrong
    bundle.toml:3:1: invalid config for service `db` of kind `redis`: `` is wrong
    bundle.toml:4:8: invalid config for service `db` of kind `k`: `db.port` is wrong
    bundle.toml:2:8: invalid config for service `db` of kind `k`: `x` is wrong
    ");
}

#[test]
fn json_findings_point_into_the_json() {
    let text = "{\"services\": {\n  \"db\": {\n    \"kind\": \"redis\",\n    \"config\": {\"port\": \"eighty\"}\n  }\n}}\n";
    let found = BundleSpec::parse_json_with(
        text,
        Path::new("bundle.json"),
        Some(&finds(config("port", true))),
    )
    .map(|_| ())
    .map_err(|e| error_chain(&e));
    insta::assert_snapshot!(found.unwrap_err(), @"bundle.json:4:5: invalid config for service `db` of kind `redis`: `port` is wrong");
}

#[test]
fn a_spec_checks_its_kinds_without_positions() {
    let spec = BundleSpec::parse(
        "[services.db]\nkind = \"mysql\"\n",
        Path::new("/p/bundle.toml"),
    )
    .unwrap();
    let unknown = || KindProblem::Unknown {
        known: vec!["redis".into()],
    };
    let err = spec.validate_kinds(&finds(unknown)).unwrap_err();
    insta::assert_snapshot!(error_chain(&err), @"/p/bundle.toml: unknown kind `mysql` of service `db`; known kinds: `redis`; install a plugin with `teamster plugin install <file.wasm>`");
    let err = spec.services[0].validate_kind(&finds(unknown)).unwrap_err();
    insta::assert_snapshot!(error_chain(&err), @"unknown kind `mysql` of service `db`; known kinds: `redis`; install a plugin with `teamster plugin install <file.wasm>`");
}
