//! What `service-context` tells a plugin beyond its config (who the service runs as, the
//! kind's cache directory), and a `ready-check` that fails the start.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tempfile::TempDir;

use super::misbehave::{misbehave, open};
use super::{chain, context, run_env, test_host};
use crate::logs::Stream;
use crate::plugin::{Limits, Plugin, PluginError, PluginHost, PluginService, RunEnv};
use crate::service::hooks::ServiceHooks;

/// What every test here starts from: a host with the default limits in its own home, the
/// misbehaving plugin installed there without grants, and a run directory.
struct Fixture {
    host: PluginHost,
    home: TempDir,
    plugin: Arc<Plugin>,
    dir: TempDir,
}

fn fixture() -> Fixture {
    let (host, home) = test_host(Limits::default());
    let plugin = misbehave(&host, &[]);
    let dir = tempfile::tempdir().unwrap();
    Fixture {
        host,
        home,
        plugin,
        dir,
    }
}

impl Fixture {
    /// The run environment of a service in the run directory.
    fn env(&self) -> RunEnv {
        run_env(self.dir.path())
    }

    /// Opens service `svc` in `mode`, as the host's user.
    fn open(&self, mode: &str) -> PluginService {
        open(&self.plugin, self.dir.path(), json!({ "mode": mode }), &[])
    }

    /// Opens service `svc` in `mode` with `env` (which may name a user).
    fn open_in(&self, mode: &str, env: RunEnv) -> Result<PluginService, PluginError> {
        self.plugin.instantiate(
            context("svc", self.dir.path(), 1, json!({ "mode": mode })),
            env,
            &[],
        )
    }
}

/// Whether the host is root, which running a service as another user takes; if not, the
/// test says it is skipped.
fn root_or_skip() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("skipped: the host must be root to run a service as another user");
    }
    root
}

fn info(svc: &PluginService) -> std::collections::HashMap<String, String> {
    svc.connection_info()
        .expect("connection info")
        .into_iter()
        .collect()
}

fn logged(svc: &PluginService) -> Vec<String> {
    svc.recent_logs().into_iter().map(|l| l.message).collect()
}

#[test]
fn the_plugin_is_told_who_the_service_runs_as() {
    let f = fixture();
    let svc = f.open("fine");
    let uid = nix::unistd::Uid::effective();
    let name = nix::unistd::User::from_uid(uid).unwrap().unwrap().name;
    let seen = info(&svc);
    assert_eq!(seen["user"], name);
    assert_eq!(seen["uid"], uid.to_string());
    assert_eq!(seen["host_is_root"], uid.is_root().to_string());
    assert_eq!(svc.user().name, name);
}

#[test]
fn a_service_user_is_told_when_the_host_is_root_and_refused_when_unknown() {
    if !root_or_skip() {
        return;
    }
    let f = fixture();
    let mut env = f.env();
    env.user = Some("nobody".to_string());
    let svc = f
        .open_in("fine", env.clone())
        .expect("instantiate as nobody");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let seen = info(&svc);
    assert_eq!(seen["user"], "nobody");
    assert_eq!(seen["uid"], nobody.uid.to_string());
    assert_eq!(seen["host_is_root"], "true");

    env.user = Some("no-such-user-here".to_string());
    let err = f.open_in("fine", env).unwrap_err();
    assert!(matches!(err, PluginError::User { .. }), "{err:?}");
    assert_eq!(
        chain(&err),
        "service `svc` cannot run as its user: user `no-such-user-here` does not exist"
    );
}

