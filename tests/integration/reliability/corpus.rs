//! Bad bundle files, as users write them: each is refused by `teamster check` with exit
//! code 3 and a message that names where, and every message is snapshotted, so a change in
//! any of them is seen in review. Add a file to `tests/data/bad-bundles/` to grow it: a
//! `.toml` file is checked as `bundle.toml`, a `.json` file as `bundle.json`.

use std::process::Command;

use crate::fixture::{Project, teamster_bin};

/// The inputs whose error is about the file as a whole, so that no line and column fit.
const WHOLE_FILE: &[&str] = &["json-empty.json"];

#[test]
fn every_bad_bundle_is_refused_at_check_with_a_positioned_message() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bad-bundles");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/bad-bundles")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 119, "the corpus shrank to {}", files.len());
    let p = Project::new();
    let mut report = String::new();
    let mut unpositioned = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let bundle = if name.ends_with(".json") {
            "bundle.json"
        } else {
            "bundle.toml"
        };
        std::fs::copy(file, p.file(bundle)).unwrap();
        let out = Command::new(teamster_bin())
            .args(["check", bundle])
            .current_dir(p.path())
            .output()
            .unwrap();
        std::fs::remove_file(p.file(bundle)).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {bundle}")),
            "{name}: {stderr}"
        );
        if !stderr.starts_with(&format!("error: {bundle}:")) && !WHOLE_FILE.contains(&name.as_str())
        {
            unpositioned.push(name.clone());
        }
        report.push_str(&format!("{name}\n  {}\n", stderr.replace('\n', "\n  ")));
    }
    insta::assert_snapshot!("bad_bundles", report);
    assert!(
        unpositioned.is_empty(),
        "no line:column for {unpositioned:?}"
    );
}
