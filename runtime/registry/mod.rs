//! Images from OCI registries: references as Kubernetes takes them
//! (`reference.rs`), credentials from Docker config files (`auth.rs`),
//! pulls into the state directory's content-addressed blob store, the
//! index of pulled images (`index.rs`), and pushes of wasm components as
//! the CNCF wasm OCI artifact (`push.rs`). The registry protocol itself is
//! `oci-client`'s.
//!
//! What is pulled: a wasm OCI artifact (config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer);
//! a wasm image (config architecture `wasm`) whose `.wasm` is a layer
//! (runwasi's layout) or sits in tar/tar+gzip filesystem layers
//! (`docker buildx --platform wasi/wasm`, `layer.rs`), where the config's
//! Entrypoint or Cmd names it; or an index holding one (platform `wasm`
//! with os `wasip1`, `wasip2` or `wasi`). Other images are refused with
//! what they are: a Linux image names its platforms, a Spin application
//! says so.

mod auth;
mod gc;
mod index;
mod layer;
mod pull;
mod push;
mod reference;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use auth::{Credentials, Keyring};
pub use gc::{DiskUsage, ImageGcPolicy, ImageGcReport};
pub use index::{ImageIndex, PulledImage};
pub use pull::Pulled;
pub use push::Pushed;
pub use reference::{ImageReference, ReferenceError};

use crate::store::blobs::BlobStore;
pub use crate::store::blobs::{BlobError, Digest};

/// The config media type of the CNCF wasm OCI artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Its layer's media type: the `.wasm` itself.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";

/// Limits and network settings of a [`Registry`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Registries (`host[:port]`) spoken to over plain HTTP besides those
    /// on loopback addresses (`--insecure-registry`).
    pub insecure: Vec<String>,
    /// The largest `.wasm` layer taken, in bytes (256 MiB).
    pub max_layer_size: u64,
    /// The largest image config taken, in bytes (1 MiB).
    pub max_config_size: u64,
    /// For an image whose `.wasm` is inside filesystem layers: the most
    /// bytes its layers may unpack to together (1 GiB), which stops a
    /// decompression bomb.
    pub max_unpacked_size: u64,
    /// Likewise, the most files its layers may hold together (100,000).
    pub max_layer_files: u64,
    /// How long a connection may take to open.
    pub connect_timeout: Duration,
    /// How long a read may wait for the next bytes: a registry that stops
    /// sending fails the pull instead of hanging it.
    pub read_timeout: Duration,
    /// How long a whole pull may take (5 minutes): a registry that sends
    /// a trickle fails the pull instead of holding it for ever.
    pub pull_timeout: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            max_layer_size: 256 << 20,
            max_config_size: 1 << 20,
            max_unpacked_size: 1 << 30,
            max_layer_files: 100_000,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            pull_timeout: Duration::from_secs(300),
        }
    }
}

/// What went wrong pulling or pushing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The registry refused, failed or could not be reached.
    #[error("{0}")]
    Registry(String),
    /// The image is not one wasmpod runs; the message says what it is.
    #[error("{0}")]
    Unsupported(String),
    /// A blob was wrong (size, digest) or could not be stored.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A local file (the index, a component to push) failed.
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

/// The registries as one state directory sees them: its blob store and
/// image index, credentials, and settings.
#[derive(Clone)]
pub struct Registry {
    blobs: BlobStore,
    /// What pulls of this process are writing or reading: `prune` keeps it.
    leases: std::sync::Arc<Leases>,
    /// `images/roots/`: the files of images built with filesystem layers.
    roots: PathBuf,
    index: ImageIndex,
    keyring: Keyring,
    config: RegistryConfig,
}

impl Registry {
    /// The registry client of the state directory at `state_dir` (its
    /// `images/` is created), with `keyring`'s credentials.
    pub fn open(state_dir: &Path, keyring: Keyring, config: RegistryConfig) -> Result<Self, RegistryError> {
        let root = state_dir.join("images");
        let blobs = BlobStore::open(&root)?;
        let index = ImageIndex::open(&root).map_err(|source| RegistryError::Io { action: "cannot create", path: root.join("refs"), source })?;
        let roots = root.join("roots");
        std::fs::create_dir_all(&roots).map_err(|source| RegistryError::Io { action: "cannot create", path: roots.clone(), source })?;
        Ok(Self { blobs, leases: Default::default(), roots, index, keyring, config })
    }

    /// The pulled images.
    pub fn images(&self) -> Vec<PulledImage> {
        self.index.list()
    }

    /// The pulled image `reference` names, if any.
    pub fn get(&self, reference: &ImageReference) -> Option<PulledImage> {
        self.index.get(&reference.normalized())
    }

    /// The bytes of a pulled image's `.wasm`, checked against its digest.
    pub fn wasm(&self, image: &PulledImage) -> Result<Vec<u8>, RegistryError> {
        let digest = image
            .wasm()
            .ok_or_else(|| RegistryError::Unsupported(format!("image {}: bad wasm digest {:?} in its record", image.reference, image.wasm_digest)))?;
        Ok(self.blobs.read(&digest)?)
    }

    /// The directory of a pulled image's files besides its program (an
    /// image built with filesystem layers), if it has any.
    pub fn files(&self, image: &PulledImage) -> Option<PathBuf> {
        let key = image.files.as_deref()?;
        let dir = self.roots.join(key);
        (!key.is_empty() && !key.contains(['/', '\\', '.']) && dir.is_dir()).then_some(dir)
    }

