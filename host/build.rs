//! Link settings for the `teamster` binary, and the plugin SDK it carries for
//! `teamster plugin new`.
//!
//! The binary is exec'd once per service (as its supervisor), so its start-up cost is paid
//! by every service of every bundle. Most of that cost is the dynamic loader applying
//! tens of thousands of relative relocations; packing them (`DT_RELR`, glibc ≥ 2.36) makes
//! the table a hundred times smaller and its processing correspondingly cheaper.
//!
//! A scaffolded plugin must build on a machine that has only the binary, so the binary
//! embeds the SDK crate (`plugin-sdk/`), the WIT it is generated from (`wit/`) and the
//! workspace's locked versions of the SDK's dependencies, all read here at build time so
//! that they cannot drift from the checkout the binary was built from.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ is inside the workspace");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    embed_sdk(root, &out_dir);
}

/// Writes `$OUT_DIR/scaffold_sdk.rs`: the SDK's and the WIT's files as they go into a
/// scaffold (`sdk/…`, `wit/…`), and the `Cargo.lock` packages the SDK depends on.
fn embed_sdk(root: &Path, out_dir: &Path) {
    for watched in ["plugin-sdk", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let sdk_dir = root.join("plugin-sdk");
    let manifest = standalone_manifest(root, &sdk_dir);
    let manifest_path = out_dir.join("scaffold-sdk-Cargo.toml");
    std::fs::write(&manifest_path, manifest).expect("OUT_DIR is writable");

    let mut files: Vec<(String, PathBuf)> = vec![("sdk/Cargo.toml".into(), manifest_path)];
    for (dir, prefix) in [(&sdk_dir, "sdk"), (&root.join("wit"), "wit")] {
        for path in files_under(dir) {
            let relative = path.strip_prefix(dir).expect("under dir");
            if relative == Path::new("Cargo.toml") {
                continue;
            }
            files.push((format!("{prefix}/{}", relative.display()), path));
        }
    }

    let lock_text = std::fs::read_to_string(root.join("Cargo.lock")).expect("read Cargo.lock");
    let pruned = Lock::parse(&lock_text).pruned_for_scaffold();
    let template = root.join("host/src/plugin/scaffold/Cargo.toml.in");
    println!("cargo:rerun-if-changed={}", template.display());
    let template = std::fs::read_to_string(&template).expect("read the scaffold's manifest");
    let lock = match tidied(&pruned, &template, &files, out_dir) {
        Ok(tidied) => Lock::parse(&tidied),
        Err(why) => {
            println!(
                "cargo:warning=the scaffold's Cargo.lock is the workspace's, untidied ({why}); \
                 cargo tidies it on a new crate's first build"
            );
            Lock::parse(&pruned)
        }
    };
    let root_block = lock.named(PROBE);

    let mut code = String::new();
    code.push_str("/// The SDK crate and the WIT, relative to the scaffold's root.\n");
    code.push_str("pub(super) const SDK_FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n\n");
    code.push_str("/// The head of the workspace's `Cargo.lock` (its format version).\n");
    writeln!(
        code,
        "pub(super) const LOCK_HEADER: &str = {:?};\n",
        lock.header
    )
    .unwrap();
    code.push_str(
        "/// The `Cargo.lock` packages of the SDK and everything it depends on, at the \
         workspace's versions: (name, package text).\n",
    );
    code.push_str("pub(super) const LOCK_PACKAGES: &[(&str, &str)] = &[\n");
    for block in lock.blocks.iter().filter(|b| b.name != PROBE) {
        writeln!(code, "    ({:?}, {:?}),", block.name, block.text).unwrap();
    }
    code.push_str("];\n\n");
    code.push_str("/// The new crate's own package, named [`LOCK_ROOT_NAME`].\n");
    writeln!(
        code,
        "pub(super) const LOCK_ROOT: &str = {:?};",
        root_block.text
    )
    .unwrap();
    writeln!(code, "pub(super) const LOCK_ROOT_NAME: &str = {PROBE:?};").unwrap();
    std::fs::write(out_dir.join("scaffold_sdk.rs"), code).expect("OUT_DIR is writable");
}

/// The name of the stand-in crate whose lock file becomes every scaffold's.
const PROBE: &str = "teamster-scaffold-probe";

/// The lock file cargo writes for a scaffold: a stand-in crate (the scaffold's manifest,
/// the SDK, the WIT) with `pruned` as its lock, resolved by `cargo metadata --offline`,
/// which keeps every locked version and drops what only the workspace's other crates'
/// features pulled in. A new crate's first build then changes nothing.
fn tidied(
    pruned: &str,
    template: &str,
    files: &[(String, PathBuf)],
    out_dir: &Path,
) -> Result<String, String> {
    let probe = out_dir.join("scaffold-probe");
    let _ = std::fs::remove_dir_all(&probe);
    let write = |relative: &str, bytes: &[u8]| -> Result<(), String> {
        let path = probe.join(relative);
        std::fs::create_dir_all(path.parent().expect("inside the probe"))
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let manifest = template
        .replace("NAME", PROBE)
        .replace("SDK_DEP", "{ path = \"sdk\" }");
    write("Cargo.toml", manifest.as_bytes())?;
    write("src/lib.rs", b"")?;
    write("Cargo.lock", pruned.as_bytes())?;
    for (relative, source) in files {
        let bytes = std::fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
        write(relative, &bytes)?;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(probe.join("Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR")
        .stdout(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    std::fs::read_to_string(probe.join("Cargo.lock")).map_err(|e| e.to_string())
}

/// Every file under `dir` but build output and hidden files, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("read directory entry");
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The SDK's manifest with everything it inherits from the workspace written out, so the
/// crate builds on its own.
fn standalone_manifest(root: &Path, sdk_dir: &Path) -> String {
    let read = |path: PathBuf| -> toml::Table {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        text.parse()
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
    };
    let mut sdk = read(sdk_dir.join("Cargo.toml"));
    let workspace = read(root.join("Cargo.toml"));
    let workspace = workspace
        .get("workspace")
        .and_then(|w| w.as_table())
        .cloned()
        .unwrap_or_default();
    let section = |key: &str| -> toml::Table {
        workspace
            .get(key)
            .and_then(|v| v.as_table())
            .cloned()
            .unwrap_or_default()
    };
    let inherited = |value: &toml::Value| {
        value
            .as_table()
            .and_then(|t| t.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true)
    };

    if let Some(package) = sdk.get_mut("package").and_then(|p| p.as_table_mut()) {
        let from = section("package");
        for (key, value) in package.iter_mut() {
            if inherited(value) {
                *value = from
                    .get(key)
                    .unwrap_or_else(|| panic!("the workspace does not define package.{key}"))
                    .clone();
            }
        }
        package.insert("publish".into(), toml::Value::Boolean(false));
    }
    if sdk.get("lints").is_some_and(inherited) {
        sdk.insert("lints".into(), toml::Value::Table(section("lints")));
    }
    let from = section("dependencies");
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = sdk.get_mut(key).and_then(|d| d.as_table_mut()) else {
            continue;
        };
        for (name, dep) in deps.iter_mut() {
            if inherited(dep) {
                let mut resolved = match from.get(name) {
                    Some(toml::Value::String(version)) => {
                        let mut t = toml::Table::new();
                        t.insert("version".into(), toml::Value::String(version.clone()));
                        t
                    }
                    Some(toml::Value::Table(t)) => t.clone(),
                    _ => panic!("the workspace does not define dependency `{name}`"),
                };
                for (k, v) in dep.as_table().expect("checked").iter() {
                    if k == "features" {
                        let mut features = resolved
                            .get("features")
                            .and_then(|f| f.as_array())
                            .cloned()
                            .unwrap_or_default();
                        features.extend(v.as_array().cloned().unwrap_or_default());
                        resolved.insert("features".into(), toml::Value::Array(features));
                    } else if k != "workspace" {
                        resolved.insert(k.clone(), v.clone());
                    }
                }
                *dep = toml::Value::Table(resolved);
            }
            if dep.as_table().is_some_and(|t| t.contains_key("path")) {
                panic!(
                    "the plugin SDK's dependency `{name}` is a path dependency, which \
                     `teamster plugin new` cannot vendor"
                );
            }
        }
    }
    format!(
        "# The teamster plugin SDK, written here by `teamster plugin new` from the sources the\n\
         # `teamster` binary carries (the SDK of that very release, with the WIT in ../wit).\n\
         # Replace this directory with a newer `teamster plugin new`'s to upgrade.\n\n{}",
        toml::to_string(&sdk).expect("a manifest serializes")
    )
}

/// The `[[package]]` blocks of a `Cargo.lock`, kept as written.
struct Lock {
    header: String,
    blocks: Vec<Block>,
}

struct Block {
    name: String,
    version: String,
    /// As the lock writes them: `name`, `name version` or `name version (source)`.
    dependencies: Vec<String>,
    text: String,
}

impl Lock {
    fn parse(text: &str) -> Lock {
        let mut parts = text.split("\n[[package]]\n");
        let header = format!("{}\n", parts.next().unwrap_or_default().trim_end());
        let blocks = parts
            .map(|part| {
                let body = part.trim_end();
                let field = |key: &str| {
                    body.lines()
                        .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_default()
                        .to_string()
                };
                let mut dependencies = Vec::new();
                let mut in_deps = false;
                for line in body.lines() {
                    if line.starts_with("dependencies = [") {
                        in_deps = true;
                    } else if in_deps && line.starts_with(']') {
                        in_deps = false;
                    } else if in_deps {
                        let dep = line.trim().trim_end_matches(',').trim_matches('"');
                        dependencies.push(dep.to_string());
                    }
                }
                Block {
                    name: field("name"),
                    version: field("version"),
                    dependencies,
                    text: format!("[[package]]\n{body}"),
                }
            })
            .collect();
        Lock { header, blocks }
    }

    /// The lock of a scaffold before cargo tidies it: the SDK's packages and the probe's,
    /// which depends on what the scaffold's manifest names.
    fn pruned_for_scaffold(&self) -> String {
        let sdk = self.named("teamster-plugin-sdk");
        // The same names the SDK's own entry uses for them (`serde` or `serde 1.0.x`).
        let mut deps: Vec<String> = ["serde", "serde_json"]
            .iter()
            .map(|name| {
                sdk.dependencies
                    .iter()
                    .find(|d| d.split(' ').next() == Some(*name))
                    .unwrap_or_else(|| panic!("the SDK no longer depends on `{name}`"))
                    .clone()
            })
            .collect();
        deps.push("teamster-plugin-sdk".into());
        let mut probe =
            format!("[[package]]\nname = \"{PROBE}\"\nversion = \"0.1.0\"\ndependencies = [\n");
        for dep in deps {
            writeln!(probe, " \"{dep}\",").unwrap();
        }
        probe.push(']');
        let mut blocks: Vec<(&str, &str)> = self
            .closure("teamster-plugin-sdk")
            .into_iter()
            .map(|b| (b.name.as_str(), b.text.as_str()))
            .collect();
        blocks.push((PROBE, &probe));
        blocks.sort_by_key(|(name, _)| *name);
        let texts: Vec<&str> = blocks.into_iter().map(|(_, text)| text).collect();
        format!("{}\n{}\n", self.header, texts.join("\n\n"))
    }

    fn named(&self, name: &str) -> &Block {
        self.blocks
            .iter()
            .find(|b| b.name == name)
            .unwrap_or_else(|| panic!("Cargo.lock has no package `{name}`"))
    }

    /// The index of the package a dependency entry names.
    fn find(&self, dep: &str) -> usize {
        let mut words = dep.split(' ');
        let name = words.next().unwrap_or_default();
        let version = words.next();
        self.blocks
            .iter()
            .position(|b| b.name == name && version.is_none_or(|v| v == b.version))
            .unwrap_or_else(|| panic!("Cargo.lock has no package for `{dep}`"))
    }

    /// `root` and every package it depends on, in the lock's order.
    fn closure(&self, root: &str) -> Vec<&Block> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.find(root)];
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(self.blocks[i].dependencies.iter().map(|d| self.find(d)));
            }
        }
        seen.into_iter().map(|i| &self.blocks[i]).collect()
    }
}
