//! Pulling: the manifest (through an index to the wasm platform's), the
//! config, and the `.wasm` layer streamed into the blob store, each
//! checked against its descriptor's size and digest before it is used.

use std::time::Instant;

use futures_util::StreamExt as _;
use oci_client::manifest::{ImageIndexEntry, OciDescriptor, OciImageManifest, OciManifest};
use serde::Deserialize;

use super::{ImageReference, Keyring, PulledImage, Registry, RegistryError, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, layer, registry_error};
use crate::store::blobs::{BlobCheck, Digest};

/// Layer media types that carry a `.wasm` as is: the CNCF one, and the
/// older one runwasi's builder wrote.
const WASM_LAYERS: [&str; 2] = [WASM_LAYER_MEDIA_TYPE, "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm"];

/// Operating systems of wasm images (`wasi` is docker buildx's).
const WASM_OSES: [&str; 3] = ["wasip2", "wasip1", "wasi"];

/// What a pull did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pulled {
    /// The image as recorded.
    pub image: PulledImage,
    /// How long it took.
    pub elapsed: std::time::Duration,
    /// Whether its `.wasm` was already in the store (another reference
    /// or an earlier pull), so only the manifest was fetched.
    pub had_blob: bool,
}

/// The fields of an image config wasmpod reads (the wasm artifact's and
/// the OCI/Docker image config's).
#[derive(Deserialize, Default)]
struct ImageConfigFile {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
}

impl Registry {
    /// Pulls `reference` into the store and records it, with this
    /// registry's credentials.
    pub async fn pull(&self, reference: &ImageReference) -> Result<Pulled, RegistryError> {
        self.pull_with(reference, &Keyring::default()).await
    }

    /// Pulls `reference` with `first`'s credentials tried before this
    /// registry's own (a pod's `imagePullSecrets` before the node's).
    pub async fn pull_with(&self, reference: &ImageReference, first: &Keyring) -> Result<Pulled, RegistryError> {
        let limit = self.config.pull_timeout;
        tokio::time::timeout(limit, self.pull_within(reference, first))
            .await
            .unwrap_or_else(|_| Err(RegistryError::Registry(format!("pulling {reference} took longer than {}s", limit.as_secs_f64()))))
    }

    async fn pull_within(&self, reference: &ImageReference, first: &Keyring) -> Result<Pulled, RegistryError> {
        let started = Instant::now();
        let client = self.client_for(reference)?;
        let auth = self.auth_for(reference, first);
        let (manifest, mut digest) =
            client.pull_manifest(reference.oci(), &auth).await.map_err(|e| registry_error(&format!("cannot get the manifest of {reference}"), e))?;
        let (manifest, at) = match manifest {
            OciManifest::Image(m) => (m, reference.oci().clone()),
            OciManifest::ImageIndex(index) => {
                let entry = pick_wasm(reference, &index.manifests)?;
                let pinned = reference.at_digest(&entry.digest);
                let (m, d) =
                    client.pull_manifest(&pinned, &auth).await.map_err(|e| registry_error(&format!("cannot get the wasm manifest of {reference}"), e))?;
                digest = d;
                match m {
                    OciManifest::Image(m) => (m, pinned),
                    OciManifest::ImageIndex(_) => {
                        return Err(RegistryError::Unsupported(format!("image {reference}: its index names another index for the wasm platform")));
                    }
                }
            }
        };
        // The same manifest as the stored image's, with its blob: nothing
        // to fetch.
        if let Some(old) = self.index.get(&reference.normalized())
            && old.manifest_digest == digest
            && old.wasm().is_some_and(|d| self.blobs.contains(&d))
            && (old.files.is_none() || self.files(&old).is_some())
        {
            return Ok(Pulled { image: old, elapsed: started.elapsed(), had_blob: true });
        }
        let config = self.config_of(&client, &at, reference, &manifest).await?;
        let container = config.config.clone().unwrap_or_default();
        // Until the record is written, `prune` keeps what this pull stores.
        let mut leases = Vec::new();
        let (wasm, size, had_blob, files) = match program_layers(reference, &manifest, &config)? {
            Program::Wasm(layer) => {
                let wasm = Digest::parse(&layer.digest)?;
                leases.push(self.leases.take([wasm.to_string()]));
                let had_blob = self.blobs.contains(&wasm);
                if !had_blob {
                    self.fetch_blob(&client, &at, reference, layer).await?;
                }
                (wasm, layer.size.max(0) as u64, had_blob, None)
            }
            Program::Filesystem(layers) => {
                let key = digest.trim_start_matches("sha256:").to_owned();
                leases.push(self.leases.take([key.clone()]));
                let (wasm, size, files, lease) = self.unpack(&client, &at, reference, &layers, &container, &key).await?;
                leases.push(lease);
                (wasm, size, false, files)
            }
        };
        let image = PulledImage {
            reference: reference.normalized(),
            manifest_digest: digest,
            wasm_digest: wasm.to_string(),
            size,
            os: config.os,
            entrypoint: container.entrypoint.unwrap_or_default(),
            cmd: container.cmd.unwrap_or_default(),
            env: container.env.unwrap_or_default(),
            working_dir: container.working_dir.filter(|w| !w.is_empty()),
            files,
            stored: jiff::Timestamp::now().to_string(),
        };
        let replaced = self.index.get(&image.reference).filter(|old| old.wasm_digest != image.wasm_digest || old.files != image.files);
        self.index.put(&image)?;
        drop(leases);
        if replaced.is_some() {
            self.prune()?;
        }
        Ok(Pulled { image, elapsed: started.elapsed(), had_blob })
    }

