//! `new_scaffold` tells what to do next and never writes over a directory in use.
//!
//! That the scaffold builds for wasm32-wasip2, installs and runs in a bundle is the
//! integration test `plugins::scaffold`, which drives the `teamster` binary.

use std::path::PathBuf;

use super::chain;
use crate::plugin::{SdkSource, new_scaffold};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn scaffold_prints_next_steps_and_refuses_a_non_empty_dir() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("hello-kind");
    let sdk = SdkSource::Path(repo_root().join("plugin-sdk"));
    let scaffold = new_scaffold("hello-kind", &dir, &sdk).expect("scaffold");
    insta::assert_snapshot!(
        "scaffold",
        super::redact(&scaffold.to_string(), work.path(), "[WORK]")
    );
    let bad = new_scaffold("hello-kind", &dir, &sdk).unwrap_err();
    insta::assert_snapshot!(
        "scaffold_exists",
        super::redact(&chain(&bad), work.path(), "[WORK]")
    );
}

/// A crate made from the binary alone carries the workspace's SDK sources and WIT byte for
/// byte (they are read at build time, so they cannot drift), an SDK manifest that builds
/// outside the workspace, and a lock file with the workspace's versions.
#[test]
fn vendored_scaffold_carries_the_sdk_and_wit_of_this_checkout() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("hello-kind");
    let scaffold = new_scaffold("hello-kind", &dir, &SdkSource::Vendored).expect("scaffold");
    let root = repo_root();

    let mut sources = vec![(root.join("wit/plugin.wit"), dir.join("wit/plugin.wit"))];
    for entry in std::fs::read_dir(root.join("plugin-sdk/src")).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let copy = dir.join("sdk/src").join(path.file_name().unwrap());
        sources.push((path, copy));
    }
    for (original, copy) in &sources {
        assert_eq!(
            std::fs::read(original).unwrap(),
            std::fs::read(copy).unwrap_or_default(),
            "{} differs from {}",
            copy.display(),
            original.display()
        );
        let relative = copy.strip_prefix(&dir).unwrap();
        assert!(scaffold.files.iter().any(|f| f == relative), "{relative:?}");
    }

    let manifest = std::fs::read_to_string(dir.join("sdk/Cargo.toml")).unwrap();
    assert!(!manifest.contains("workspace"), "{manifest}");
    let manifest: toml::Table = manifest.parse().unwrap();
    assert_eq!(
        manifest["package"]["name"].as_str(),
        Some("teamster-plugin-sdk")
    );
    assert_eq!(
        manifest["package"]["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let crate_manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        crate_manifest.contains(r#"teamster-plugin-sdk = { path = "sdk" }"#),
        "{crate_manifest}"
    );

    let lock = |path: &std::path::Path| -> Vec<(String, String)> {
        let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
        table["package"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let field = |k: &str| p[k].as_str().unwrap().to_string();
                (field("name"), field("version"))
            })
            .collect()
    };
    let workspace = lock(&root.join("Cargo.lock"));
    let scaffolded = lock(&dir.join("Cargo.lock"));
    for package in &scaffolded {
        if package.0 != "hello-kind" {
            assert!(
                workspace.contains(package),
                "{package:?} is not the workspace's"
            );
        }
    }
    for needed in ["hello-kind", "teamster-plugin-sdk", "wit-bindgen", "serde"] {
        assert!(
            scaffolded.iter().any(|(name, _)| name == needed),
            "{needed}"
        );
    }
}
