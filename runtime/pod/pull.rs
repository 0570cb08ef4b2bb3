//! Registry images at a container's start, as the kubelet's image manager
//! (`pkg/kubelet/images/image_manager.go`) ensures them: the pull policy
//! decides whether to pull; pulls of one reference take turns, so a second
//! pod's container waits for the first pull and then finds the image
//! present; each `.wasm` is compiled once per digest (the engine's caches).
//! What to do after a failure (the pull back-off, the Waiting reasons and
//! events) is the container's lifecycle's (`lifecycle/container.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::error_text::full_message;
use crate::image::ImageConfig;
use crate::registry::{ImageGcPolicy, ImageGcReport, ImageReference, Keyring, PulledImage, Registry, RegistryError};

/// `imagePullPolicy` (defaulted before the pod starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullPolicy {
    /// Pull at every container start.
    Always,
    /// Pull when the store has no image under the reference.
    IfNotPresent,
    /// Never pull: the image must be in the store.
    Never,
}

impl PullPolicy {
    /// The container's policy (defaulting made it one of the three).
    pub(crate) fn of(c: &Container) -> Self {
        match c.image_pull_policy.as_deref() {
            Some("Always") => Self::Always,
            Some("Never") => Self::Never,
            _ => Self::IfNotPresent,
        }
    }
}

/// A container's image that comes from a registry.
#[derive(Debug, Clone)]
pub(crate) struct RegistryImage {
    /// As the container writes it (events and statuses quote it so).
    pub written: String,
    /// The parsed reference, or the kubelet's words for why it does not
    /// parse.
    pub reference: Result<ImageReference, String>,
    /// Its pull policy.
    pub policy: PullPolicy,
}

impl RegistryImage {
    /// The image of container `c`, written `image`.
    pub(crate) fn new(image: &str, c: &Container) -> Self {
        let reference = ImageReference::parse(image).map_err(|e| format!("Failed to apply default image tag \"{image}\": {e}"));
        Self { written: image.to_owned(), reference, policy: PullPolicy::of(c) }
    }
}

/// What a pull that happened took, for the `Pulled` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PullFigures {
    /// The pull itself.
    pub pull: Duration,
    /// With the wait for another pull of the same reference.
    pub total: Duration,
    /// The image's size (its `.wasm`).
    pub size: u64,
}

/// Why a container's image is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PullFailure {
    /// The reference does not parse (`InvalidImageName`); the message.
    InvalidName(String),
    /// Not in the store, and the policy is `Never` (`ErrImageNeverPull`).
    NeverPull,
    /// The pull (or the pulled image's compile) failed (`ErrImagePull`);
    /// what went wrong.
    Failed(String),
}

/// An image ready to run: its config, loaded, and what its pull took (none
/// when it was present).
pub(crate) struct ReadyImage {
    pub config: ImageConfig,
    /// Its files besides the program (an image built with filesystem
    /// layers), to copy into the container's root.
    pub files: Option<std::path::PathBuf>,
    /// The status's `imageID`: `registry/repository@manifest-digest`.
    pub image_id: String,
    pub loaded: crate::sandbox::Loaded,
    pub pulled: Option<PullFigures>,
}

/// Pulls registry images for the pods of one runtime.
pub(crate) struct ImagePuller {
    registry: Registry,
    engine: Arc<crate::sandbox::Engine>,
    /// One turn per reference being pulled.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When a container last started with each reference (image garbage
    /// collection removes the least recently used first), as the kubelet
    /// keeps it: in memory.
    used: Mutex<HashMap<String, jiff::Timestamp>>,
}

impl ImagePuller {
    pub(crate) fn new(registry: Registry, engine: Arc<crate::sandbox::Engine>) -> Self {
        Self { registry, engine, turns: Mutex::new(HashMap::new()), used: Mutex::new(HashMap::new()) }
    }

    /// One image garbage collection under `policy`; `in_use` are the
    /// normalized references the pods name.
    pub(crate) fn collect(&self, policy: &ImageGcPolicy, in_use: &HashSet<String>) -> Result<ImageGcReport, RegistryError> {
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.registry.collect(policy, in_use, &used)
    }

