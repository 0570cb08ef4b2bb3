//! The on-disk compiled-image cache.
//!
//! An entry is named by the SHA-256 of the wasm bytes and a hash of the
//! engine's compatibility settings, so a wasmtime upgrade or a changed
//! `Config` never loads a stale artifact. Entries are written to a temporary
//! file and renamed, so a crash leaves either a whole entry or none.
//!
//! An entry is native code this process runs without further checks, so
//! the directory and every entry loaded must be this user's alone: on Unix,
//! owned by the process's effective uid and neither group- nor
//! world-writable, or the cache is refused. The directory is created 0700
//! and entries 0600. On other platforms (Windows: ACLs) this check is not
//! done; the cache directory's own permissions are all that protect it.

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
        create_private_dir(dir).map_err(|source| EngineError::Cache { path: dir.to_owned(), source })?;
        check_private(dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir: dir.to_owned(), engine_tag: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex::encode(digest), self.engine_tag))
    }

    /// A cached component, or `None` when absent or unusable (then the
    /// caller recompiles and overwrites the entry).
    /// `Err` when the entry exists but another user could have written it.
    pub(super) fn get_component(&self, engine: &Engine, digest: &[u8; 32]) -> Result<Option<Component>, EngineError> {
        let path = self.path(digest);
        if !path.exists() {
            return Ok(None);
        }
        check_private(&path)?;
        // SAFETY: entries are only ever written by `put` from this engine's
        // own `precompile_*` output, keyed by the engine's compatibility hash,
        // into a directory only this user can write (checked above and in
        // `open`); wasmtime additionally checks the header and refuses a
        // mismatch.
        Ok(unsafe { Component::deserialize_file(engine, &path) }.ok())
    }

    /// A cached core module; see [`Self::get_component`].
    pub(super) fn get_module(&self, engine: &Engine, digest: &[u8; 32]) -> Result<Option<Module>, EngineError> {
        let path = self.path(digest);
        if !path.exists() {
            return Ok(None);
        }
        check_private(&path)?;
        // SAFETY: as in `get_component`.
        Ok(unsafe { Module::deserialize_file(engine, &path) }.ok())
    }

    pub(super) fn put(&self, digest: &[u8; 32], artifact: &[u8]) -> Result<(), EngineError> {
        let path = self.path(digest);
        crate::store::write_atomic(&path, artifact).map_err(|source| EngineError::Cache { path, source })
    }
}

/// Creates `dir` (and missing parents, with the umask's permissions) with
/// the cache directory itself its owner's alone; an existing directory is
/// left as it is, for [`check_private`] to judge.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        // Another process made it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Refuses `path` (the cache directory or an entry; links followed, as
/// loading follows them) when a user other than this process's could write
/// it.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|source| EngineError::Cache { path: path.to_owned(), source })?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    writable_by_others(path, meta.mode(), meta.uid(), euid)
}

/// Not checked off Unix (see the module documentation).
#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), EngineError> {
    Ok(())
}

/// The verdict on a path with Unix `mode` owned by `owner`, for a process
/// whose effective uid is `euid`.
#[cfg(unix)]
fn writable_by_others(path: &Path, mode: u32, owner: u32, euid: u32) -> Result<(), EngineError> {
    if owner != euid {
        return Err(EngineError::CacheNotOwned { path: path.to_owned(), owner, euid });
    }
    if mode & 0o022 != 0 {
        return Err(EngineError::CacheWritableByOthers { path: path.to_owned(), mode: mode & 0o7777 });
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const MODULE: &str = "(module (func (export \"_start\")))";

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_cache_directory_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/compile-cache");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert!(check_private(&dir).is_ok());
        // An existing directory is left as it is.
        chmod(&dir, 0o755);
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o755);
    }

    #[test]
    fn a_path_others_can_write_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        for bad in [0o777, 0o775, 0o757, 0o1777] {
            chmod(&dir, bad);
            match check_private(&dir) {
                Err(e @ EngineError::CacheWritableByOthers { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(&dir.display().to_string()) && text.contains(&format!("{bad:04o}")), "{text}");
                }
                other => panic!("mode {bad:o}: {other:?}"),
            }
        }
        // Others may read and enter it; only writing matters.
        chmod(&dir, 0o755);
        assert!(check_private(&dir).is_ok());
    }

    /// The cache checks its directory when it opens and each entry before
    /// loading it (one engine for all: tests that create engines side by
    /// side change each other's allocation plans).
    #[test]
    fn the_cache_refuses_a_directory_or_entry_others_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let dir = tmp.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o777);
        assert!(matches!(CompileCache::open(&dir, &engine), Err(EngineError::CacheWritableByOthers { .. })));
        chmod(&dir, 0o700);
        let cache = CompileCache::open(&dir, &engine).unwrap();
        let digest = [7; 32];
        cache.put(&digest, &engine.precompile_module(MODULE.as_bytes()).unwrap()).unwrap();
        let entry = cache.path(&digest);
        assert_eq!(mode(&entry), 0o600);
        assert!(cache.get_module(&engine, &digest).unwrap().is_some());
        chmod(&entry, 0o666);
        let err = cache.get_module(&engine, &digest).map(|_| ()).unwrap_err();
        assert!(matches!(&err, EngineError::CacheWritableByOthers { path, mode: 0o666 } if *path == entry), "{err}");
        chmod(&entry, 0o620);
        assert!(cache.get_component(&engine, &digest).is_err());
        chmod(&entry, 0o644);
        assert!(cache.get_module(&engine, &digest).unwrap().is_some());
    }

    #[test]
    fn a_path_owned_by_another_user_is_refused() {
        let path = Path::new("/cache");
        assert!(writable_by_others(path, 0o700, 1000, 1000).is_ok());
        let err = writable_by_others(path, 0o700, 0, 1000).unwrap_err();
        assert!(matches!(err, EngineError::CacheNotOwned { owner: 0, euid: 1000, .. }));
        assert_eq!(err.to_string(), "compiled-image cache at /cache is owned by uid 0, not by this process's uid 1000: refusing to load native code from it");
    }
}
