//! The `chromedriver` kind on the real chromedriver and Chromium (Debian's `chromium` and
//! `chromium-driver`): WebDriver sessions over plain HTTP, browser data in the service's
//! data directory, and no browser process left once the bundle is gone, however it went.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::stdout_of;
use crate::fixture::{Project, alive, parent_of, signal, teamster_up, tree, wait_for, wait_within};

const BUNDLE: &str = "[services.browser]\nkind = \"chromedriver\"\n";

/// One WebDriver call: `method` on `url` with a JSON body, answered with the response's
/// JSON, which must say no error.
fn webdriver(method: &str, url: &str, body: Option<&Value>) -> Value {
    let rest = url.strip_prefix("http://").expect("an http url");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let mut stream = TcpStream::connect(authority).expect("chromedriver accepts a connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut length = None;
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut text = Vec::new();
    match length {
        Some(n) => {
            text.resize(n, 0);
            reader.read_exact(&mut text).expect("body");
        }
        None => {
            reader.read_to_end(&mut text).expect("body");
        }
    }
    let answer: Value = serde_json::from_slice(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", String::from_utf8_lossy(&text)));
    assert!(
        status.contains(" 200 "),
        "{method} {path} answered {status}: {answer}"
    );
    answer
}

/// A WebDriver session opened with the capabilities the service publishes.
struct Session {
    url: String,
    id: String,
    capabilities: Value,
}

impl Session {
    fn open(url: &str, published: &str) -> Session {
        let always: Value = serde_json::from_str(published).expect("capabilities are JSON");
        let answer = webdriver(
            "POST",
            &format!("{url}/session"),
            Some(&json!({ "capabilities": { "alwaysMatch": always } })),
        );
        Session {
            url: format!(
                "{url}/session/{}",
                answer["value"]["sessionId"].as_str().unwrap()
            ),
            id: answer["value"]["sessionId"].as_str().unwrap().to_owned(),
            capabilities: answer["value"]["capabilities"].clone(),
        }
    }

    /// The profile chromedriver made for the session, relative to its working directory
    /// `cwd`.
    fn profile(&self, cwd: &Path) -> PathBuf {
        cwd.join(
            self.capabilities["chrome"]["userDataDir"]
                .as_str()
                .expect("chromedriver reports the profile"),
        )
    }

    fn go(&self, page: &str) {
        webdriver(
            "POST",
            &format!("{}/url", self.url),
            Some(&json!({ "url": page })),
        );
    }

    fn title(&self) -> String {
        let answer = webdriver("GET", &format!("{}/title", self.url), None);
        answer["value"].as_str().expect("a title").to_owned()
    }

    fn quit(self) {
        webdriver("DELETE", &self.url, None);
    }
}

/// Serves one fixed page on 127.0.0.1 for the test binary's life; returns its URL.
fn serve_page(title: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let page = format!("<!doctype html><title>{title}</title><p>served by the test</p>");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    url
}

/// Every process of the service: its supervisor's whole tree (chromedriver, the browsers,
/// their zygotes and renderers, and the crash handlers that `setsid` away from them and
/// are reparented to the supervisor, a subreaper), and anything anywhere whose command
/// line names the data directory (a profile or a crash database in it).
fn service_processes(chromedriver: u32, data: &Path) -> Vec<u32> {
    let mut pids = tree(parent_of(chromedriver));
    pids.extend(naming(data));
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Live processes whose command line mentions `dir`.
fn naming(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
                && alive(*pid)
        })
        .collect()
}

/// The names of `pids`, for a failure message.
fn described(pids: &[u32]) -> Vec<String> {
    pids.iter()
        .map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            format!("{pid} {}", comm.trim())
        })
        .collect()
}

/// Fails unless every one of `pids`, and anything naming `data`, is gone within 20 s.
fn assert_all_gone(pids: &[u32], data: &Path, what: &str) {
    let gone = wait_for(Duration::from_secs(20), || {
        pids.iter().all(|p| !alive(*p)) && naming(data).is_empty()
    });
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        gone,
        "{what}: left {:?} and {:?} naming {}",
        described(&left),
        described(&naming(data)),
        data.display()
    );
}

