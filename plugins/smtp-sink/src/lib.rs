//! The `smtp-sink` kind: a mock SMTP server that accepts every message and prints it as one
//! JSON line on stdout, so tests wait for mail with `until_json`.
//!
//! A plugin cannot open sockets, so the server is not in here: it is `teamster smtp-sink`,
//! shipped inside the host binary. The host's `find-program` resolves the name `teamster`
//! to the very binary it runs, so the sink always speaks the format the host expects.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Error, Info, JsonSchema, Kind, PortSetting, Process, Readiness, Service, Stream, find_program,
};

/// The server's ready line (on stderr) starts like this; the address follows.
const READY_PREFIX: &str = "smtp-sink listening on ";

/// The `[services.<name>.config]` table of an smtp-sink service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// Read by the host, which reserves or picks the main port; only checked here.
    #[serde(default)]
    port: PortSetting,
}

struct SmtpSink;

impl Kind for SmtpSink {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "smtp-sink",
            env!("CARGO_PKG_VERSION"),
            "A mock SMTP server printing every message as one JSON line",
        )
        // The server is the host binary itself (`teamster smtp-sink`), and like every
        // program the host starts for a plugin, it must be declared.
        .program("teamster")
        .config_schema_of::<Config>()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        svc.config.port.check()?;
        let port = svc.main_port()?;
        let teamster = find_program("teamster").ok_or_else(|| {
            Error::msg("cannot find the `teamster` binary that ships the smtp-sink server")
        })?;
        Ok(Process::new(teamster)
            .args([
                "smtp-sink".to_string(),
                "--port".to_string(),
                port.to_string(),
            ])
            .stop_signal("SIGTERM")
            .ready(Readiness::plugin_check()))
    }

    fn ready_check(svc: &Service<Config>, _stream: Stream, line: &str) -> bool {
        // Match the port too: a line about another address must not count.
        svc.main_port().is_ok_and(|port| {
            line.strip_prefix(READY_PREFIX)
                .is_some_and(|addr| addr.trim_end().ends_with(&format!(":{port}")))
        })
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        let port = svc.main_port()?;
        Ok(vec![
            ("url".into(), format!("smtp://127.0.0.1:{port}")),
            ("host".into(), "127.0.0.1".into()),
            ("port".into(), port.to_string()),
        ])
    }
}

teamster_plugin_sdk::export_kind!(SmtpSink);