    /// Forgets `reference`, and removes the blobs no other image uses.
    /// Returns what it named (`None`: nothing was pulled under it).
    pub fn remove(&self, reference: &ImageReference) -> Result<Option<PulledImage>, RegistryError> {
        let removed = self.index.remove(&reference.normalized())?;
        if removed.is_some() {
            self.prune()?;
        }
        Ok(removed)
    }

    /// Removes the blobs and image files no recorded image uses (one a new
    /// pull of a tag replaced, one whose record a crash lost, a pull's
    /// unfinished files); returns their total size.
    pub fn prune(&self) -> Result<u64, RegistryError> {
        let images = self.images();
        let used: std::collections::HashSet<&str> = images.iter().map(|i| i.wasm_digest.as_str()).collect();
        let mut freed = 0;
        for (digest, size) in self.blobs.list()? {
            if !used.contains(digest.as_str()) && self.leases.held(digest.as_str()) == 0 {
                self.blobs.remove(&digest)?;
                freed += size;
            }
        }
        let roots: std::collections::HashSet<&str> = images.iter().filter_map(|i| i.files.as_deref()).collect();
        for e in std::fs::read_dir(&self.roots).map_err(|source| RegistryError::Io { action: "cannot list", path: self.roots.clone(), source })?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // An unpacking in progress (another process's) is left an hour.
            let unfinished = name.starts_with(ROOT_TMP_PREFIX);
            let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|age| age.as_secs() > 3600);
            if roots.contains(name.as_str()) || (unfinished && !old) || self.leases.held(&name) > 0 {
                continue;
            }
            freed += tree_size(&e.path());
            std::fs::remove_dir_all(e.path()).map_err(|source| RegistryError::Io { action: "cannot remove", path: e.path(), source })?;
        }
        Ok(freed)
    }

    fn client_for(&self, reference: &ImageReference) -> Result<oci_client::Client, RegistryError> {
        install_crypto_provider();
        let host = reference.registry();
        let plain = reference.is_loopback() || self.config.insecure.iter().any(|h| h == host);
        let config = oci_client::client::ClientConfig {
            protocol: if plain { oci_client::client::ClientProtocol::Http } else { oci_client::client::ClientProtocol::Https },
            connect_timeout: Some(self.config.connect_timeout),
            read_timeout: Some(self.config.read_timeout),
            platform_resolver: None,
            user_agent: concat!("wasmpod/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        oci_client::Client::try_from(config).map_err(|e| RegistryError::Registry(format!("cannot make a client for {host}: {e}")))
    }

    fn auth_for(&self, reference: &ImageReference, first: &Keyring) -> oci_client::secrets::RegistryAuth {
        match first.get(reference.registry()).or_else(|| self.keyring.get(reference.registry())) {
            Some(c) => oci_client::secrets::RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => oci_client::secrets::RegistryAuth::Anonymous,
        }
    }
}

/// Blob digests and image-file keys in use by pulls of this process, with
/// how many hold each. (Another process's pull is not seen: a `prune`
/// racing it can remove what it just stored, and the image is then pulled
/// again.)
#[derive(Default)]
struct Leases(std::sync::Mutex<std::collections::HashMap<String, usize>>);

/// A hold on some names; dropped, it lets them go.
struct Lease {
    leases: std::sync::Arc<Leases>,
    names: Vec<String>,
}

impl Leases {
    fn take(self: &std::sync::Arc<Self>, names: impl IntoIterator<Item = String>) -> Lease {
        let names: Vec<String> = names.into_iter().collect();
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for n in &names {
            *held.entry(n.clone()).or_default() += 1;
        }
        Lease { leases: self.clone(), names }
    }

    fn held(&self, name: &str) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(name).copied().unwrap_or(0)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut held = self.leases.0.lock().unwrap_or_else(|p| p.into_inner());
        for n in &self.names {
            if let Some(count) = held.get_mut(n) {
                *count -= 1;
                if *count == 0 {
                    held.remove(n);
                }
            }
        }
    }
}

/// The name prefix of an image's files being unpacked under `roots/`.
const ROOT_TMP_PREFIX: &str = ".tmp-";

/// The bytes of the files in the tree at `path` (links not followed).
fn tree_size(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path).into_iter().flatten().flatten().map(|e| tree_size(&e.path())).sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// reqwest's rustls needs a process-wide crypto provider; ring is ours
/// (an embedder that installed another keeps it).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An oci-client error in words: the registry's own error codes and
/// messages where it sent them.
fn registry_error(what: &str, e: oci_client::errors::OciDistributionError) -> RegistryError {
    use oci_client::errors::OciDistributionError as E;
    let text = match &e {
        E::UnauthorizedError { url } | E::ServerError { code: 401, url, .. } => {
            format!("{what}: unauthorized ({url}): check the credentials for this registry")
        }
        E::ServerError { code: 403, url, .. } => format!("{what}: denied ({url}): these credentials may not do this"),
        E::RegistryError { envelope, .. } => {
            let errs: Vec<String> = envelope.errors.iter().map(|er| format!("{}: {}", screaming(&format!("{:?}", er.code)), er.message)).collect();
            format!("{what}: {}", errs.join("; "))
        }
        // With its causes: "error sending request" alone does not say
        // that the connection timed out or was refused.
        _ => format!("{what}: {}", crate::error_text::full_message(&e)),
    };
    RegistryError::Registry(text)
}

/// `ManifestUnknown` → `MANIFEST_UNKNOWN`, the registry's own spelling.
fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
