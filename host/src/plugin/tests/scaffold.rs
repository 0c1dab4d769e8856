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
