//! Publishing a component or module as the CNCF wasm OCI artifact: config
//! `application/vnd.wasm.config.v0+json` (`architecture: wasm`, `os:
//! wasip2` for a component with its top-level imports and exports, else
//! `wasip1`), one `application/wasm` layer.

use std::path::Path;

use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};

use super::{ImageReference, PulledImage, Registry, RegistryError, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, registry_error};
use crate::store::blobs::Digest;

/// What a push published.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pushed {
    /// The manifest's URL at the registry.
    pub manifest_url: String,
    /// The image as now recorded locally (a later `run` of the reference
    /// finds it without pulling).
    pub image: PulledImage,
}

/// The config of the wasm artifact for `wasm`.
fn artifact_config(wasm: &[u8], layer_digest: &str) -> Result<serde_json::Value, String> {
    let component = wasmparser::Parser::is_component(wasm);
    if !component && !wasmparser::Parser::is_core_wasm(wasm) {
        return Err("not a WebAssembly component or module".into());
    }
    let mut config = serde_json::json!({
        "created": jiff::Timestamp::now().to_string(),
        "author": null,
        "architecture": "wasm",
        "os": if component { "wasip2" } else { "wasip1" },
        "layerDigests": [layer_digest],
        "component": null,
    });
    if component {
        let (imports, exports) = component_surface(wasm).map_err(|e| format!("not a valid component: {e}"))?;
        config["component"] = serde_json::json!({"imports": imports, "exports": exports});
    }
    Ok(config)
}

/// The names a component imports and exports at its top level.
fn component_surface(wasm: &[u8]) -> Result<(Vec<String>, Vec<String>), wasmparser::BinaryReaderError> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(s) if depth == 0 => {
                for i in s {
                    imports.push(i?.name.0.to_owned());
                }
            }
            wasmparser::Payload::ComponentExportSection(s) if depth == 0 => {
                for e in s {
                    exports.push(e?.name.0.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

impl Registry {
    /// Publishes the `.wasm` at `file` as `reference`, and records it as
    /// pulled.
    pub async fn push(&self, file: &Path, reference: &ImageReference) -> Result<Pushed, RegistryError> {
        let wasm = std::fs::read(file).map_err(|source| RegistryError::Io { action: "cannot read", path: file.to_owned(), source })?;
        let layer = ImageLayer::new(wasm.clone(), WASM_LAYER_MEDIA_TYPE.into(), None);
        let layer_digest = layer.sha256_digest();
        let config_json = artifact_config(&wasm, &layer_digest).map_err(|why| RegistryError::Unsupported(format!("{}: {why}", file.display())))?;
        let os = config_json["os"].as_str().unwrap_or_default().to_owned();
        let config = Config::new(serde_json::to_vec(&config_json).expect("JSON serializes"), WASM_CONFIG_MEDIA_TYPE.into(), None);
        let mut manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.into());
        let client = self.client_for(reference)?;
        let auth = self.auth_for(reference, &super::Keyring::default());
        let response = client
            .push(reference.oci(), &[layer], config, &auth, Some(manifest.clone()))
            .await
            .map_err(|e| registry_error(&format!("cannot push {reference}"), e))?;
        // The same bytes as pulled: the store has them without a pull.
        let stored = self.blobs.put(&wasm)?;
        debug_assert_eq!(stored.as_str(), layer_digest);
        let manifest_json = serde_json::to_vec(&manifest).expect("a manifest serializes");
        let image = PulledImage {
            reference: reference.normalized(),
            manifest_digest: manifest_digest_from(&response.manifest_url).unwrap_or_else(|| Digest::of(&manifest_json).to_string()),
            wasm_digest: layer_digest,
            size: wasm.len() as u64,
            os,
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            files: None,
            stored: jiff::Timestamp::now().to_string(),
        };
        self.index.put(&image)?;
        Ok(Pushed { manifest_url: response.manifest_url, image })
    }
}

/// The digest at the end of a manifest URL the registry returned
/// (`.../manifests/sha256:...`), when it gave one.
fn manifest_digest_from(url: &str) -> Option<String> {
    let last = url.rsplit('/').next()?;
    Digest::parse(last).ok().map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_gets_wasip2_and_its_surface_a_module_wasip1() {
        let toolbox = crate::image::builtin("toolbox").unwrap();
        let c = artifact_config(toolbox, "sha256:x").unwrap();
        assert_eq!(c["os"], "wasip2");
        assert_eq!(c["architecture"], "wasm");
        assert_eq!(c["layerDigests"][0], "sha256:x");
        let imports: Vec<&str> = c["component"]["imports"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(imports.iter().any(|i| i.starts_with("wasi:cli/")), "{imports:?}");
        let exports: Vec<&str> = c["component"]["exports"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(exports.iter().any(|e| e.starts_with("wasi:cli/run")), "{exports:?}");
        let module = b"\0asm\x01\0\0\0";
        let m = artifact_config(module, "sha256:y").unwrap();
        assert_eq!(m["os"], "wasip1");
        assert!(m["component"].is_null());
        assert!(artifact_config(b"#!/bin/sh", "sha256:z").is_err());
    }
}
