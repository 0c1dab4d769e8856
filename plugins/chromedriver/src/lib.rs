//! The `chromedriver` kind: a WebDriver endpoint for Selenium, driving headless Chromium.
//!
//! The host starts `chromedriver` (Debian's `chromium-driver`) on the leased port; each
//! WebDriver session a client opens makes chromedriver start a Chromium of its own, with
//! the binary and arguments the client's capabilities name. The kind publishes what a
//! client needs for that: `url` (the endpoint), `binary` (Chromium, resolved like a
//! program), `args` (the arguments a browser needs here, as a JSON array) and
//! `capabilities` (both, as the JSON object a session request puts in `alwaysMatch`).
//!
//! Browser data: chromedriver gives every session a fresh profile in `$TMPDIR` (unless
//! the client passes `--user-data-dir`) and deletes it when the session ends. The kind
//! runs chromedriver, and so every browser it starts, in the service's data directory
//! with `TMPDIR=.` and `HOME` and the XDG directories there: profiles, crash-report
//! databases and caches all land in it, nothing is shared between sessions or runs, and a
//! profile left by a killed browser goes with the run. `TMPDIR` is relative because
//! Chromium binds its singleton socket in a fresh directory under `$TMPDIR`, and a socket
//! path longer than 107 bytes is fatal: a data directory under a project's
//! `.teamster/runs/<id>/data/<service>` is often nearly that long already. So a session's
//! `userDataDir` reads `org.chromium.Chromium.scoped_dir.XXXXXX`, relative to the data
//! directory. The directories are the data directory itself rather than folders in it
//! because the host makes that directory for the service's user; a folder the plugin made
//! would belong to the host's user. The published `args` hold no `--user-data-dir`: one
//! fixed profile would lock out a second session.
//!
//! Readiness: chromedriver prints `ChromeDriver was started successfully` once it
//! listens, and the kind then also asks `GET /status` for a 2xx. The host's HTTP check
//! does not read the body, so `"ready": true` is not checked as such: chromedriver answers
//! `/status` with `"ready": true` whenever it can take a session, which is as soon as it
//! listens. A port it cannot bind fails the start with chromedriver's own line.
//!
//! Processes: the host starts `chromedriver` and nothing else, which is all the kind
//! declares. The browsers are chromedriver's doing, on a client's request: granting
//! `chromedriver` lets a client start any binary it names in `goog:chromeOptions.binary`.
//! Chromium's zygotes and renderers stay in chromedriver's process group, which the host
//! stops as a whole; its `chrome_crashpad_handler` processes leave the group (each calls
//! `setsid`) but exit once the browser they watch is gone.
//!
//! Clock: `faketime` defaults to false for this kind ([`Info::real_clock`]). The
//! clock preload would be inherited by Chromium, whose sandbox, zygote and timers do not
//! take to a travelled clock, and the pages a test drives get their time from the app
//! server under test, which carries the travelled clock itself.

use serde::Deserialize;
use teamster_plugin_sdk::{
    Command, Error, Info, JsonSchema, Kind, Needle, PortSetting, Process, Readiness, Service,
    Stream, Verdict, find_program,
};

/// What chromedriver prints once it listens.
const READY_LINE: Needle = Needle::from_static("ChromeDriver was started successfully");
/// What it prints before exiting when the port is taken (`IPv4 port not available`, and
/// the same for IPv6 when it is the only one).
const PORT_TAKEN: Needle = Needle::from_static("port not available. Exiting");

/// Arguments every browser started here needs: no window, no GPU, and nothing that
/// reaches for the network on its own (the machine may have none, and a test wants a quiet
/// browser anyway): no background fetches, component updates, sync, first-run pages,
/// QUIC, or keyring lookups.
const BROWSER_ARGS: &[&str] = &[
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--password-store=basic",
];

/// The `[services.<name>.config]` table of a chromedriver service.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "teamster_plugin_sdk::schemars")]
#[serde(deny_unknown_fields)]
struct Config {
    /// Read by the host, which reserves or picks the main port; only checked here.
    #[serde(default)]
    port: PortSetting,
    /// The browser published as `binary`: a name on the service's PATH or a path.
    #[serde(default = "default_chromium")]
    chromium: String,
    /// Extra Chromium arguments, appended to the published `args`.
    #[serde(default)]
    chromium_args: Vec<String>,
    /// Extra `chromedriver` arguments (`--verbose`, `--enable-chrome-logs`, ...).
    #[serde(default)]
    chromedriver_args: Vec<String>,
    /// Whether Chromium keeps its sandbox. Default: yes, unless the service runs as root,
    /// where Chromium refuses to start without `--no-sandbox`.
    sandbox: Option<bool>,
}

