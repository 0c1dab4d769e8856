//! The `generic` kind: wraps an ordinary command described in the service's config.
//!
//! It exists so that every plugin phase (configure, setup, plugin ready-check, poststart,
//! sub-commands, connection info) can be used, and tested end to end, with nothing but a
//! shell.
//!
//! Which programs it may start: `sh`, the one program it declares, and through it whatever
//! the bundle's config says. The host lets a plugin start only what it declares and is
//! granted, because a plugin's code chooses the program; here the bundle author wrote every
//! command, exactly as they write the `command` of a plain service, and this kind only
//! relays it. So every command goes through `sh`: a string as `sh -c <string>`, an argument
//! list as `sh -c 'exec "$0" "$@"' <argv…>` (the `exec` keeps the program as the service's
//! process, so its pid and signals are the program's own). Shell snippets
//! (`setup_command`, `poststart_command`, sub-commands) run through `sh -c` as well.
//!
//! Strings may use placeholders: `{name}`, `{data_dir}`, `{port}` (the `main` port) and
//! `{port.<role>}`.

use std::collections::BTreeMap;

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Needle, Process, Readiness, Service, Stream, Verdict,
    log,
};

/// The `sh -c` script that replaces the shell with the program and arguments that follow
/// it (`$0` is the program).
const EXEC_ARGV: &str = r#"exec "$0" "$@""#;

/// How the service's command is written: one shell string or an argument vector.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CommandLine {
    /// Run through `sh -c`.
    Shell(String),
    /// Run as is: program then arguments.
    Argv(Vec<String>),
}

/// A string or a list of strings: what `untagged` accepts, in the part of JSON schema the
/// host reads (the derived `anyOf` it would skip).
impl JsonSchema for CommandLine {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommandLine".into()
    }

    fn json_schema(
        _: &mut teamster_plugin_sdk::schemars::SchemaGenerator,
    ) -> teamster_plugin_sdk::schemars::Schema {
        teamster_plugin_sdk::schemars::json_schema!({"type": ["string", "array"], "items": {"type": "string"}})
    }
}

/// The `[services.<name>.config]` table of a generic service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    command: CommandLine,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    ready_line: Option<Needle>,
    /// While waiting for `ready_line`, a line containing this fails the start, with the
    /// line as the reason (`Address already in use`, say), instead of waiting out the
    /// startup timeout.
    fail_line: Option<Needle>,
    stop_signal: Option<String>,
    setup_command: Option<String>,
    poststart_command: Option<String>,
    #[serde(default)]
    subcommands: BTreeMap<String, String>,
    #[serde(default)]
    connection: BTreeMap<String, String>,
}

struct Generic;

impl Kind for Generic {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "generic",
            env!("CARGO_PKG_VERSION"),
            "Any command, with optional setup, readiness line and sub-commands",
        )
        .program("sh")
        .config_schema_of::<Config>()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        let cfg = &svc.config;
        let mut process = match &cfg.command {
            CommandLine::Shell(line) => {
                Process::new("sh").args(["-c".to_string(), expand(svc, line)?])
            }
            CommandLine::Argv(argv) => {
                if argv.is_empty() {
                    return Err(Error::msg("`command` is an empty list"));
                }
                let argv = argv
                    .iter()
                    .map(|a| expand(svc, a))
                    .collect::<Result<Vec<_>, _>>()?;
                Process::new("sh").args(["-c", EXEC_ARGV]).args(argv)
            }
        };
        for (key, value) in &cfg.env {
            process = process.env(key.clone(), expand(svc, value)?);
        }
        if let Some(cwd) = &cfg.cwd {
            process = process.cwd(expand(svc, cwd)?);
        }
        if let Some(signal) = &cfg.stop_signal {
            process = process.stop_signal(signal.clone());
        }
        if cfg.ready_line.is_some() {
            process = process.ready(Readiness::plugin_check());
        } else if cfg.fail_line.is_some() {
            return Err(Error::msg(
                "`fail_line` is looked for while waiting for `ready_line`: set `ready_line` too",
            ));
        }
        Ok(process)
    }

    fn setup(svc: &Service<Config>) -> Result<(), Error> {
        match &svc.config.setup_command {
            Some(line) => run_shell(svc, "setup_command", line),
            None => Ok(()),
        }
    }

    fn ready_verdict(svc: &Service<Config>, _stream: Stream, line: &str) -> Verdict {
        let cfg = &svc.config;
        if cfg.fail_line.as_ref().is_some_and(|fail| fail.is_in(line)) {
            return Verdict::Failed(format!("it printed `{}`", line.trim_end()));
        }
        cfg.ready_line
            .as_ref()
            .is_some_and(|ready| ready.is_in(line))
            .into()
    }

    fn poststart(svc: &Service<Config>) -> Result<(), Error> {
        match &svc.config.poststart_command {
            Some(line) => run_shell(svc, "poststart_command", line),
            None => Ok(()),
        }
    }

    fn subcommand(svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        let line = svc.config.subcommands.get(name).ok_or_else(|| {
            let known: Vec<&str> = svc.config.subcommands.keys().map(String::as_str).collect();
            Error::msg(format!(
                "unknown sub-command `{name}` (configured: {})",
                list_or_none(&known)
            ))
        })?;
        // `"$@"` hands the user's arguments to the snippet without another round of quoting.
        Ok(Command::new("sh")
            .args([
                "-c".to_string(),
                format!("{} \"$@\"", expand(svc, line)?),
                name.to_string(),
            ])
            .args(args.iter().cloned()))
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        svc.config
            .connection
            .iter()
            .map(|(key, value)| Ok((key.clone(), expand(svc, value)?)))
            .collect()
    }
}

/// Runs a configured shell snippet through the host and fails with its stderr if it fails.
fn run_shell(svc: &Service<Config>, what: &str, line: &str) -> Result<(), Error> {
    let out = Command::new("sh")
        .args(["-c".to_string(), expand(svc, line)?])
        .run_checked()
        .map_err(|e| e.context(format!("`{what}` of service `{}`", svc.name)))?;
    for line in out.stdout.lines() {
        log::info(line);
    }
    Ok(())
}

/// Replaces `{name}`, `{data_dir}`, `{port}` and `{port.<role>}`; `{{` and `}}` stand for braces.
fn expand(svc: &Service<Config>, text: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(Error::msg(format!(
                "unmatched `}}` in `{text}` (write `}}}}` for a brace)"
            )));
        }
        let end = tail.find('}').ok_or_else(|| {
            Error::msg(format!(
                "unclosed `{{` in `{text}` (write `{{{{` for a brace)"
            ))
        })?;
        let key = &tail[1..end];
        match key {
            "name" => out.push_str(&svc.name),
            "data_dir" => out.push_str(&svc.data_dir),
            "port" => out.push_str(&svc.main_port()?.to_string()),
            _ => match key.strip_prefix("port.") {
                Some(role) => {
                    let port = svc.port(role).ok_or_else(|| {
                        Error::msg(format!("service `{}` has no `{role}` port", svc.name))
                    })?;
                    out.push_str(&port.to_string());
                }
                None => {
                    return Err(Error::msg(format!(
                        "unknown placeholder `{{{key}}}` in `{text}` (known: {{name}}, {{data_dir}}, {{port}}, {{port.<role>}})"
                    )));
                }
            },
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

teamster_plugin_sdk::export_kind!(Generic);
