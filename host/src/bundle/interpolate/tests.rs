//! The references' grammar, load-time checks and start-time resolution, end to end.

use super::*;

fn syntax(value: &str) -> String {
    Template::parse(value)
        .expect_err("the value should be rejected")
        .to_string()
}

fn db_ref(key: &str, offset: usize) -> Reference {
    Reference {
        target: Target::Service("db".into()),
        key: key.into(),
        offset,
        len: key.len() + 6,
    }
}

#[test]
fn references_are_found_with_their_offsets() {
    let found = references("postgres://${db.host}:${db.port}/x").expect("valid");
    assert_eq!(found, [db_ref("host", 11), db_ref("port", 22)]);
    let own_and_env = references("${self.port}${env.HOME}").expect("valid");
    assert_eq!(own_and_env[0].target, Target::Own);
    assert_eq!(own_and_env[1].target, Target::HostEnv);
    assert_eq!(own_and_env[1].offset, 12);
    assert_eq!(own_and_env[1].to_string(), "${env.HOME}");
    // Offsets are in bytes, so multi-byte text before a reference counts its bytes.
    assert_eq!(references("é${db.url}").expect("valid")[0].offset, 2);
    assert_eq!(
        references("${a-b_c.d-e_f}").expect("valid")[0].service(),
        Some("a-b_c")
    );
}

#[test]
fn escapes_and_lone_dollars_are_literal() {
    let none = |_: &str, _: &str| None;
    let cases = [
        ("plain", "plain"),
        ("$${db.url}", "${db.url}"),
        ("a$${", "a${"),
        ("$HOME and $1", "$HOME and $1"),
        ("cost: 5$", "cost: 5$"),
        ("$$", "$$"),
        ("$$$${x", "$$${x"),
        ("{db.url}", "{db.url}"),
        ("", ""),
    ];
    for (value, expected) in cases {
        assert_eq!(
            interpolate(value, &none).as_deref(),
            Ok(expected),
            "{value}"
        );
        assert!(
            Template::parse(value).expect("valid").is_literal(),
            "{value}"
        );
    }
}

#[test]
fn an_escape_next_to_a_reference() {
    let lookup = |ns: &str, key: &str| Some(format!("<{ns}:{key}>"));
    assert_eq!(
        interpolate("$${db.url}=${db.url}", &lookup).as_deref(),
        Ok("${db.url}=<db:url>")
    );
    assert_eq!(
        interpolate("$$${db.url}", &lookup).as_deref(),
        Ok("$${db.url}"),
        "`$${{` is taken first, leaving `db.url}}` as text"
    );
    assert_eq!(
        interpolate("${self.port}${env.HOME}!", &lookup).as_deref(),
        Ok("<self:port><env:HOME>!")
    );
}