#[test]
fn the_kind_cache_is_keyed_by_kind_and_version_and_outlives_the_host() {
    let Fixture {
        host,
        home,
        plugin,
        dir: first_dir,
    } = fixture();
    let first = open(&plugin, first_dir.path(), json!({"mode": "cache"}), &[]);
    let expected = home.path().join("kinds/misbehave/0.0.1");
    assert_eq!(first.cache_dir(), Some(expected.as_path()));
    assert_eq!(info(&first)["cache_dir"], expected.display().to_string());
    first.setup().expect("setup fills the cache");
    assert!(logged(&first).contains(&"cache entry built: svc".to_string()));
    assert_eq!(
        std::fs::read_to_string(expected.join("entry")).unwrap(),
        "svc"
    );

    // Another service, in another run directory and another host, finds the entry.
    drop(host);
    let config = crate::plugin::PluginHostConfig {
        kind_cache_dir: home.path().join("kinds"),
        ..crate::plugin::PluginHostConfig::in_dir(home.path())
    };
    let host = crate::plugin::PluginHost::new(config).unwrap();
    let plugin = host.resolve("misbehave").unwrap();
    let second_dir = tempfile::tempdir().unwrap();
    let second = open(&plugin, second_dir.path(), json!({"mode": "cache"}), &[]);
    second.setup().expect("setup finds the cache");
    assert!(
        logged(&second).contains(&"cache entry found: svc".to_string()),
        "{:?}",
        logged(&second)
    );
    // Nothing but the entry is left in the cache: no temporary copies.
    let names: Vec<_> = std::fs::read_dir(&expected)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["entry"]);
}

#[test]
fn the_services_xdg_cache_home_holds_the_kind_cache_owned_by_its_user() {
    let f = fixture();
    let dir = &f.dir;
    let xdg = dir.path().join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    let mut env = f.env();
    env.env
        .push(("XDG_CACHE_HOME".to_string(), xdg.display().to_string()));
    let other = nix::unistd::Uid::effective().is_root().then(|| {
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        nix::unistd::chown(&xdg, Some(nobody.uid), Some(nobody.gid)).unwrap();
        env.user = Some("nobody".to_string());
        nobody
    });
    let svc = f.open_in("cache", env).expect("instantiate");
    let cache = xdg.join("teamster/kinds/misbehave/0.0.1");
    assert_eq!(svc.cache_dir(), Some(cache.as_path()));
    if let Some(nobody) = other {
        // Every directory the host made belongs to the service's user, who writes there.
        for made in [
            "teamster",
            "teamster/kinds",
            "teamster/kinds/misbehave",
            "teamster/kinds/misbehave/0.0.1",
        ] {
            let meta = std::fs::metadata(xdg.join(made)).unwrap();
            assert_eq!(meta.uid(), nobody.uid.as_raw(), "{made}");
        }
    }
    svc.setup().expect("setup fills the cache");
    assert!(Path::new(&cache.join("entry")).is_file());
}

#[test]
fn a_failed_ready_check_fails_with_the_plugins_message_and_poisons_nothing() {
    let f = fixture();
    let svc = f.open("ready-fail");
    assert!(!svc.ready_check(Stream::Err, "starting").unwrap());
    let err = svc
        .ready_check(Stream::Err, "fatal: unknown option --frobnicate")
        .unwrap_err();
    assert_eq!(
        chain(&err),
        "plugin `misbehave` failed in `ready-check`: the server gave up: fatal: unknown option --frobnicate"
    );
    assert!(!svc.is_poisoned());
    assert!(svc.ready_check(Stream::Out, "ready").unwrap());
}

#[test]
fn without_a_home_for_its_user_a_service_has_no_cache_dir_and_says_why() {
    if !root_or_skip() {
        return;
    }
    let f = fixture();
    let mut env = f.env();
    // `nobody`'s home is `/nonexistent`.
    env.user = Some("nobody".to_string());
    let svc = f
        .open_in("cache", env)
        .expect("a service without a cache still opens");
    assert_eq!(svc.cache_dir(), None);
    assert_eq!(info(&svc)["cache_dir"], "");
    assert!(
        logged(&svc).iter().any(|l| l
            == "no cache directory for kind `misbehave`: the home directory `/nonexistent` of user `nobody` does not exist"),
        "{:?}",
        logged(&svc)
    );
    let err = svc.setup().unwrap_err();
    assert_eq!(
        chain(&err),
        "plugin `misbehave` failed in `setup`: no cache directory"
    );
}
