//! Installing, listing, inspecting and removing plugins, and refusing components that are
//! corrupt, of another WIT version, or importing what plugins may not use.

use std::path::Path;

use teamster_plugin_artifacts::testing::{MISBEHAVE, SOCKETS, WRONG_VERSION};

use super::{artifact_path, chain, redact, test_host};
use crate::plugin::{Limits, PluginError, PluginHost, PluginHostConfig};

fn install_error(host: &PluginHost, path: &Path) -> String {
    let err = host.install(path, &[]).unwrap_err();
    redact(&chain(&err), path, "[FILE]")
}

#[test]
fn install_list_inspect_remove() {
    let (host, home) = test_host(Limits::default());
    let path = artifact_path(&MISBEHAVE);
    let installed = host.install(&path, &["echo".to_string()]).expect("install");
    let sha = installed.manifest.sha256.clone();
    assert_eq!(installed.dir, home.path().join("plugins/misbehave"));
    assert!(
        installed.dir.join("plugin.wasm").is_file()
            && installed.dir.join("manifest.json").is_file()
    );
    insta::assert_snapshot!(
        "install",
        redact(&installed.to_string(), home.path(), "[HOME]").replace(&sha, "[SHA256]")
    );

    insta::assert_snapshot!("list", host.list().unwrap().to_string());

    let inspection = host.inspect("misbehave").unwrap();
    assert_eq!(inspection.sha256, sha);
    assert_eq!(inspection.size, MISBEHAVE.bytes.len());
    assert!(
        inspection
            .exports
            .contains(&"teamster:plugin/kind@0.4.0".to_string())
    );
    insta::assert_snapshot!(
        "inspect",
        redact(&inspection.to_string(), home.path(), "[HOME]")
            .replace(&sha, "[SHA256]")
            .replace(&format!("{} bytes", inspection.size), "[SIZE] bytes")
    );
    // A path is inspected without installing; nothing is granted to it.
    let from_file = host.inspect(&path.display().to_string()).unwrap();
    assert!(from_file.grants.is_empty());
    assert_eq!(from_file.sha256, sha);

    // Reinstalling replaces, and the new grants apply.
    let again = host.install(&path, &[]).unwrap();
    assert_eq!(again.replaced.as_deref(), Some("0.0.1"));
    assert!(host.resolve("misbehave").unwrap().grants().is_empty());

    let removed = host.remove("misbehave").unwrap();
    assert!(!removed.dir.exists());
    let unknown = host.resolve("misbehave").unwrap_err();
    insta::assert_snapshot!("resolve_removed", chain(&unknown));
    insta::assert_snapshot!(
        "remove_twice",
        chain(&host.remove("misbehave").unwrap_err())
    );
    insta::assert_snapshot!(
        "remove_builtin",
        chain(&host.remove("generic").unwrap_err())
    );
}

#[test]
fn install_refuses_grants_of_undeclared_programs() {
    let (host, _home) = test_host(Limits::default());
    let err = host
        .install(&artifact_path(&MISBEHAVE), &["rm".to_string()])
        .unwrap_err();
    insta::assert_snapshot!("undeclared_grant", chain(&err));
}

#[test]
fn a_swapped_component_is_refused() {
    let (host, home) = test_host(Limits::default());
    host.install(&artifact_path(&MISBEHAVE), &["echo".to_string()])
        .unwrap();
    std::fs::write(
        home.path().join("plugins/misbehave/plugin.wasm"),
        SOCKETS.bytes,
    )
    .unwrap();
    let err = host.resolve("misbehave").unwrap_err();
    assert!(matches!(err, PluginError::Tampered { .. }), "{err:?}");
}

#[test]
fn sockets_are_not_available_to_plugins() {
    let (host, _home) = test_host(Limits::default());
    insta::assert_snapshot!("sockets", install_error(&host, &artifact_path(&SOCKETS)));
}

#[test]
fn another_wit_version_is_refused() {
    let (host, _home) = test_host(Limits::default());
    insta::assert_snapshot!(
        "wrong_version",
        install_error(&host, &artifact_path(&WRONG_VERSION))
    );
}

#[test]
fn corrupt_files_are_refused() {
    let (host, _home) = test_host(Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let mut report = String::new();
    let cases: [(&str, Vec<u8>); 3] = [
        ("text", b"#!/bin/sh\necho not wasm\n".to_vec()),
        ("core-module", b"\0asm\x01\0\0\0".to_vec()),
        (
            "truncated",
            MISBEHAVE.bytes[..MISBEHAVE.bytes.len() / 2].to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        let err = host.install(&path, &[]).unwrap_err();
        // Only the top line: wasmtime's parser detail (the source) is not ours to pin.
        report.push_str(&format!(
            "{name}: {}\n",
            redact(&err.to_string(), dir.path(), "[DIR]")
        ));
    }
    insta::assert_snapshot!("corrupt", report);
    let missing = host
        .install(&dir.path().join("absent.wasm"), &[])
        .unwrap_err();
    assert!(matches!(missing, PluginError::Read { .. }));
    // The host still works after all that.
    assert_eq!(host.resolve("generic").unwrap().describe().name, "generic");
}

#[test]
fn compiled_components_come_from_the_cache_the_second_time() {
    let cache = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = PluginHostConfig {
        cache_dir: cache.path().to_path_buf(),
        ..PluginHostConfig::in_dir(home.path())
    };
    let first = PluginHost::new(config.clone()).unwrap();
    assert!(!first.resolve("generic").unwrap().loaded_from_cache());
    let second = PluginHost::new(config).unwrap();
    assert!(second.resolve("generic").unwrap().loaded_from_cache());
    // A damaged entry is recompiled, not trusted. The hosts above map their entries, so they
    // go first: truncating a mapped file under a live host would be a crash of its own.
    drop((first, second));
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = PluginHost::new(PluginHostConfig {
        cache_dir: cache.path().to_path_buf(),
        ..PluginHostConfig::in_dir(home.path())
    })
    .unwrap();
    let plugin = third.resolve("generic").unwrap();
    assert!(!plugin.loaded_from_cache());
    assert_eq!(plugin.describe().name, "generic");
}

#[test]
fn teamster_home_overrides_the_locations() {
    // Only the pure function is tested: changing the process environment would race with
    // other tests.
    let config = PluginHostConfig::in_dir(Path::new("/x/home"));
    assert_eq!(config.plugins_dir, Path::new("/x/home/plugins"));
    assert_eq!(config.cache_dir, Path::new("/x/home/cache/components"));
}