    /// Streams blob `layer` into the store, checked against its size and
    /// digest and within the layer size limit.
    async fn fetch_blob(
        &self,
        client: &oci_client::Client,
        at: &oci_client::Reference,
        reference: &ImageReference,
        layer: &OciDescriptor,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::parse(&layer.digest)?;
        let size =
            u64::try_from(layer.size).map_err(|_| RegistryError::Unsupported(format!("image {reference}: layer {} has a negative size", layer.digest)))?;
        if size > self.config.max_layer_size {
            return Err(RegistryError::Unsupported(format!(
                "image {reference}: layer {} is {size} bytes, more than the limit of {}",
                layer.digest, self.config.max_layer_size
            )));
        }
        let mut stream =
            client.pull_blob_stream(at, layer).await.map_err(|e| registry_error(&format!("cannot get layer {} of {reference}", layer.digest), e))?;
        let mut writer = self.blobs.writer(digest, Some(size), self.config.max_layer_size)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RegistryError::Registry(format!("reading layer {} of {reference}: {e}", layer.digest)))?;
            writer.write(&chunk)?;
        }
        Ok(writer.finish()?)
    }

    /// The program of an image whose layers are filesystems: the layers
    /// are fetched into the store, the `.wasm` the config names is taken
    /// out of them and stored, the image's other files are unpacked into
    /// `roots/<key>` (when there are any), and the layers are removed
    /// again. Returns the program's digest and size, and the files' key.
    async fn unpack(
        &self,
        client: &oci_client::Client,
        at: &oci_client::Reference,
        reference: &ImageReference,
        layers: &[&OciDescriptor],
        container: &ContainerConfig,
        key: &str,
    ) -> Result<(Digest, u64, Option<String>, super::Lease), RegistryError> {
        // The layers serve only the unpacking: removed afterwards, also
        // when the pull fails, times out or is dropped (unless an image's
        // program is one, or another pull holds them).
        let mut cleanup = LayerCleanup { registry: self, digests: Vec::new(), _lease: self.leases.take(layers.iter().map(|l| l.digest.clone())) };
        for l in layers {
            let d = self.fetch_blob(client, at, reference, l).await?;
            cleanup.digests.push(d);
        }
        let paths: Vec<std::path::PathBuf> = cleanup.digests.iter().map(|d| self.blobs.path(d)).collect();
        let wanted = layer::program_path(
            container.entrypoint.as_deref().unwrap_or_default(),
            container.cmd.as_deref().unwrap_or_default(),
            container.working_dir.as_deref(),
        );
        let limits =
            layer::UnpackLimits { max_file: self.config.max_layer_size, max_unpacked: self.config.max_unpacked_size, max_entries: self.config.max_layer_files };
        let (roots, key) = (self.roots.clone(), key.to_owned());
        let (bytes, files) = tokio::task::spawn_blocking(move || {
            let paths: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
            let (name, bytes) = match wanted {
                Some(w) => layer::program_at(&paths, &w, limits)?,
                None => layer::only_wasm(&paths, limits)?,
            };
            if !bytes.starts_with(b"\0asm") {
                return Err(format!("its program {name} is not WebAssembly"));
            }
            let files = unpack_root(&roots, &key, &paths, &name, limits)?;
            Ok::<_, String>((bytes, files))
        })
        .await
        .map_err(|e| RegistryError::Registry(format!("unpacking {reference}: {e}")))?
        .map_err(|e| RegistryError::Unsupported(format!("image {reference}: {e}")))?;
        let program = Digest::of(&bytes);
        let lease = self.leases.take([program.to_string()]);
        self.blobs.put_as(program.clone(), &bytes)?;
        drop(cleanup);
        Ok((program, bytes.len() as u64, files, lease))
    }

    /// The image's config, within the size limit and checked against its
    /// digest.
    async fn config_of(
        &self,
        client: &oci_client::Client,
        at: &oci_client::Reference,
        reference: &ImageReference,
        manifest: &OciImageManifest,
    ) -> Result<ImageConfigFile, RegistryError> {
        let d = &manifest.config;
        if d.size < 0 || d.size as u64 > self.config.max_config_size {
            return Err(RegistryError::Unsupported(format!(
                "image {reference}: its config is {} bytes, more than the limit of {}",
                d.size, self.config.max_config_size
            )));
        }
        let mut bytes = Vec::new();
        let mut check = BlobCheck::new(Digest::parse(&d.digest)?, Some(d.size as u64), self.config.max_config_size);
        let mut stream = client.pull_blob_stream(at, d).await.map_err(|e| registry_error(&format!("cannot get the config of {reference}"), e))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RegistryError::Registry(format!("reading the config of {reference}: {e}")))?;
            check.update(&chunk)?;
            bytes.extend_from_slice(&chunk);
        }
        check.finish()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Unsupported(format!("image {reference}: its config ({}) is not JSON wasmpod reads: {e}", d.media_type)))
    }
}