fn processes_named(pids: &[u32], name: &str) -> usize {
    pids.iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_loads_a_local_page_with_its_profile_in_the_data_dir() {
    let p = Project::new();
    let running = p.start(BUNDLE).await;
    let data = running.run_dir().join("data/browser");
    let url = running
        .connection("browser", "url")
        .expect("url")
        .to_owned();
    let caps = running
        .connection("browser", "capabilities")
        .expect("capabilities")
        .to_owned();
    let page = serve_page("Hello from teamster");
    let cwd = data.clone();
    let (title, profile, existed, after_quit) = tokio::task::spawn_blocking(move || {
        let session = Session::open(&url, &caps);
        assert!(!session.id.is_empty());
        session.go(&page);
        let title = session.title();
        let profile = session
            .profile(&cwd)
            .canonicalize()
            .expect("the profile exists");
        let existed = profile.is_dir();
        session.quit();
        let gone = profile_gone_after(&profile);
        (title, profile, existed, gone)
    })
    .await
    .unwrap();
    assert_eq!(title, "Hello from teamster");
    assert!(
        profile.starts_with(data.canonicalize().unwrap()),
        "the profile {} is outside the data directory {}",
        profile.display(),
        data.display()
    );
    assert!(existed, "no profile at {}", profile.display());
    assert!(after_quit, "{} outlived its session", profile.display());
    running.stop().await;
}

/// Whether chromedriver removed the profile once its session ended.
fn profile_gone_after(profile: &Path) -> bool {
    wait_for(Duration::from_secs(10), || !profile.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_publishes_the_endpoint_the_browser_and_its_arguments() {
    let p = Project::new();
    let running = p.start(BUNDLE).await;
    let port = running["browser"].ports()[0].1;
    assert_eq!(
        running.connection("browser", "url"),
        Some(format!("http://127.0.0.1:{port}").as_str())
    );
    assert_eq!(
        running.connection("browser", "binary"),
        Some("/usr/bin/chromium")
    );
    let args: Vec<String> =
        serde_json::from_str(running.connection("browser", "args").expect("args")).unwrap();
    for arg in [
        "--headless=new",
        "--disable-background-networking",
        "--no-first-run",
    ] {
        assert!(args.iter().any(|a| a == arg), "{arg} missing from {args:?}");
    }
    let root = nix::unistd::Uid::effective().is_root();
    assert_eq!(args.iter().any(|a| a == "--no-sandbox"), root, "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--user-data-dir")));
    let caps: Value =
        serde_json::from_str(running.connection("browser", "capabilities").unwrap()).unwrap();
    assert_eq!(caps["goog:chromeOptions"]["binary"], "/usr/bin/chromium");
    assert_eq!(caps["goog:chromeOptions"]["args"], json!(args));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromedriver_runs_on_the_real_clock_with_its_temp_and_home_in_the_data_dir() {
    let p = Project::new();
    let running = p.start(BUNDLE).await;
    let data = running.run_dir().join("data/browser");
    let pid = running["browser"].pid().expect("a pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let var = |name: &str| {
        vars.iter()
            .find_map(|v| v.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let data_text = data.display().to_string();
    assert_eq!(var("TMPDIR").as_deref(), Some("."));
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        data.canonicalize().unwrap()
    );
    assert_eq!(var("HOME").as_deref(), Some(data_text.as_str()));
    assert!(var("XDG_CONFIG_HOME").is_some_and(|d| d.starts_with(&data_text)));
    assert!(
        !var("LD_PRELOAD").is_some_and(|p| p.contains("teamster")),
        "the clock preload reached chromedriver: {:?}",
        var("LD_PRELOAD")
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_subcommand() {
    let p = Project::new();
    let running = p.start(BUNDLE).await;
    let out = stdout_of(&running["browser"], "version", &[]).await;
    assert!(out.starts_with("ChromeDriver "), "{out}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_leaves_no_browser_process() {
    let p = Project::new();
    let running = p.start(BUNDLE).await;
    let data = running.run_dir().join("data/browser");
    let chromedriver = running["browser"].pid().expect("a pid");
    let url = running.connection("browser", "url").unwrap().to_owned();
    let caps = running
        .connection("browser", "capabilities")
        .unwrap()
        .to_owned();
    // Two sessions, left open: the stop must take their browsers down with chromedriver.
    let pids = tokio::task::spawn_blocking({
        let data = data.clone();
        move || {
            let first = Session::open(&url, &caps);
            first.go("data:text/html,<title>one</title>");
            let second = Session::open(&url, &caps);
            second.go("data:text/html,<title>two</title>");
            service_processes(chromedriver, &data)
        }
    })
    .await
    .unwrap();
    assert!(
        processes_named(&pids, "chromium") >= 2,
        "{:?}",
        described(&pids)
    );
    running.stop().await;
    assert_all_gone(&pids, &data, "stop");
}

#[test]
fn sigkill_of_the_host_leaves_no_browser_process() {
    let p = Project::new();
    p.bundle_file(BUNDLE);
    let (mut host, _) = teamster_up(&p, &[]);
    let current = p.path().join(".teamster/current");
    let connections: Value =
        serde_json::from_str(&std::fs::read_to_string(current.join("connections.json")).unwrap())
            .unwrap();
    let browser = &connections["browser"];
    let data = current.canonicalize().unwrap().join("data/browser");
    let session = Session::open(
        browser["url"].as_str().unwrap(),
        browser["capabilities"].as_str().unwrap(),
    );
    session.go("data:text/html,<title>killed</title>");
    let port = browser["port"].as_str().unwrap();
    let chromedriver = chromedriver_on(port);
    let pids = service_processes(chromedriver, &data);
    assert!(
        processes_named(&pids, "chromium") >= 1,
        "{:?}",
        described(&pids)
    );
    signal(host.id(), Signal::SIGKILL);
    assert_eq!(wait_within(&mut host, Duration::from_secs(10)), Some(137));
    assert_all_gone(&pids, &data, "SIGKILL of the host");
}

/// The chromedriver listening on `port`.
fn chromedriver_on(port: &str) -> u32 {
    let flag = format!("--port={port}");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0).any(|w| w == flag.as_bytes())
                    && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|n| n.trim() == "chromedriver")
            })
        })
        .unwrap_or_else(|| panic!("no chromedriver with {flag}"))
}

