//! The `redis` kind: a throwaway Redis server per bundle.
//!
//! Tests want a cache that starts empty and leaves nothing behind, so persistence is off
//! (`--save ""`, `--appendonly no`) and the working directory is the service's data
//! directory, where Redis would put anything it still writes. The server listens on
//! 127.0.0.1 only.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Needle, PortSetting, Process, Readiness, Service,
    Stream,
};

/// What Redis 6 and later print once they accept connections.
const READY_LINE: Needle = Needle::from_static("Ready to accept connections");
/// What older versions print instead.
const OLD_READY_LINE: Needle = Needle::from_static("The server is now ready to accept connections");

/// The `[services.<name>.config]` table of a redis service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// Read by the host, which reserves or picks the main port; only checked here.
    #[serde(default)]
    port: PortSetting,
    /// Extra `redis-server` arguments, appended after the kind's own (later ones win).
    #[serde(default)]
    args: Vec<String>,
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        self.port.check()
    }
}

struct Redis;

impl Kind for Redis {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "redis",
            env!("CARGO_PKG_VERSION"),
            "A throwaway Redis server without persistence",
        )
        .program("redis-server")
        .program("redis-cli")
        .subcommand("cli", "Run redis-cli against the service")
        .config_schema_of::<Config>()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        svc.config.validate()?;
        let port = svc.main_port()?;
        Ok(Process::new("redis-server")
            .args(["--port".to_string(), port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir".to_string(), svc.data_dir.clone()])
            .args(svc.config.args.iter().cloned())
            .stop_signal("SIGTERM")
            .ready(Readiness::plugin_check()))
    }

    fn ready_check(_svc: &Service<Config>, _stream: Stream, line: &str) -> bool {
        READY_LINE.is_in(line) || OLD_READY_LINE.is_in(line)
    }

    fn subcommand(svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        match name {
            "cli" => Ok(Command::new("redis-cli")
                .args(["-h".to_string(), "127.0.0.1".to_string()])
                .args(["-p".to_string(), svc.main_port()?.to_string()])
                .args(args.iter().cloned())),
            other => Err(Error::unknown_subcommand(other)),
        }
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        let port = svc.main_port()?;
        Ok(vec![
            ("url".into(), format!("redis://127.0.0.1:{port}/0")),
            ("host".into(), "127.0.0.1".into()),
            ("port".into(), port.to_string()),
        ])
    }
}

teamster_plugin_sdk::export_kind!(Redis);