/// The index entry for the wasm platform; else an error naming what the
/// index offers.
fn pick_wasm<'a>(reference: &ImageReference, entries: &'a [ImageIndexEntry]) -> Result<&'a ImageIndexEntry, RegistryError> {
    let platform = |e: &ImageIndexEntry| e.platform.as_ref().map(|p| (p.architecture.to_string(), p.os.to_string()));
    for os in WASM_OSES {
        if let Some(e) = entries.iter().find(|e| platform(e).is_some_and(|(a, o)| a == "wasm" && o == os)) {
            return Ok(e);
        }
    }
    let offered: Vec<String> = entries
        .iter()
        .filter_map(|e| e.platform.as_ref())
        .filter(|p| p.os.to_string() != "unknown")
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    Err(RegistryError::Unsupported(format!(
        "image {reference} is for {}: wasmpod runs WebAssembly images (platform wasm with os wasip1, wasip2 or wasi)",
        if offered.is_empty() { "no named platform".to_owned() } else { offered.join(", ") }
    )))
}

/// Removes the layers of one unpacking when dropped.
struct LayerCleanup<'a> {
    registry: &'a Registry,
    digests: Vec<Digest>,
    _lease: super::Lease,
}

impl Drop for LayerCleanup<'_> {
    fn drop(&mut self) {
        let used: std::collections::HashSet<String> = self.registry.images().into_iter().map(|i| i.wasm_digest).collect();
        for d in &self.digests {
            // Ours is the one hold left: no other pull reads it.
            if !used.contains(d.as_str()) && self.registry.leases.held(d.as_str()) <= 1 {
                let _ = self.registry.blobs.remove(d);
            }
        }
    }
}

