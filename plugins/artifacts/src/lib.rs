//! teamster's first-party plugins, compiled to WebAssembly components and embedded.
//!
//! The build script compiles the plugin crates of this workspace for `wasm32-wasip2` with a
//! cargo invocation of its own (its own target directory under `OUT_DIR`, so it never waits
//! on the outer build's lock). The host embeds [`BUILTIN`], so first-party kinds work after a
//! plain `cargo build`, with no install step. With the `testing` feature, the misbehaving
//! plugins of `plugins/testing/` are built the same way for the host's tests.

/// One compiled plugin component.
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    /// The kind's name (`generic`) or, for test plugins, the crate's short name.
    pub name: &'static str,
    /// Where the `.wasm` file is, for tests that install from a path.
    pub path: &'static str,
    /// The component itself.
    pub bytes: &'static [u8],
    /// The sha256 of `bytes`, in hex.
    pub sha256: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
