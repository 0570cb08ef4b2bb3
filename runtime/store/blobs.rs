//! Content-addressed blobs: what image pulls store, named by their digest.
//!
//! ```text
//! <state-dir>/images/
//!   blobs/sha256/<hex>     one blob, its SHA-256 being its name (0600)
//!   tmp/<pid>.<n>.part     a blob being written; renamed into blobs/ once
//!                          its size and digest were checked
//! ```
//!
//! A blob is written to `tmp/`, checked against the digest and size its
//! descriptor gave, fsynced, and only then renamed into place: a crash, a
//! kill or a lying server leaves at most a `.part` file (removed by the
//! next [`BlobStore::open`] once it is an hour old), never a blob whose
//! content differs from its name. Blobs are shared by every image and pod
//! of the state directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// A `.part` file older than this belongs to a writer that died.
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

static PART_SERIAL: AtomicU64 = AtomicU64::new(0);

/// A content digest, `sha256:` and 64 lowercase hex digits (the only
/// algorithm images use in practice, and the only one accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// What can go wrong with a blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Not `sha256:<64 hex digits>`.
    #[error("invalid digest {0:?}: expected sha256: and 64 lowercase hex digits")]
    InvalidDigest(String),
    /// More bytes than the descriptor announced, or than the limit.
    #[error("blob {digest} is larger than {limit} bytes")]
    TooLarge {
        /// The blob's expected digest.
        digest: Digest,
        /// The size it may not exceed.
        limit: u64,
    },
    /// The bytes' size is not the descriptor's.
    #[error("blob {digest} has {actual} bytes where {expected} were announced")]
    WrongSize {
        /// The blob's expected digest.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// The bytes hash to another digest.
    #[error("blob {expected} has digest {actual}: the content is not what was asked for")]
    WrongDigest {
        /// The descriptor's digest.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BlobError + 'a {
    move |source| BlobError::Io { action, path: path.to_owned(), source }
}

impl Digest {
    /// Parses `sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| BlobError::InvalidDigest(s.to_owned()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(BlobError::InvalidDigest(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    fn from_sha256(sum: [u8; 32]) -> Self {
        Self(format!("sha256:{}", hex::encode(sum)))
    }

    /// The 32 bytes of the SHA-256.
    pub fn sha256(&self) -> [u8; 32] {
        let mut out = [0; 32];
        hex::decode_to_slice(self.hex(), &mut out).expect("a parsed digest has 64 hex digits");
        out
    }

    /// The hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The whole digest, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The blobs of one state directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens (creating) `<root>/blobs` and `<root>/tmp`, and removes `.part`
    /// files a dead writer left.
    pub fn open(root: &Path) -> Result<Self, BlobError> {
        let store = Self { blobs: root.join("blobs").join("sha256"), tmp: root.join("tmp") };
        for dir in [&store.blobs, &store.tmp] {
            std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
        }
        if let Ok(entries) = std::fs::read_dir(&store.tmp) {
            for e in entries.flatten() {
                let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|age| age > ABANDONED_AFTER);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(store)
    }

    /// The directory of the blobs.
    pub fn dir(&self) -> &Path {
        &self.blobs
    }

    /// Where blob `digest` is (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Whether blob `digest` is stored.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Reads blob `digest` and checks it still hashes to its name (a disk
    /// can rot, and a user can edit files).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, BlobError> {
        let path = self.path(digest);
        let bytes = std::fs::read(&path).map_err(io_err("cannot read", &path))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(BlobError::WrongDigest { expected: digest.clone(), actual });
        }
        Ok(bytes)
    }

    /// Starts writing blob `digest` of `size` bytes (none: unknown), which
    /// may not exceed `limit` bytes.
    pub fn writer(&self, digest: Digest, size: Option<u64>, limit: u64) -> Result<BlobWriter, BlobError> {
        let serial = PART_SERIAL.fetch_add(1, Ordering::Relaxed);
        let part = self.tmp.join(format!("{}.{serial}.part", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&part).map_err(io_err("cannot create", &part))?;
        Ok(BlobWriter { file: Some(file), part, dest: self.path(&digest), check: BlobCheck::new(digest, size, limit) })
    }

    /// Stores `bytes` as a blob and returns its digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, BlobError> {
        self.put_as(Digest::of(bytes), bytes)
    }

    /// Stores `bytes`, whose digest the caller computed, as blob `digest`
    /// (the writer still checks it).
    pub fn put_as(&self, digest: Digest, bytes: &[u8]) -> Result<Digest, BlobError> {
        if !self.contains(&digest) {
            let mut w = self.writer(digest.clone(), Some(bytes.len() as u64), bytes.len() as u64)?;
            w.write(bytes)?;
            w.finish()?;
        }
        Ok(digest)
    }

    /// Every stored blob's digest and size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>, BlobError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.blobs).map_err(io_err("cannot list", &self.blobs))?.flatten() {
            let Some(d) = e.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok()) else { continue };
            out.push((d, e.metadata().map(|m| m.len()).unwrap_or(0)));
        }
        out.sort();
        Ok(out)
    }

    /// Removes blob `digest` (nothing if it is not there).
    pub fn remove(&self, digest: &Digest) -> Result<(), BlobError> {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BlobError::Io { action: "cannot remove", path, source: e }),
            _ => Ok(()),
        }
    }
}