/// Unpacks the image's files but its program into `roots/<key>`, through
/// a temporary directory renamed into place; none when the program is all
/// there is.
fn unpack_root(roots: &std::path::Path, key: &str, layers: &[&std::path::Path], program: &str, limits: layer::UnpackLimits) -> Result<Option<String>, String> {
    let dest = roots.join(key);
    if dest.is_dir() {
        return Ok(Some(key.to_owned()));
    }
    let tmp = roots.join(format!("{}{}", super::ROOT_TMP_PREFIX, uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let result = (|| {
        layer::unpack_files(layers, &tmp, limits)?;
        // The program is the container's already: no copy of it per
        // container (found without following a link on the way).
        let program = layer::beneath(&tmp, program)?;
        if std::fs::symlink_metadata(&program).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&program).map_err(|e| format!("cannot remove {}: {e}", program.display()))?;
        }
        if !has_files(&tmp) {
            return Ok(None);
        }
        match std::fs::rename(&tmp, &dest) {
            Ok(()) => Ok(Some(key.to_owned())),
            // Another pull put it there first.
            Err(_) if dest.is_dir() => Ok(Some(key.to_owned())),
            Err(e) => Err(format!("cannot store the image's files in {}: {e}", dest.display())),
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Whether the tree at `dir` holds anything but directories.
fn has_files(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| e.file_type().is_ok_and(|t| !t.is_dir()) || has_files(&e.path()))
}

/// Where an image's program is.
#[derive(Debug)]
enum Program<'a> {
    /// A layer that is the `.wasm` itself.
    Wasm(&'a OciDescriptor),
    /// Filesystem layers (lowest first) holding it.
    Filesystem(Vec<&'a OciDescriptor>),
}

/// The layers holding the program; else an error that says what the
/// image is.
fn program_layers<'a>(reference: &ImageReference, manifest: &'a OciImageManifest, config: &ImageConfigFile) -> Result<Program<'a>, RegistryError> {
    let spin = manifest.config.media_type.starts_with("application/vnd.fermyon.spin")
        || manifest.layers.iter().any(|l| l.media_type.starts_with("application/vnd.fermyon.spin"));
    if spin {
        return Err(RegistryError::Unsupported(format!(
            "image {reference} is a Spin application: wasmpod runs WebAssembly components and modules, not Spin's application format"
        )));
    }
    let types = || manifest.layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>().join(", ");
    if manifest.config.media_type == WASM_CONFIG_MEDIA_TYPE {
        let layers: Vec<&OciDescriptor> = manifest.layers.iter().filter(|l| WASM_LAYERS.contains(&l.media_type.as_str())).collect();
        return match (layers.as_slice(), manifest.layers.len()) {
            ([one], 1) => Ok(Program::Wasm(one)),
            _ => Err(RegistryError::Unsupported(format!(
                "image {reference}: a wasm artifact has exactly one {WASM_LAYER_MEDIA_TYPE} layer; this one has {}",
                types()
            ))),
        };
    }
    if config.architecture != "wasm" {
        let variant = config.variant.as_ref().map(|v| format!("/{v}")).unwrap_or_default();
        return Err(RegistryError::Unsupported(format!(
            "image {reference} is a {}/{}{variant} image: wasmpod runs WebAssembly images (platform wasm with os wasip1, wasip2 or wasi)",
            config.os, config.architecture
        )));
    }
    // A wasm image whose layers are plain wasm (runwasi's layout).
    if let [one] = manifest.layers.iter().filter(|l| WASM_LAYERS.contains(&l.media_type.as_str())).collect::<Vec<_>>().as_slice() {
        return Ok(Program::Wasm(one));
    }
    // `docker buildx --platform wasi/wasm`: the `.wasm` in a filesystem.
    if !manifest.layers.is_empty() && manifest.layers.iter().all(|l| layer::FILESYSTEM_LAYERS.contains(&l.media_type.as_str())) {
        return Ok(Program::Filesystem(manifest.layers.iter().collect()));
    }
    Err(RegistryError::Unsupported(format!(
        "image {reference} is a {}/wasm image with layers wasmpod does not read ({}): it reads one {WASM_LAYER_MEDIA_TYPE} layer, or tar and tar+gzip filesystem layers",
        config.os,
        if manifest.layers.is_empty() { "none".to_owned() } else { types() }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str) -> ImageIndexEntry {
        serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", hex::encode([os.len() as u8; 32])),
            "size": 1,
            "platform": {"os": os, "architecture": arch}
        }))
        .unwrap()
    }

    #[test]
    fn an_index_gives_its_wasm_entry_or_names_its_platforms() {
        let r = ImageReference::parse("example.com/app:1").unwrap();
        let entries = [entry("linux", "amd64"), entry("wasip1", "wasm"), entry("unknown", "unknown")];
        assert_eq!(pick_wasm(&r, &entries).unwrap().platform.as_ref().unwrap().os.to_string(), "wasip1");
        let linux = [entry("linux", "amd64"), entry("linux", "arm64"), entry("unknown", "unknown")];
        let e = pick_wasm(&r, &linux).unwrap_err().to_string();
        assert_eq!(
            e,
            "image example.com/app:1 is for linux/amd64, linux/arm64: wasmpod runs WebAssembly images (platform wasm with os wasip1, wasip2 or wasi)"
        );
    }

    fn manifest(config_type: &str, layers: &[&str]) -> OciImageManifest {
        serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": config_type, "digest": format!("sha256:{}", "0".repeat(64)), "size": 2},
            "layers": layers.iter().map(|t| serde_json::json!({"mediaType": t, "digest": format!("sha256:{}", "1".repeat(64)), "size": 4})).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn the_wasm_layer_is_found_or_the_image_said_to_be_what_it_is() {
        let r = ImageReference::parse("example.com/app:1").unwrap();
        let wasm_cfg = ImageConfigFile { architecture: "wasm".into(), os: "wasip2".into(), ..Default::default() };
        assert!(program_layers(&r, &manifest(WASM_CONFIG_MEDIA_TYPE, &[WASM_LAYER_MEDIA_TYPE]), &wasm_cfg).is_ok());
        let two = program_layers(&r, &manifest(WASM_CONFIG_MEDIA_TYPE, &[WASM_LAYER_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE]), &wasm_cfg).unwrap_err();
        assert!(two.to_string().contains("exactly one application/wasm layer"), "{two}");
        let linux = ImageConfigFile { architecture: "arm64".into(), os: "linux".into(), variant: Some("v8".into()), ..Default::default() };
        let e =
            program_layers(&r, &manifest("application/vnd.oci.image.config.v1+json", &["application/vnd.oci.image.layer.v1.tar+gzip"]), &linux).unwrap_err();
        assert_eq!(
            e.to_string(),
            "image example.com/app:1 is a linux/arm64/v8 image: wasmpod runs WebAssembly images (platform wasm with os wasip1, wasip2 or wasi)"
        );
        let buildx = ImageConfigFile { architecture: "wasm".into(), os: "wasi".into(), ..Default::default() };
        let two_tars =
            manifest("application/vnd.oci.image.config.v1+json", &["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar"]);
        let fs = program_layers(&r, &two_tars, &buildx);
        assert!(matches!(fs, Ok(Program::Filesystem(ref l)) if l.len() == 2), "{fs:?}");
        let e =
            program_layers(&r, &manifest("application/vnd.oci.image.config.v1+json", &["application/vnd.oci.image.layer.v1.tar+zstd"]), &buildx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "image example.com/app:1 is a wasi/wasm image with layers wasmpod does not read (application/vnd.oci.image.layer.v1.tar+zstd): it reads one application/wasm layer, or tar and tar+gzip filesystem layers"
        );
        let spin = program_layers(
            &r,
            &manifest(
                "application/vnd.oci.image.config.v1+json",
                &["application/vnd.wasm.content.layer.v1+wasm", "application/vnd.fermyon.spin.application.v1+config"],
            ),
            &wasm_cfg,
        )
        .unwrap_err();
        assert!(spin.to_string().contains("Spin application"), "{spin}");
    }
}
