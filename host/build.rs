//! Link settings for the `teamster` binary.
//!
//! The binary is exec'd once per service (as its supervisor), so its start-up cost is paid
//! by every service of every bundle. Most of that cost is the dynamic loader applying
//! tens of thousands of relative relocations; packing them (`DT_RELR`, glibc ≥ 2.36) makes
//! the table a hundred times smaller and its processing correspondingly cheaper.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