/// The checks every fetched blob passes, whether it is stored or kept in
/// memory: no more bytes than announced (or than the limit) while it
/// streams, then exactly the announced size and the expected digest.
pub struct BlobCheck {
    digest: Digest,
    size: Option<u64>,
    limit: u64,
    written: u64,
    hasher: Sha256,
}

impl BlobCheck {
    /// Checks for blob `digest` of `size` bytes (none: unknown), at most
    /// `limit` bytes.
    pub fn new(digest: Digest, size: Option<u64>, limit: u64) -> Self {
        let limit = size.map_or(limit, |s| s.min(limit));
        Self { digest, size, limit, written: 0, hasher: Sha256::new() }
    }

    /// Counts and hashes `chunk`; fails as soon as the blob outgrows its size.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(BlobError::TooLarge { digest: self.digest.clone(), limit: self.limit });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Checks the size and the digest of everything counted.
    pub fn finish(&mut self) -> Result<Digest, BlobError> {
        if let Some(expected) = self.size.filter(|s| *s != self.written) {
            return Err(BlobError::WrongSize { digest: self.digest.clone(), expected, actual: self.written });
        }
        let actual = Digest::from_sha256(std::mem::take(&mut self.hasher).finalize().into());
        if actual != self.digest {
            return Err(BlobError::WrongDigest { expected: self.digest.clone(), actual });
        }
        Ok(actual)
    }
}

/// A blob being written: [`BlobWriter::finish`] checks and stores it;
/// dropped unfinished, its `.part` file is removed.
pub struct BlobWriter {
    file: Option<std::fs::File>,
    part: PathBuf,
    dest: PathBuf,
    check: BlobCheck,
}

impl BlobWriter {
    /// Appends `chunk`; fails as soon as the blob outgrows its size.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.check.update(chunk)?;
        let file = self.file.as_mut().expect("written before finish");
        file.write_all(chunk).map_err(io_err("cannot write", &self.part))
    }

    /// Checks size and digest, makes the blob durable and puts it in place.
    pub fn finish(mut self) -> Result<Digest, BlobError> {
        let digest = self.check.finish()?;
        let file = self.file.take().expect("finished once");
        file.sync_all().map_err(io_err("cannot sync", &self.part))?;
        drop(file);
        std::fs::rename(&self.part, &self.dest).map_err(io_err("cannot store", &self.dest))?;
        Ok(digest)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Unfinished, failed, or renamed already (then this finds nothing).
        self.file = None;
        let _ = std::fs::remove_file(&self.part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_of_64_lowercase_hex_digits() {
        let d = Digest::of(b"hello");
        assert_eq!(d.as_str(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        for bad in [
            "sha256:abc",
            "sha512:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "2cf24dba",
            "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
        ] {
            assert!(matches!(Digest::parse(bad), Err(BlobError::InvalidDigest(_))), "{bad}");
        }
    }

    #[test]
    fn a_blob_is_stored_only_when_its_size_and_digest_match() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let good = Digest::of(b"layer bytes");
        // A lying server: other bytes under the digest.
        let mut w = store.writer(good.clone(), Some(11), 1 << 20).unwrap();
        w.write(b"other bytes").unwrap();
        assert!(matches!(w.finish(), Err(BlobError::WrongDigest { .. })));
        // Truncated.
        let mut w = store.writer(good.clone(), Some(11), 1 << 20).unwrap();
        w.write(b"layer").unwrap();
        assert!(matches!(w.finish(), Err(BlobError::WrongSize { expected: 11, actual: 5, .. })));
        // Longer than announced: refused while it streams.
        let mut w = store.writer(good.clone(), Some(11), 1 << 20).unwrap();
        assert!(matches!(w.write(b"layer bytes and more"), Err(BlobError::TooLarge { limit: 11, .. })));
        drop(w);
        // Over the limit when the size is unknown.
        let mut w = store.writer(good.clone(), None, 4).unwrap();
        assert!(matches!(w.write(b"layer bytes"), Err(BlobError::TooLarge { limit: 4, .. })));
        drop(w);
        assert!(!store.contains(&good), "nothing stored");
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "no .part files left");
        // The real thing.
        let mut w = store.writer(good.clone(), Some(11), 1 << 20).unwrap();
        w.write(b"layer ").unwrap();
        w.write(b"bytes").unwrap();
        assert_eq!(w.finish().unwrap(), good);
        assert_eq!(store.read(&good).unwrap(), b"layer bytes");
        assert_eq!(store.list().unwrap(), vec![(good.clone(), 11)]);
        assert_eq!(store.put(b"layer bytes").unwrap(), good, "stored once");
        store.remove(&good).unwrap();
        assert!(!store.contains(&good));
    }

    #[test]
    fn a_blob_changed_on_disk_is_refused_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put(b"wasm").unwrap();
        std::fs::write(store.path(&d), b"evil").unwrap();
        assert!(matches!(store.read(&d), Err(BlobError::WrongDigest { .. })));
    }
}
