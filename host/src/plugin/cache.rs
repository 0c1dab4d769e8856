//! The on-disk cache of compiled components.
//!
//! Compiling a plugin with Cranelift takes a second or more; loading the compiled artifact
//! takes microseconds (it is mapped, not parsed). Entries are keyed by the component's
//! sha256 *and* a hash of everything in the engine that affects compiled code (wasmtime
//! version, target, settings), so an upgraded teamster never loads stale machine code.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::{EngineError, PluginError};

/// A directory of compiled components, private to this user.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

/// Whether a load found the component compiled already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheOutcome {
    Hit,
    Compiled,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the compiled form of `bytes` (whose hash is `sha256`), compiling and storing it
    /// on a miss.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
        origin: &str,
    ) -> Result<(Component, CacheOutcome), PluginError> {
        let entry = self.entry(sha256);
        if entry.is_file() {
            // SAFETY: `deserialize_file` trusts its input to be wasmtime's own output. Only
            // this code writes into the cache directory (created 0700 below), always via an
            // atomic rename of a complete `Component::serialize` result, under a name that
            // includes the engine's compatibility hash. Wasmtime still checks the header and
            // refuses artifacts from another engine configuration.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                // A damaged or foreign entry is not fatal: recompile and overwrite it.
                Err(_) => {
                    let _ = std::fs::remove_file(&entry);
                }
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| PluginError::Compile {
            origin: origin.to_string(),
            source: EngineError(e),
        })?;
        self.store(&component, &entry)?;
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, component: &Component, entry: &Path) -> Result<(), PluginError> {
        let cache_err = |path: &Path, source| PluginError::Cache {
            path: path.to_path_buf(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| cache_err(&self.dir, e))?;
        let serialized = component
            .serialize()
            .map_err(|e| cache_err(entry, std::io::Error::other(EngineError(e).to_string())))?;
        // Concurrent processes may compile the same plugin; each writes its own temporary
        // file and the last rename wins with identical content.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = entry.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, serialized).map_err(|e| cache_err(&tmp, e))?;
        std::fs::rename(&tmp, entry).map_err(|e| cache_err(entry, e))?;
        Ok(())
    }
}