/// What a Python test does with the published values (the example of plugins/README.md).
const SELENIUM_SCRIPT: &str = r#"
import json, os, sys
from selenium import webdriver

options = webdriver.ChromeOptions()
options.binary_location = os.environ["CHROMIUM"]
for arg in json.loads(os.environ["CHROMIUM_ARGS"]):
    options.add_argument(arg)
driver = webdriver.Remote(command_executor=os.environ["WEBDRIVER_URL"], options=options)
try:
    driver.get(sys.argv[1])
    print(driver.title)
finally:
    driver.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selenium_drives_the_browser_through_the_published_values() {
    let p = Project::new();
    let running = p.start(BUNDLE).await;
    let value = |key| running.connection("browser", key).expect(key).to_owned();
    let page = serve_page("Driven by Selenium");
    let out = tokio::process::Command::new("python3")
        .args(["-c", SELENIUM_SCRIPT, &page])
        .env("WEBDRIVER_URL", value("url"))
        .env("CHROMIUM", value("binary"))
        .env("CHROMIUM_ARGS", value("args"))
        .output()
        .await
        .expect("python3 runs (tests/requirements.txt, in target/ci-venv, first on PATH)");
    assert!(
        out.status.success(),
        "selenium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Driven by Selenium"
    );
    running.stop().await;
}

/// The kind says its services keep the real clock (`follows-clock` false): without
/// `faketime` in the bundle a chromedriver gets no clock library, even while the bundle's
/// clock is travelled for a service that follows it; `faketime = true` still gives it one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chromedriver_keeps_the_real_clock_unless_the_bundle_says_otherwise() {
    let p = Project::new();
    let running = p
        .start(
            "[services.browser]\nkind = \"chromedriver\"\n\
             [services.travelling]\nkind = \"chromedriver\"\nfaketime = true\n",
        )
        .await;
    let preloads = |name: &str| {
        let pid = running[name].pid().expect("a pid");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        String::from_utf8_lossy(&environ)
            .split('\0')
            .any(|kv| kv.starts_with("LD_PRELOAD=") && kv.contains("teamster_clock"))
    };
    assert!(!running["browser"].spec().faketime);
    assert!(
        !preloads("browser"),
        "the browser service got the clock library"
    );
    assert!(running["travelling"].spec().faketime);
    assert!(preloads("travelling"), "`faketime = true` was not honoured");
    running.stop().await;
}
