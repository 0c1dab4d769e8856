//! Bad bundle files, as users write them: each is refused by `teamster check` with exit
//! code 3 and a message that names where, and every message is snapshotted, so a change in
//! any of them is seen in review. Add a file to `tests/data/bad-bundles/` to grow it.

use std::process::Command;

use crate::fixture::{Project, teamster_bin};

#[test]
fn every_bad_bundle_is_refused_at_check_with_a_positioned_message() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bad-bundles");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/bad-bundles")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 80, "the corpus shrank to {}", files.len());
    let p = Project::new();
    let mut report = String::new();
    let mut unpositioned = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::copy(file, p.file("bundle.toml")).unwrap();
        let out = Command::new(teamster_bin())
            .args(["check", "bundle.toml"])
            .current_dir(p.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.starts_with("error: bundle.toml"), "{name}: {stderr}");
        if !stderr.starts_with("error: bundle.toml:") {
            unpositioned.push(name.clone());
        }
        report.push_str(&format!("{name}\n  {}\n", stderr.replace('\n', "\n  ")));
    }
    insta::assert_snapshot!("bad_bundles", report);
    // Only errors about the file as a whole may lack a line and column.
    assert!(
        unpositioned.is_empty(),
        "no line:column for {unpositioned:?}"
    );
}