    /// Makes `image` present as its policy says and loads it; `keyring`'s
    /// credentials (the pod's `imagePullSecrets`) are tried first.
    /// `on_pull` is called when a pull begins (the `Pulling` event).
    pub(crate) async fn ensure(&self, image: &RegistryImage, keyring: &Keyring, on_pull: impl FnOnce()) -> Result<ReadyImage, PullFailure> {
        let reference = image.reference.as_ref().map_err(|e| PullFailure::InvalidName(e.clone()))?;
        let began = Instant::now();
        let key = reference.normalized();
        let turn = self.turns.lock().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().clone();
        let (record, program, pulled) = {
            let _turn = turn.lock().await;
            // A stored image whose `.wasm` fails its check counts as absent.
            let present = self.registry.get(reference).and_then(|p| self.program_of(&p).ok().map(|program| (p, program)));
            match (image.policy, present) {
                (PullPolicy::Never, None) => return Err(PullFailure::NeverPull),
                (PullPolicy::Never | PullPolicy::IfNotPresent, Some((record, program))) => (record, program, None),
                (PullPolicy::Always | PullPolicy::IfNotPresent, _) => {
                    on_pull();
                    let started = Instant::now();
                    let done = self.registry.pull_with(reference, keyring).await.map_err(|e| PullFailure::Failed(full_message(&e)))?;
                    let program = self.program_of(&done.image).map_err(|e| PullFailure::Failed(full_message(&e)))?;
                    let figures = PullFigures { pull: started.elapsed(), total: began.elapsed(), size: done.image.size };
                    (done.image, program, Some(figures))
                }
            }
        };
        {
            // The last one out forgets the turn.
            let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            if Arc::strong_count(&turn) <= 2 {
                turns.remove(&key);
            }
        }
        let loaded = match program {
            Program::Loaded(loaded) => loaded,
            Program::Bytes(digest, bytes) => self
                .engine
                .load(&key, Arc::from(bytes), digest)
                .await
                .map_err(|e| PullFailure::Failed(format!("image {reference} cannot run: {}", full_message(&e))))?,
        };
        self.used.lock().unwrap_or_else(|p| p.into_inner()).insert(key, jiff::Timestamp::now());
        let image_id = format!("{}/{}@{}", reference.registry(), reference.repository(), record.manifest_digest);
        Ok(ReadyImage { config: config_of(&record), files: self.registry.files(&record), image_id, loaded, pulled })
    }

    /// A stored image's program: the one this process loaded already, else
    /// its `.wasm`'s bytes, checked against their digest.
    fn program_of(&self, record: &PulledImage) -> Result<Program, RegistryError> {
        let digest = record
            .wasm()
            .ok_or_else(|| RegistryError::Unsupported(format!("image {}: bad wasm digest {:?} in its record", record.reference, record.wasm_digest)))?;
        if record.files.is_some() && self.registry.files(record).is_none() {
            return Err(RegistryError::Unsupported(format!("image {}: its files are missing from the store", record.reference)));
        }
        if let Some(loaded) = self.engine.loaded(&digest.sha256()) {
            return Ok(Program::Loaded(loaded));
        }
        Ok(Program::Bytes(digest.sha256(), self.registry.wasm(record)?))
    }
}

/// A stored image's program, loaded or to load.
enum Program {
    Loaded(crate::sandbox::Loaded),
    Bytes(crate::image::Digest, Vec<u8>),
}

/// A pulled image's config, as the runtime applies it.
fn config_of(record: &PulledImage) -> ImageConfig {
    ImageConfig {
        entrypoint: record.entrypoint.clone(),
        cmd: record.cmd.clone(),
        env: record.env.iter().map(|kv| kv.split_once('=').map_or((kv.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned()))).collect(),
        working_dir: record.working_dir.clone(),
    }
}

