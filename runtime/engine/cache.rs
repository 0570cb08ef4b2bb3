//! The on-disk compiled-image cache.
//!
//! An entry is named by the SHA-256 of the wasm bytes and the engine's tag
//! ([`engine_tag`]: target, settings, wasmpod and wasmtime versions).
//! wasmtime checks each artifact as it loads it and refuses one made for
//! another target or configuration; a refused entry is recompiled (in a
//! build without a compiler, reported). Entries are written to a temporary
//! file and renamed, so a crash leaves either a whole entry or none.
//!
//! An entry is native code this process runs without further checks, so
//! the directory and every entry loaded must be this user's alone: on Unix,
//! owned by the process's effective uid and neither group- nor
//! world-writable, or the cache is refused. The directory is created 0700
//! and entries 0600. On other platforms (Windows: ACLs) this check is not
//! done; the cache directory's own permissions are all that protect it.

use std::path::{Path, PathBuf};

use sha2::Digest;

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::EngineError;

pub(super) struct CompileCache {
    dir: PathBuf,
    engine_tag: String,
}

/// What the cache holds for an image.
pub(super) enum Cached<T> {
    /// A usable entry.
    Hit(T),
    /// No entry.
    Missing,
    /// An entry wasmtime refused (another wasmtime, another configuration,
    /// a damaged file), with its reason.
    Unusable(wasmtime::Error),
}

impl CompileCache {
    /// The cache in `dir` of the engine whose [`engine_tag`] is `engine_tag`.
    pub(super) fn open(dir: &Path, engine_tag: String) -> Result<Self, EngineError> {
        prepare_dir(dir)?;
        Ok(Self { dir: dir.to_owned(), engine_tag })
    }

    /// The cache directory.
    #[cfg(not(feature = "compiler"))]
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(entry_name(digest, &self.engine_tag))
    }

    /// A cached component. `Err` when the entry exists but another user
    /// could have written it.
    pub(super) fn get_component(&self, engine: &Engine, digest: &[u8; 32]) -> Result<Cached<Component>, EngineError> {
        let path = self.path(digest);
        if !path.exists() {
            return Ok(Cached::Missing);
        }
        check_private(&path)?;
        // SAFETY: entries are written by `put`, from an engine configured as
        // this one is (the tag in the name says so), or by `wasmpod compile`
        // for this target, into a directory only this user can write
        // (checked above and in `open`); wasmtime additionally checks the
        // header, target, tunables and features and refuses a mismatch.
        Ok(match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Cached::Hit(c),
            Err(e) => Cached::Unusable(e),
        })
    }

    /// A cached core module; see [`Self::get_component`].
    pub(super) fn get_module(&self, engine: &Engine, digest: &[u8; 32]) -> Result<Cached<Module>, EngineError> {
        let path = self.path(digest);
        if !path.exists() {
            return Ok(Cached::Missing);
        }
        check_private(&path)?;
        // SAFETY: as in `get_component`.
        Ok(match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(m) => Cached::Hit(m),
            Err(e) => Cached::Unusable(e),
        })
    }

    #[cfg(feature = "compiler")]
    pub(super) fn put(&self, digest: &[u8; 32], artifact: &[u8]) -> Result<(), EngineError> {
        let path = self.path(digest);
        crate::store::write_atomic(&path, artifact).map_err(|source| EngineError::Cache { path, source })
    }
}

/// The file name of the entry for the image with SHA-256 `digest`,
/// compiled by an engine whose [`engine_tag`] is `tag`.
pub(super) fn entry_name(digest: &[u8; 32], tag: &str) -> String {
    format!("{}-{tag}.cwasm", hex::encode(digest))
}

/// What names an engine's artifacts: the wasmtime target they are code for
/// (a native triple, or `pulley32`/`pulley64` for the interpreter) and the
/// settings of wasmpod's engine configuration that change the code or its
/// checks (copy-on-write images), under this wasmpod and wasmtime version.
///
/// It is the same on every host that can run the artifact: `wasmpod
/// compile --target` on an x86_64 machine names the entries that a build
/// without a compiler on a 32-bit device looks for. wasmtime's own
/// compatibility hash cannot serve: a build without a compiler lacks it,
/// and it hashes the host's `usize`. A stale or foreign entry under a
/// matching name is still refused: wasmtime checks every artifact's
/// target, tunables and features when it loads it.
pub(super) fn engine_tag(target: &str, copy_on_write: bool) -> String {
    let key = format!(
        "wasmpod {}; wasmtime {}; target {target}; copy-on-write {copy_on_write}; epoch interruption",
        env!("CARGO_PKG_VERSION"),
        env!("WASMPOD_WASMTIME_VERSION")
    );
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

/// Creates the cache directory `dir` (owner-only) or checks that an
/// existing one is this user's alone.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), EngineError> {
    create_private_dir(dir).map_err(|source| EngineError::Cache { path: dir.to_owned(), source })?;
    check_private(dir)
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
    let builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    let builder = {
        let mut b = builder;
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b
    };
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

#[cfg(all(test, unix, feature = "compiler"))]
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
        assert!(matches!(CompileCache::open(&dir, engine_tag("test", true)), Err(EngineError::CacheWritableByOthers { .. })));
        chmod(&dir, 0o700);
        let cache = CompileCache::open(&dir, engine_tag("test", true)).unwrap();
        let digest = [7; 32];
        cache.put(&digest, &engine.precompile_module(MODULE.as_bytes()).unwrap()).unwrap();
        let entry = cache.path(&digest);
        assert_eq!(mode(&entry), 0o600);
        assert!(matches!(cache.get_module(&engine, &digest).unwrap(), Cached::Hit(_)));
        chmod(&entry, 0o666);
        let err = cache.get_module(&engine, &digest).map(|_| ()).unwrap_err();
        assert!(matches!(&err, EngineError::CacheWritableByOthers { path, mode: 0o666 } if *path == entry), "{err}");
        chmod(&entry, 0o620);
        assert!(cache.get_component(&engine, &digest).is_err());
        chmod(&entry, 0o644);
        assert!(matches!(cache.get_module(&engine, &digest).unwrap(), Cached::Hit(_)));
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