#[test]
fn malformed_references() {
    insta::assert_snapshot!(syntax("${db}"), @"`${db}` names no key; write `${db.<key>}` for a service's connection info, `${env.db}` for teamster's environment, or `$${db}` to leave `${db}` to a shell");
    insta::assert_snapshot!(syntax("x ${db.}"), @"`${db.}` names no key; write `${db.<key>}`, such as `${db.url}`");
    insta::assert_snapshot!(syntax("${env}"), @"`${env}` names no variable; write `${env.NAME}`, such as `${env.HOME}`");
    insta::assert_snapshot!(syntax("${}"), @"`${}` names nothing; write `${service.key}`, such as `${db.url}`");
    insta::assert_snapshot!(syntax("${.url}"), @"`${.url}` names no service; write `${<service>.<key>}`, such as `${db.url}`");
    insta::assert_snapshot!(syntax("http://${db.url"), @"`${db.url` is not closed by `}`; write `$${` for a literal `${`");
    insta::assert_snapshot!(syntax("${db.url/x"), @"`${db.url` is not closed by `}`; write `$${` for a literal `${`");
    insta::assert_snapshot!(syntax("${"), @"`${` is not closed by `}`; write `$${` for a literal `${`");
    insta::assert_snapshot!(syntax("${ db.url }"), @"`${ db.url }` contains ' '; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
    insta::assert_snapshot!(syntax("${db.url.x}"), @"`${db.url.x}` contains '.'; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
    insta::assert_snapshot!(syntax("sh -c 'echo ${HOME}'"), @"`${HOME}` names no key; write `${HOME.<key>}` for a service's connection info, `${env.HOME}` for teamster's environment, or `$${HOME}` to leave `${HOME}` to a shell");
    insta::assert_snapshot!(syntax("${PORT:-8000}"), @"`${PORT:-8000}` contains ':'; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
    insta::assert_snapshot!(syntax("${db.url then } later"), @"`${db.url then }` contains ' '; a reference is `${service.key}` with names of ASCII letters, digits, `_` and `-`; write `$${` for a literal `${`");
}

#[test]
fn syntax_errors_know_where_the_reference_starts() {
    let error = Template::parse("ok ${db.url} é ${db").expect_err("unclosed");
    assert_eq!(error.offset, 16);
    assert_eq!(error.text, "${db");
    assert_eq!(error.problem, SyntaxProblem::Unterminated);
    assert_eq!(
        interpolate("${db}", &|_, _| None),
        Err(TemplateError::Syntax(error_for("${db}")))
    );
}

fn error_for(value: &str) -> SyntaxError {
    Template::parse(value).expect_err("malformed")
}

#[test]
fn the_plain_form_reports_the_first_unresolved_reference() {
    let lookup = |ns: &str, key: &str| (ns == "db" && key == "url").then(|| "u".to_owned());
    assert_eq!(
        interpolate("${db.url} ${db.port} ${db.user}", &lookup),
        Err(TemplateError::Unresolved(db_ref("port", 10)))
    );
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn postgres_info() -> HashMap<String, Vec<(String, String)>> {
    HashMap::from([(
        "db".to_owned(),
        pairs(&[
            ("url", "postgres://app:secret@127.0.0.1:54321/app"),
            ("host", "127.0.0.1"),
            ("port", "54321"),
            ("user", "app"),
            ("password", "secret"),
            ("database", "app"),
        ]),
    )])
}

fn host_env(name: &str) -> Option<String> {
    (name == "HOME").then(|| "/home/tester".to_owned())
}

fn web() -> ServiceSpec {
    ServiceSpec {
        command: vec![
            "srv".into(),
            "--port=${self.port}".into(),
            "--db=${db.host}:${db.port}".into(),
        ],
        env: pairs(&[
            ("DATABASE_URL", "${db.url}"),
            ("CACHE_DIR", "${env.HOME}/.cache"),
            ("LITERAL", "$${db.url} costs $5"),
        ]),
        // `url` refers to `port` before `port` is written: order does not matter.
        connection: pairs(&[
            ("url", "http://${self.host}:${self.port}/"),
            ("host", "127.0.0.1"),
            ("port", "8000"),
        ]),
        needs: vec!["db".into()],
        ..ServiceSpec::new("web")
    }
}

#[test]
fn a_service_is_filled_in_from_its_needs_itself_and_the_host() {
    let filled = web()
        .interpolated_with(&postgres_info(), &host_env)
        .expect("every reference resolves");
    assert_eq!(
        filled.command,
        ["srv", "--port=8000", "--db=127.0.0.1:54321"]
    );
    assert_eq!(
        filled.env,
        pairs(&[
            ("DATABASE_URL", "postgres://app:secret@127.0.0.1:54321/app"),
            ("CACHE_DIR", "/home/tester/.cache"),
            ("LITERAL", "${db.url} costs $5"),
        ])
    );
    assert_eq!(
        filled.connection,
        pairs(&[
            ("url", "http://127.0.0.1:8000/"),
            ("host", "127.0.0.1"),
            ("port", "8000"),
        ])
    );
    // Everything else is left as it was.
    assert_eq!(filled.needs, web().needs);
    assert_eq!(filled.name, "web");
}

/// A kind service (`celery`) whose config names its broker by reference.
fn worker() -> ServiceSpec {
    ServiceSpec {
        kind: Some(crate::bundle::spec::KindRef {
            name: "celery".into(),
            config: serde_json::json!({
                "port": "auto",
                "app": "tasks",
                "broker": "${db.url}",
                "queues": ["a", "on-${db.host}"],
                "nested": {"price": "$${db.url} costs $5", "n": 3},
            }),
            grants: Vec::new(),
            faketime_set: false,
        }),
        ..ServiceSpec::new("worker")
    }
}

#[test]
fn kind_config_strings_are_filled_in_but_not_the_port() {
    let filled = worker()
        .interpolated_with(&postgres_info(), &host_env)
        .expect("every reference resolves");
    assert_eq!(
        filled.kind.expect("kind").config,
        serde_json::json!({
            "port": "auto",
            "app": "tasks",
            "broker": "postgres://app:secret@127.0.0.1:54321/app",
            "queues": ["a", "on-127.0.0.1"],
            "nested": {"price": "${db.url} costs $5", "n": 3},
        })
    );
    let fields: Vec<String> = fields(&worker())
        .map(|(place, _)| place.field(&worker()).to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "`config.app`",
            "`config.broker`",
            "`config.nested.price`",
            "`config.queues[0]`",
            "`config.queues[1]`"
        ]
    );
    let mut spec = worker();
    spec.kind.as_mut().expect("kind").config["broker"] = "${db.uri}".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `worker`: `config.broker` refers to `${db.uri}`, but `db` offers: url, host, port, user, password, database");
}

#[test]
fn the_real_host_environment_is_read() {
    let path = std::env::var("PATH").expect("tests run with a PATH");
    let spec = ServiceSpec {
        env: pairs(&[("P", "${env.PATH}")]),
        ..ServiceSpec::new("probe")
    };
    let filled = spec.interpolated(&BTreeMap::new()).expect("PATH is set");
    assert_eq!(filled.env[0].1, path);
}

fn runtime_error(spec: &ServiceSpec, info: &HashMap<String, Vec<(String, String)>>) -> String {
    let error = spec
        .interpolated_with(info, &host_env)
        .expect_err("a reference should not resolve");
    crate::error_chain(&error)
}

#[test]
fn unresolved_references_name_the_service_the_value_and_what_is_offered() {
    let mut spec = web();
    spec.env[0].1 = "${db.uri}".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: env `DATABASE_URL` refers to `${db.uri}`, but `db` offers: url, host, port, user, password, database");

    let mut spec = web();
    spec.command[2] = "${db.socket}".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: `command[2]` refers to `${db.socket}`, but `db` offers: url, host, port, user, password, database");

    let empty = HashMap::from([("db".to_owned(), Vec::new())]);
    insta::assert_snapshot!(runtime_error(&web(), &empty), @"service `web`: env `DATABASE_URL` refers to `${db.url}`, but `db` offers no keys at all");

    insta::assert_snapshot!(runtime_error(&web(), &HashMap::new()), @"service `web`: env `DATABASE_URL` refers to `${db.url}`, but `db` has published no connection info");

    let mut spec = web();
    spec.env[1].1 = "${env.NO_SUCH_VARIABLE}".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: env `CACHE_DIR` refers to `${env.NO_SUCH_VARIABLE}`, but `NO_SUCH_VARIABLE` is not set in teamster's environment");
}

#[test]
fn specs_that_skipped_validation_still_fail_clearly() {
    let mut spec = web();
    spec.connection[1].1 = "${self.url}".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: `connection.host` refers to `${self.url}`, but the `connection` keys refer to each other in a cycle");

    let mut spec = web();
    spec.env[0].1 = "${self.nope}".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: env `DATABASE_URL` refers to `${self.nope}`, but `self` offers: url, host, port");

    let mut spec = web();
    spec.env[2].1 = "${db".into();
    insta::assert_snapshot!(runtime_error(&spec, &postgres_info()), @"service `web`: invalid reference in env `LITERAL`: `${db` is not closed by `}`; write `$${` for a literal `${`");
}

#[test]
fn fields_cover_connection_env_and_command() {
    let spec = web();
    let places: Vec<Field> = fields(&spec).map(|(p, _)| p.field(&spec)).collect();
    let shown: Vec<String> = places.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "`connection.url`",
            "`connection.host`",
            "`connection.port`",
            "env `DATABASE_URL`",
            "env `CACHE_DIR`",
            "env `LITERAL`",
            "`command[0]`",
            "`command[1]`",
            "`command[2]`",
        ]
    );
}