/// The credentials of the pod's `imagePullSecrets`, from `secrets` (its
/// namespace's); and a warning for each named Secret that is missing or
/// not a Docker config, as the kubelet's `FailedToRetrieveImagePullSecret`.
pub(crate) fn pull_secrets(pod: &Pod, secrets: &[k8s_openapi::api::core::v1::Secret]) -> (Keyring, Vec<String>) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut keyring = Keyring::default();
    let mut missing = Vec::new();
    let mut bad = Vec::new();
    for name in pod.spec.iter().flat_map(|s| s.image_pull_secrets.iter().flatten()).map(|r| r.name.as_str()) {
        let found = secrets.iter().find(|s| s.metadata.name.as_deref() == Some(name) && s.metadata.namespace.as_deref().unwrap_or("default") == namespace);
        let Some(secret) = found else {
            missing.push(name.to_owned());
            continue;
        };
        let data = secret.data.as_ref();
        let parsed = match secret.type_.as_deref() {
            Some("kubernetes.io/dockerconfigjson") => data.and_then(|d| d.get(".dockerconfigjson")).map(|b| Keyring::from_docker_config(&b.0)),
            Some("kubernetes.io/dockercfg") => data.and_then(|d| d.get(".dockercfg")).map(|b| Keyring::from_dockercfg(&b.0)),
            _ => None,
        };
        match parsed {
            Some(Ok(k)) => keyring.extend(k),
            Some(Err(e)) => bad.push(format!("secret {name}: {e}")),
            None => bad.push(format!(
                "secret {name} is of type {:?}, not kubernetes.io/dockerconfigjson with a .dockerconfigjson key or kubernetes.io/dockercfg with a .dockercfg key",
                secret.type_.as_deref().unwrap_or("Opaque")
            )),
        }
    }
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        warnings.push(format!("Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.", missing.join(", ")));
    }
    warnings.extend(bad.into_iter().map(|b| format!("Unable to use an image pull secret: {b}; attempting to pull the image may not succeed.")));
    (keyring, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, type_: &str, key: &str, value: &str) -> k8s_openapi::api::core::v1::Secret {
        let mut s = k8s_openapi::api::core::v1::Secret::default();
        s.metadata.name = Some(name.into());
        s.metadata.namespace = Some("default".into());
        s.type_ = Some(type_.into());
        s.data = Some([(key.to_owned(), k8s_openapi::ByteString(value.as_bytes().to_vec()))].into());
        s
    }

    #[test]
    fn pull_secrets_give_credentials_and_name_what_is_missing_or_wrong() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [], "imagePullSecrets": [{"name": "json"}, {"name": "cfg"}, {"name": "gone"}, {"name": "opaque"}]}
        }))
        .unwrap();
        let secrets = [
            secret("json", "kubernetes.io/dockerconfigjson", ".dockerconfigjson", r#"{"auths": {"r.example": {"username": "u", "password": "p"}}}"#),
            secret("cfg", "kubernetes.io/dockercfg", ".dockercfg", r#"{"old.example": {"auth": "YTpi"}}"#),
            secret("opaque", "Opaque", "x", "y"),
        ];
        let (keyring, warnings) = pull_secrets(&pod, &secrets);
        assert_eq!(keyring.get("r.example").unwrap().username, "u");
        assert_eq!(keyring.get("old.example").unwrap().password, "b");
        assert_eq!(warnings[0], "Unable to retrieve some image pull secrets (gone); attempting to pull the image may not succeed.");
        assert!(warnings[1].contains("secret opaque is of type \"Opaque\""), "{warnings:?}");
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn a_reference_that_does_not_parse_is_said_in_the_kubelets_words() {
        let c = Container { image_pull_policy: Some("Never".into()), ..Default::default() };
        let image = RegistryImage::new("Bad:Name", &c);
        assert_eq!(image.policy, PullPolicy::Never);
        let e = image.reference.unwrap_err();
        assert!(e.starts_with("Failed to apply default image tag \"Bad:Name\": couldn't parse image name \"Bad:Name\": "), "{e}");
    }
}
