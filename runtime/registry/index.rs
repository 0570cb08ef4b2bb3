//! The pulled images of a state directory: which reference names which
//! manifest, and what the runtime needs of it (the wasm blob and the
//! image's config). The blobs themselves are in the blob store.
//!
//! ```text
//! <state-dir>/images/refs/<sha256 of the reference>.json   one image, replaced atomically
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::RegistryError;
use crate::store::blobs::Digest;

/// One pulled (or pushed) image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PulledImage {
    /// The normalised reference (`docker.io/library/x:tag`).
    pub reference: String,
    /// The digest of the image's manifest (the platform's, for an index).
    pub manifest_digest: String,
    /// The digest of the `.wasm` blob.
    pub wasm_digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// `wasip1` or `wasip2`, as the image's config says.
    pub os: String,
    /// The config's Entrypoint (empty for a wasm artifact).
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The config's Cmd.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// The config's Env (`NAME=value`).
    #[serde(default)]
    pub env: Vec<String>,
    /// The config's WorkingDir.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// For an image built with filesystem layers: the key of its other
    /// files, unpacked under `images/roots/` (none: the program is all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// When it was stored (RFC 3339).
    pub stored: String,
}

impl PulledImage {
    /// The wasm blob's digest.
    pub fn wasm(&self) -> Option<Digest> {
        Digest::parse(&self.wasm_digest).ok()
    }
}

/// The index of pulled images.
#[derive(Debug, Clone)]
pub struct ImageIndex {
    dir: PathBuf,
}

impl ImageIndex {
    /// Opens (creating) `<root>/refs`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let dir = root.join("refs");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, reference: &str) -> PathBuf {
        self.dir.join(format!("{}.json", hex::encode(Sha256::digest(reference.as_bytes()))))
    }

    /// The image `reference` (normalised) names, if pulled.
    pub fn get(&self, reference: &str) -> Option<PulledImage> {
        let bytes = std::fs::read(self.path(reference)).ok()?;
        serde_json::from_slice::<PulledImage>(&bytes).ok().filter(|i| i.reference == reference)
    }

    /// Records `image` under its reference, replacing what was there.
    pub fn put(&self, image: &PulledImage) -> Result<(), RegistryError> {
        let json = serde_json::to_vec_pretty(image).expect("an image record serializes");
        let path = self.path(&image.reference);
        crate::store::replace_file(&path, &json, true).map_err(|source| RegistryError::Io { action: "cannot record the image in", path, source })
    }

    /// Forgets `reference`; returns what it named.
    pub fn remove(&self, reference: &str) -> Result<Option<PulledImage>, RegistryError> {
        let Some(image) = self.get(reference) else { return Ok(None) };
        let path = self.path(reference);
        std::fs::remove_file(&path).map_err(|source| RegistryError::Io { action: "cannot remove", path, source })?;
        Ok(Some(image))
    }

    /// Every pulled image, by reference.
    pub fn list(&self) -> Vec<PulledImage> {
        let mut out: Vec<PulledImage> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str, wasm: &str) -> PulledImage {
        PulledImage {
            reference: reference.into(),
            manifest_digest: Digest::of(reference.as_bytes()).to_string(),
            wasm_digest: wasm.into(),
            size: 4,
            os: "wasip2".into(),
            entrypoint: vec![],
            cmd: vec![],
            env: vec![],
            working_dir: None,
            files: None,
            stored: "2026-12-02T00:00:00Z".into(),
        }
    }

    #[test]
    fn references_are_recorded_replaced_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let index = ImageIndex::open(dir.path()).unwrap();
        let w = Digest::of(b"wasm").to_string();
        index.put(&image("docker.io/library/b:1", &w)).unwrap();
        index.put(&image("docker.io/library/a:1", &w)).unwrap();
        let mut newer = image("docker.io/library/a:1", &w);
        newer.size = 5;
        index.put(&newer).unwrap();
        assert_eq!(index.get("docker.io/library/a:1"), Some(newer.clone()));
        assert_eq!(index.list().iter().map(|i| i.reference.as_str()).collect::<Vec<_>>(), ["docker.io/library/a:1", "docker.io/library/b:1"]);
        assert_eq!(index.remove("docker.io/library/a:1").unwrap(), Some(newer));
        assert_eq!(index.remove("docker.io/library/a:1").unwrap(), None);
        assert_eq!(index.list().len(), 1);
    }
}
