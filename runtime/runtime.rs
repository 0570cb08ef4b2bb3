//! [`Runtime`]: the entry point for embedders and the CLI alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{EngineError, WasmEngine};
use crate::image::{Alias, ImageError, ImageResolver};
use crate::manifest::Manifests;
use crate::pod::backoff::BackoffConfig;
use crate::pod::{EnvObjects, PlannedImage, PodHandle, PodPlan};
use crate::store::{LogTap, StateDir, StoreError};

/// Everything a [`Runtime`] is configured with. Defaults: Kubernetes'
/// back-off durations, no user image aliases, no log tap, node name = the
/// host's name, hostPath volumes refused, emptyDir usage measured every
/// 10 seconds.
pub struct RuntimeConfig {
    /// The state directory (see [`StateDir::locate`]).
    pub state_dir: PathBuf,
    /// CrashLoopBackOff durations.
    pub backoff: BackoffConfig,
    /// User image aliases, tried before the builtin table.
    pub aliases: Vec<Alias>,
    /// Reported as `spec.nodeName`.
    pub node_name: String,
    /// Receives log lines and events as they happen.
    pub tap: Option<Arc<dyn LogTap>>,
    /// Where compiled images are cached; default `<state_dir>/cache/compiled`.
    /// Several state directories may share one cache: entries are keyed by
    /// content and engine, and written atomically.
    pub compile_cache: Option<PathBuf>,
    /// Whether pods may mount hostPath volumes (host directories). Off by
    /// default: a hostPath gives guests the host's files.
    pub allow_host_path: bool,
    /// How often emptyDir volumes with a `sizeLimit` are measured; a pod
    /// whose volume is over its limit is evicted. Default
    /// [`DEFAULT_USAGE_INTERVAL`](crate::DEFAULT_USAGE_INTERVAL) (10s, the kubelet's).
    pub volume_usage_interval: Duration,
}

impl RuntimeConfig {
    /// Defaults with the given state directory.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            backoff: BackoffConfig::default(),
            aliases: Vec::new(),
            node_name: gethostname::gethostname().to_string_lossy().into_owned(),
            tap: None,
            compile_cache: None,
            allow_host_path: false,
            volume_usage_interval: crate::volume::DEFAULT_USAGE_INTERVAL,
        }
    }
}

/// Errors of the runtime's own operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The state directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A container's image could not be compiled or linked.
    #[error("pod \"{pod}\", container \"{container}\" (spec.{field}.image)")]
    Compile {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
        /// `containers[0]` or `initContainers[0]`.
        field: String,
        /// Why.
        #[source]
        source: EngineError,
    },
    /// A container's image could not be resolved.
    #[error("pod \"{pod}\", container \"{container}\" (spec.{field}.image)")]
    Image {
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
        /// `containers[0]` or `initContainers[0]`.
        field: String,
        /// Why.
        #[source]
        source: ImageError,
    },
    /// The pod uses something this version refuses to run.
    #[error("pod \"{pod}\": {field}: {reason}")]
    Unsupported {
        /// Pod name.
        pod: String,
        /// Field path.
        field: String,
        /// Why.
        reason: String,
    },
}

/// A wasmpod runtime: one engine, one state directory, any number of pods.
pub struct Runtime {
    engine: Arc<WasmEngine>,
    state: StateDir,
    images: ImageResolver,
    backoff: BackoffConfig,
    node_name: String,
    tap: Option<Arc<dyn LogTap>>,
    allow_host_path: bool,
    volume_usage_interval: Duration,
}

impl Runtime {
    /// Opens the state directory and builds the engine.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let state = StateDir::open(&config.state_dir)?;
        let cache = config.compile_cache.unwrap_or_else(|| state.compile_cache());
        let engine = Arc::new(WasmEngine::new(&cache)?);
        Ok(Self {
            engine,
            state,
            images: ImageResolver::new(config.aliases),
            backoff: config.backoff,
            node_name: config.node_name,
            tap: config.tap,
            allow_host_path: config.allow_host_path,
            volume_usage_interval: config.volume_usage_interval,
        })
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    pub(crate) fn engine(&self) -> &Arc<WasmEngine> {
        &self.engine
    }

    pub(crate) fn node_name(&self) -> &str {
        &self.node_name
    }

    pub(crate) fn tap(&self) -> Option<Arc<dyn LogTap>> {
        self.tap.clone()
    }

    pub(crate) fn backoff(&self) -> &BackoffConfig {
        &self.backoff
    }

    pub(crate) fn volume_usage_interval(&self) -> Duration {
        self.volume_usage_interval
    }

    /// Resolves and compiles every container image of every pod in
    /// `manifests` (paths relative to `base_dir`), so a bad image is refused
    /// before any pod starts. Volumes are checked too: unsupported sources,
    /// and hostPath unless [`RuntimeConfig::allow_host_path`], are refused
    /// ([`RuntimeError::Unsupported`]). Returns one plan per pod, in input order.
    pub async fn plan(&self, manifests: &Manifests, base_dir: &Path) -> Result<Vec<PodPlan>, RuntimeError> {
        let objects = Arc::new(EnvObjects { config_maps: manifests.config_maps.clone(), secrets: manifests.secrets.clone() });
        let mut plans = Vec::new();
        for pod in &manifests.pods {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let spec = pod.spec.clone().unwrap_or_default();
            for (i, c) in spec.init_containers.iter().flatten().enumerate() {
                if c.restart_policy.as_deref() == Some("Always") {
                    return Err(RuntimeError::Unsupported {
                        pod: pod_name,
                        field: format!("spec.initContainers[{i}].restartPolicy"),
                        reason: "native sidecar containers (init containers with restartPolicy: Always) are not supported by this wasmpod version".into(),
                    });
                }
            }
            crate::volume::admit(pod, self.allow_host_path)
                .map_err(|r| RuntimeError::Unsupported { pod: pod_name.clone(), field: r.field, reason: r.reason })?;
            let mut images = HashMap::new();
            let lists = [("initContainers", spec.init_containers.clone().unwrap_or_default()), ("containers", spec.containers.clone())];
            for (list, containers) in lists {
                for (i, c) in containers.iter().enumerate() {
                    let image = c.image.as_deref().unwrap_or_default();
                    let field = format!("{list}[{i}]");
                    let resolved = self.images.resolve(image, base_dir).map_err(|source| RuntimeError::Image {
                        pod: pod_name.clone(),
                        container: c.name.clone(),
                        field: field.clone(),
                        source,
                    })?;
                    let loaded = self.engine.load(image, resolved.bytes.clone()).await.map_err(|source| RuntimeError::Compile {
                        pod: pod_name.clone(),
                        container: c.name.clone(),
                        field,
                        source,
                    })?;
                    images.insert(c.name.clone(), PlannedImage { image: resolved, loaded });
                }
            }
            plans.push(PodPlan { pod: pod.clone(), images, objects: objects.clone() });
        }
        Ok(plans)
    }

    /// Starts a planned pod. Fails at once if the pod is already running
    /// from this state directory (in this or another process). Must be
    /// called within a tokio runtime: the pod runs as tasks on it.
    pub fn start(&self, plan: PodPlan) -> Result<PodHandle, RuntimeError> {
        Ok(crate::pod::start(self, plan)?)
    }
}
