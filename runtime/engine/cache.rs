//! The on-disk compiled-image cache.
//!
//! An entry is named by the SHA-256 of the wasm bytes and a hash of the
//! engine's compatibility settings, so a wasmtime upgrade or a changed
//! `Config` never loads a stale artifact. Entries are written to a temporary
//! file and renamed, so a crash leaves either a whole entry or none.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::EngineError;

pub(super) struct CompileCache {
    dir: PathBuf,
    engine_tag: String,
}

impl CompileCache {
    pub(super) fn open(dir: &Path, engine: &Engine) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir).map_err(|source| EngineError::Cache { path: dir.to_owned(), source })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir: dir.to_owned(), engine_tag: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_tag))
    }

    /// A cached component, or `None` when absent or unusable (then the
    /// caller recompiles and overwrites the entry).
    pub(super) fn get_component(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: entries are only ever written by `put` from this engine's
        // own `precompile_*` output, keyed by the engine's compatibility hash;
        // wasmtime additionally checks the header and refuses a mismatch.
        unsafe { Component::deserialize_file(engine, &path) }.ok()
    }

    /// A cached core module; see [`Self::get_component`].
    pub(super) fn get_module(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Module> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: as in `get_component`.
        unsafe { Module::deserialize_file(engine, &path) }.ok()
    }

    pub(super) fn put(&self, digest: &[u8; 32], artifact: &[u8]) -> Result<(), EngineError> {
        let path = self.path(digest);
        crate::store::write_atomic(&path, artifact).map_err(|source| EngineError::Cache { path, source })
    }
}
