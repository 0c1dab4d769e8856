//! A plugin that misbehaves on demand, so host tests can check that every limit holds and
//! that each failure reads clearly. The `mode` config key picks the misbehaviour.

use serde::Deserialize;
use teamster_plugin_sdk::{Command, Error, Info, Kind, Process, Readiness, Service, Stream, log};

/// Which misbehaviour to show.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Behaves; `ready-check` accepts lines containing "ready".
    Fine,
    /// Spins forever in `ready-check`.
    LoopReady,
    /// Spins forever in `setup`.
    LoopSetup,
    /// Allocates without bound in `setup`.
    MemoryBomb,
    /// Logs without bound in `setup`.
    LogSpam,
    /// Runs `program` in `setup`.
    Run,
    /// Runs `sleep 0.4` in `setup`, then does a little work.
    RunSlow,
    /// Reads a file outside the data directory in `setup`.
    ReadOutside,
    /// Panics in `configure`.
    Panic,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
    program: Option<String>,
    path: Option<String>,
}

struct Misbehave;

impl Kind for Misbehave {
    type Config = Config;

    fn info() -> Info {
        Info::new("misbehave", "0.0.1", "Misbehaves on demand (test plugin)")
            .program("echo")
            .program("sleep")
            .config_schema(
                r#"{"type":"object","required":["mode"],"additionalProperties":false,
                "properties":{"mode":{"enum":["fine","loop-ready","loop-setup","memory-bomb",
                "log-spam","run","run-slow","read-outside","panic"]},"program":{"type":"string"},
                "path":{"type":"string"}}}"#,
            )
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        if svc.config.mode == Mode::Panic {
            panic!("misbehave was asked to panic");
        }
        Ok(Process::new("sleep")
            .arg("100")
            .ready(Readiness::plugin_check()))
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
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::msg(format!("cannot read {path}: {e}")))?;
                log::info(format!("read {} bytes from {path}", text.len()));
                Ok(())
            }
            Mode::Fine | Mode::LoopReady | Mode::Panic => Ok(()),
        }
    }

    fn ready_check(svc: &Service<Config>, _stream: Stream, line: &str) -> bool {
        if svc.config.mode == Mode::LoopReady {
            spin();
        }
        line.contains("ready")
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
