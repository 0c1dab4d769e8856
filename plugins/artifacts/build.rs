//! Builds the plugin crates for `wasm32-wasip2` and generates constants that embed them.
//!
//! The nested cargo gets its own target directory under `OUT_DIR`: sharing the outer one
//! would deadlock on its build lock. Variables the outer cargo sets for *this* build
//! (wrappers such as clippy-driver, flags meant for the host target) are removed so they do
//! not leak into the wasm build.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// First-party kinds: (kind name, crate name).
const BUILTIN: &[(&str, &str)] = &[
    ("generic", "teamster-plugin-generic"),
    ("postgres", "teamster-plugin-postgres"),
    ("redis", "teamster-plugin-redis"),
    ("django", "teamster-plugin-django"),
    ("smtp-sink", "teamster-plugin-smtp-sink"),
    ("chromedriver", "teamster-plugin-chromedriver"),
    ("celery", "teamster-plugin-celery"),
];

/// Test plugins: (constant name, short name, crate name).
const TESTING: &[(&str, &str, &str)] = &[
    ("MISBEHAVE", "misbehave", "teamster-test-plugin-misbehave"),
    ("SOCKETS", "sockets", "teamster-test-plugin-sockets"),
    (
        "WRONG_VERSION",
        "wrong-version",
        "teamster-test-plugin-wrong-version",
    ),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let testing = env::var_os("CARGO_FEATURE_TESTING").is_some();

    for dir in [
        "wit",
        "plugin-sdk",
        "plugins/generic",
        "plugins/postgres",
        "plugins/redis",
        "plugins/django",
        "plugins/smtp-sink",
        "plugins/chromedriver",
        "plugins/celery",
        "plugins/testing",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let mut crates: Vec<&str> = BUILTIN.iter().map(|(_, krate)| *krate).collect();
    if testing {
        crates.extend(TESTING.iter().map(|(_, _, krate)| *krate));
    }

    let target_dir = out_dir.join("wasm-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for krate in &crates {
        cmd.arg("-p").arg(krate);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    // Optimised for speed, with wasm SIMD: `ready-check` runs for every log line until a
    // service is ready, and SIMD turns the substring search of `Needle` (memchr) from the
    // largest part of such a call into a small one. Size grows by a few percent.
    cmd.env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            "-Ctarget-feature=+simd128",
        )
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");

    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    if !status.success() {
        panic!(
            "building the plugins for {TARGET} failed ({status}); if the target is missing, run \
             `rustup target add {TARGET}`"
        );
    }

    let release = target_dir.join(TARGET).join("release");
    let mut code = String::new();
    code.push_str("/// The first-party plugins: always available as built-in kinds.\n");
    code.push_str("pub const BUILTIN: &[Artifact] = &[\n");
    for (name, krate) in BUILTIN {
        let path = copy_artifact(&release, krate, &out_dir);
        writeln!(code, "    {},", artifact_literal(name, &path)).unwrap();
    }
    code.push_str("];\n\n");
    code.push_str(
        "/// Where the nested cargo build keeps its `wasm32-wasip2` artifacts and dependencies.\n",
    );
    writeln!(
        code,
        "pub const WASM_TARGET_DIR: &str = {:?};\n",
        target_dir.display().to_string()
    )
    .unwrap();
    if testing {
        code.push_str("/// Misbehaving plugins for the host's tests.\npub mod testing {\n    use super::Artifact;\n");
        for (konst, name, krate) in TESTING {
            let path = copy_artifact(&release, krate, &out_dir);
            writeln!(
                code,
                "    /// The `{name}` test plugin.\n    pub const {konst}: Artifact = {};",
                artifact_literal(name, &path)
            )
            .unwrap();
        }
        code.push_str("}\n");
    }
    std::fs::write(out_dir.join("artifacts.rs"), code).expect("OUT_DIR is writable");
}

/// Copies a built component next to the generated code, so the constants never point into
/// a target directory that a later nested build rewrites.
fn copy_artifact(release: &Path, krate: &str, out_dir: &Path) -> PathBuf {
    let file = format!("{}.wasm", krate.replace('-', "_"));
    let from = release.join(&file);
    let to = out_dir.join(&file);
    std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
    to
}

fn artifact_literal(name: &str, path: &Path) -> String {
    use sha2::Digest;
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let sha256: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = path.display().to_string();
    format!(
        "Artifact {{ name: {name:?}, path: {path:?}, bytes: include_bytes!({path:?}), sha256: {sha256:?} }}"
    )
}
