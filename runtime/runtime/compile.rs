//! `wasmpod compile`: images compiled ahead of time for another machine,
//! whose build of wasmpod has no compiler (see [`crate::engine`]).

use std::path::{Path, PathBuf};

use crate::engine::CrossCompiler;
use crate::image::{Alias, ImageError, ImageResolver};

use super::Error;

/// Compiles images for one target machine.
pub struct ImageCompiler {
    compiler: CrossCompiler,
    images: ImageResolver,
}

/// What [`ImageCompiler::compile_into`] wrote.
#[derive(Debug)]
#[non_exhaustive]
pub struct CompiledImage {
    /// The cache entry written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// What the image resolved to (`builtin toolbox`, a path).
    pub description: String,
    /// The entry was there already (the same bytes, compiled by this
    /// version for this target, under another name or by an earlier run)
    /// and was kept as it was.
    pub reused: bool,
}

impl ImageCompiler {
    /// A compiler for the machine with target triple `triple` (e.g.
    /// `armv7-unknown-linux-gnueabihf`); image names resolve through
    /// `aliases`, then the builtin table, as the runtime resolves them.
    pub fn new(triple: &str, aliases: Vec<Alias>) -> Result<Self, Error> {
        Ok(Self { compiler: CrossCompiler::new(triple)?, images: ImageResolver::new(aliases) })
    }

    /// The wasmtime target the code is for (the triple, or `pulley32`/
    /// `pulley64` where the target runs wasmtime's interpreter).
    pub fn target(&self) -> &str {
        self.compiler.target()
    }

    /// Compiles `image` (a relative path taken from `base_dir`) and writes
    /// it into `out_dir`, the target's compiled-image cache directory (its
    /// `<state dir>/cache/compiled`), created owner-only if missing. An
    /// entry already there for the same bytes is kept (entries are written
    /// whole, and named by the bytes' digest, the target and the versions).
    pub fn compile_into(&self, image: &str, base_dir: &Path, out_dir: &Path) -> Result<CompiledImage, Error> {
        let resolved = self.images.resolve(image, base_dir).map_err(|e: ImageError| Error::BadRequest(format!("{e}")))?;
        crate::engine::create_cache_dir(out_dir)?;
        let existing = out_dir.join(self.compiler.file_name(&resolved.bytes));
        if let Some(meta) = std::fs::metadata(&existing).ok().filter(|m| m.is_file() && m.len() > 0) {
            return Ok(CompiledImage { path: existing, size: meta.len(), description: resolved.description, reused: true });
        }
        let compiled = self.compiler.compile(image, &resolved.bytes)?;
        let path = out_dir.join(&compiled.file_name);
        crate::store::write_atomic(&path, &compiled.artifact).map_err(|source| crate::EngineError::Cache { path: path.clone(), source })?;
        Ok(CompiledImage { path, size: compiled.artifact.len() as u64, description: resolved.description, reused: false })
    }
}