fn default_chromium() -> String {
    "chromium".to_string()
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        self.port.check()?;
        if self.chromium.is_empty() {
            return Err(Error::msg(
                "`chromium = \"\"` names no browser; leave it out for Debian's `chromium`",
            ));
        }
        Ok(())
    }
}

/// Whether the browsers run with Chromium's sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sandbox {
    On,
    Off,
}

impl Sandbox {
    fn of(svc: &Service<Config>) -> Sandbox {
        match svc.config.sandbox {
            Some(true) => Sandbox::On,
            Some(false) => Sandbox::Off,
            None if svc.user.is_root() => Sandbox::Off,
            None => Sandbox::On,
        }
    }
}

/// The Chromium binary as an absolute path, or why there is none.
fn chromium(svc: &Service<Config>) -> Result<String, Error> {
    let name = &svc.config.chromium;
    find_program(name).ok_or_else(|| {
        Error::msg(format!(
            "cannot find the browser `{name}` for service `{}`: install Debian's `chromium` \
             and `chromium-driver` packages (`apt-get install chromium chromium-driver`), or \
             set the service's `chromium` to the browser's path",
            svc.name
        ))
    })
}

/// The arguments a client passes to every browser of this service.
fn browser_args(svc: &Service<Config>) -> Vec<String> {
    let mut args: Vec<String> = BROWSER_ARGS.iter().map(|a| a.to_string()).collect();
    if Sandbox::of(svc) == Sandbox::Off {
        args.push("--no-sandbox".to_string());
    }
    args.extend(svc.config.chromium_args.iter().cloned());
    args
}

struct Chromedriver;

impl Kind for Chromedriver {
    type Config = Config;

    fn info() -> Info {
        Info::new(
            "chromedriver",
            env!("CARGO_PKG_VERSION"),
            "Headless Chromium driven through chromedriver, for Selenium",
        )
        .program("chromedriver")
        .subcommand("version", "Print the chromedriver version")
        .config_schema_of::<Config>()
        .real_clock()
    }

    fn configure(svc: &Service<Config>) -> Result<Process, Error> {
        svc.config.validate()?;
        // A missing browser shows at start, not at the first session of a test.
        chromium(svc)?;
        let port = svc.main_port()?;
        let data = svc.data_dir.as_str();
        Ok(Process::new("chromedriver")
            .arg(format!("--port={port}"))
            .args(svc.config.chromedriver_args.iter().cloned())
            // Relative, for the singleton socket's sake (see the crate docs); the working
            // directory below makes it the data directory.
            .env("TMPDIR", ".")
            .env("HOME", data)
            .env("XDG_CONFIG_HOME", format!("{data}/.config"))
            .env("XDG_CACHE_HOME", format!("{data}/.cache"))
            .env("XDG_DATA_HOME", format!("{data}/.local/share"))
            .env("XDG_STATE_HOME", format!("{data}/.local/state"))
            .cwd(data)
            .stop_signal("SIGTERM")
            .ready(Readiness::plugin_check())
            .ready(Readiness::http(format!("http://127.0.0.1:{port}/status"))))
    }

    fn ready_verdict(_svc: &Service<Config>, _stream: Stream, line: &str) -> Verdict {
        if PORT_TAKEN.is_in(line) {
            return Verdict::Failed(format!("chromedriver cannot listen: {}", line.trim()));
        }
        READY_LINE.is_in(line).into()
    }

    fn subcommand(_svc: &Service<Config>, name: &str, args: &[String]) -> Result<Command, Error> {
        match name {
            "version" => Ok(Command::new("chromedriver")
                .arg("--version")
                .args(args.iter().cloned())),
            other => Err(Error::unknown_subcommand(other)),
        }
    }

    fn connection_info(svc: &Service<Config>) -> Result<Vec<(String, String)>, Error> {
        let port = svc.main_port()?;
        let binary = chromium(svc)?;
        let args = browser_args(svc);
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": binary, "args": args },
        });
        Ok(vec![
            ("url".into(), format!("http://127.0.0.1:{port}")),
            ("host".into(), "127.0.0.1".into()),
            ("port".into(), port.to_string()),
            ("binary".into(), binary),
            (
                "args".into(),
                serde_json::to_string(&args).expect("strings"),
            ),
            ("capabilities".into(), capabilities.to_string()),
        ])
    }
}

teamster_plugin_sdk::export_kind!(Chromedriver);
