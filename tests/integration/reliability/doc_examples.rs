//! The error examples of `docs/bundle-format.md` are what the loader prints: each
//! positioned example (a line of a `text` block that starts with `bundle.toml:`) must be
//! the message `teamster check` gives for one of the files in `tests/data/doc-errors/`,
//! and each of those files must be shown in the doc. An example that ends with `…` stands
//! for every message that starts with the text before it.

use std::process::Command;

use crate::fixture::{Project, teamster_bin};

/// Every line of the doc's ```` ```text ```` blocks that starts with `bundle.toml:`.
fn documented_errors(doc: &str) -> Vec<String> {
    let mut examples = Vec::new();
    let mut in_text = false;
    for line in doc.lines() {
        match line.trim_end() {
            "```text" => in_text = true,
            "```" => in_text = false,
            l if in_text && l.starts_with("bundle.toml:") => examples.push(l.to_owned()),
            _ => {}
        }
    }
    examples
}

fn shows(example: &str, message: &str) -> bool {
    match example.strip_suffix('…') {
        Some(start) => message.starts_with(start),
        None => message == example,
    }
}

#[test]
fn the_error_examples_of_the_bundle_format_doc_are_what_check_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/bundle-format.md")).unwrap();
    let examples = documented_errors(&doc);
    assert!(
        examples.len() >= 10,
        "only {} examples found",
        examples.len()
    );
    let mut inputs: Vec<_> = std::fs::read_dir(root.join("tests/data/doc-errors"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    inputs.sort();
    let p = Project::new();
    let mut messages = Vec::new();
    for input in &inputs {
        std::fs::copy(input, p.file("bundle.toml")).unwrap();
        let out = Command::new(teamster_bin())
            .args(["check", "bundle.toml"])
            .current_dir(p.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
        assert_eq!(out.status.code(), Some(3), "{}: {stderr}", input.display());
        let message = stderr.strip_prefix("error: ").unwrap_or(&stderr).to_owned();
        messages.push((
            input.file_name().unwrap().to_string_lossy().into_owned(),
            message,
        ));
    }
    let stale: Vec<&String> = examples
        .iter()
        .filter(|e| !messages.iter().any(|(_, m)| shows(e, m)))
        .collect();
    assert!(
        stale.is_empty(),
        "documented errors that no input of tests/data/doc-errors/ produces (the doc went \
         stale, or an input is missing):\n{stale:#?}\nwhat the inputs produce:\n{messages:#?}"
    );
    let unshown: Vec<&(String, String)> = messages
        .iter()
        .filter(|(_, m)| !examples.iter().any(|e| shows(e, m)))
        .collect();
    assert!(
        unshown.is_empty(),
        "inputs the doc does not show: {unshown:#?}"
    );
}
