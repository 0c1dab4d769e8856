//! A plugin that misbehaves on demand, so host tests can check that every limit holds and
//! that each failure reads clearly. The `mode` config key picks the misbehaviour.

use std::time::{Duration, Instant};

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Process, Readiness, Service, Stream, Verdict, cache,
    fs, log,
};

/// Which misbehaviour to show. The variants have plain comments, not doc comments:
/// documented variants would make `schemars` write a `oneOf` of constants, which the host's
/// config check does not read, where undocumented ones give the `enum` it checks.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(rename_all = "kebab-case")]
enum Mode {
    // Behaves; `ready-check` accepts lines containing "ready".
    Fine,
    // Spins forever in `ready-check`.
    LoopReady,
    // Spins forever in `setup`.
    LoopSetup,
    // Allocates without bound in `setup`.
    MemoryBomb,
    // Logs without bound in `setup`.
    LogSpam,
    // Runs `program` in `setup`.
    Run,
    // Runs `sleep 0.4` in `setup`, then does a little work.
    RunSlow,
    // Reads a file outside the data directory in `setup`.
    ReadOutside,
    // Panics in `configure`.
    Panic,
    // `ready-check` fails the start on a line containing "fatal", with the line.
    ReadyFail,
    // `setup` fills the cache entry `entry` with the service's name and logs whether it
    // built or found it (after `path`, if given, as a file to read first).
    Cache,
    // Spins in `ready-check` for `spin_ms` (default 700) of wall-clock time, sleeping a
    // millisecond a turn so that its fuel outlasts the spin, then answers "not yet". It
    // writes `spinning` into its data directory when the spin begins and `spun` when it
    // ends, so a test can tell what happened during the call.
    SpinReady,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
    /// What `setup` runs in `run` mode, and what the `program` sub-command starts.
    program: Option<String>,
    path: Option<String>,
    /// The main program `configure` returns (default `sleep`), with `main_args`.
    main: Option<String>,
    #[serde(default)]
    main_args: Vec<String>,
    /// A readiness probe `configure` adds, as program and arguments.
    probe: Option<Vec<String>>,
    /// How long `ready-check` spins in `spin-ready` mode, in milliseconds.
    spin_ms: Option<u64>,
}

struct Misbehave;

impl Kind for Misbehave {
    type Config = Config;

    fn info() -> Info {
        Info::new("misbehave", "0.0.1", "Misbehaves on demand (test plugin)")
            .program("echo")
            .program("sleep")
            .config_schema_of::<Config>()
            .subcommand("program", "Starts the configured `program`")
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        if svc.config.mode == Mode::Panic {
            panic!("misbehave was asked to panic");
        }
        let cfg = &svc.config;
        let process = match &cfg.main {
            Some(main) => Process::new(main.clone()).args(cfg.main_args.iter().cloned()),
            None => Process::new("sleep").arg("100"),
        };
        Ok(match &cfg.probe {
            Some(argv) => process.ready(Readiness::probe(argv.iter().cloned())),
            None => process.ready(Readiness::plugin_check()),
        })
    }

    fn subcommand(svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        match (name, &svc.config.program) {
            ("program", Some(program)) => {
                Ok(Command::new(program.clone()).args(args.iter().cloned()))
            }
            _ => Err(Error::unknown_subcommand(name)),
        }
    }

    fn setup(svc: &Service<Config>) -> Result<(), Error> {
        match svc.config.mode {
            Mode::LoopSetup => spin(),
            Mode::MemoryBomb => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::LogSpam => loop {
                log::info("spam spam spam spam spam spam spam spam spam spam spam spam spam spam");
            },
            Mode::Run => {
                let program = svc.config.program.as_deref().unwrap_or("echo");
                let out = Command::new(program).arg("hello from run").run()?;
                log::info(format!("{program} said {}", out.stdout.trim()));
                Ok(())
            }
            Mode::RunSlow => {
                Command::new("sleep").arg("0.4").run()?;
                // Calls after the run, where the deadline is checked again.
                let words: Vec<String> = (0..1000).map(|n| format!("word {n}")).collect();
                log::info(format!("slept, then made {} words", words.len()));
                Ok(())
            }
            Mode::ReadOutside => {
                let path = svc.config.path.as_deref().unwrap_or("/etc/passwd");
                let text = fs::read_to_string(path)?;
                log::info(format!("read {} bytes from {path}", text.len()));
                Ok(())
            }
            Mode::Cache => {
                let dir = svc
                    .cache_dir
                    .as_deref()
                    .ok_or_else(|| Error::msg("no cache directory"))?;
                let entry = cache::entry(dir, "entry", |tmp| fs::write(tmp, &svc.name))?;
                let text = fs::read_to_string(entry.path())?;
                let how = if entry.built() { "built" } else { "found" };
                log::info(format!("cache entry {how}: {text}"));
                Ok(())
            }
            Mode::Fine | Mode::LoopReady | Mode::SpinReady | Mode::Panic | Mode::ReadyFail => {
                Ok(())
            }
        }
    }

    fn ready_verdict(svc: &Service<Config>, _stream: Stream, line: &str) -> Verdict {
        match svc.config.mode {
            Mode::LoopReady => spin(),
            Mode::SpinReady => {
                let spin_for = Duration::from_millis(svc.config.spin_ms.unwrap_or(700));
                // A failed write shows as a missing marker in the test that reads it.
                let _ = fs::write(svc.data_path("spinning"), line);
                let started = Instant::now();
                while started.elapsed() < spin_for {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let _ = fs::write(svc.data_path("spun"), line);
                Verdict::NotYet
            }
            Mode::ReadyFail if line.contains("fatal") => {
                Verdict::Failed(format!("the server gave up: {line}"))
            }
            _ => line.contains("ready").into(),
        }
    }

    /// Who the service runs as and where its cache is, as the host said.
    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        Ok(vec![
            ("user".into(), svc.user.name.clone()),
            ("uid".into(), svc.user.uid.to_string()),
            ("host_is_root".into(), svc.user.host_is_root.to_string()),
            (
                "cache_dir".into(),
                svc.cache_dir.clone().unwrap_or_default(),
            ),
        ])
    }
}

/// Burns CPU forever without being optimised away.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

teamster_plugin_sdk::export_kind!(Misbehave);
