//! [`Runtime`]: the entry point for embedders and every front end (the
//! HTTP API, the CLI), and the pod operations on it, one file each: plan
//! and start (`mod.rs`), `create`, `get` (and list), `replace`, `delete`,
//! `exec` (and port-forward connections), `events`, `watch`, `logs`,
//! `image_gc` (image garbage collection over the pods), `services`,
//! `shutdown` (and settle); over the pods this process runs
//! (`registry.rs`) and the records of the state directory (`view.rs`).

#[cfg(feature = "compiler")]
mod compile;
mod config;
mod create;
mod delete;
mod endpoints;
mod error;
mod events;
mod exec;
mod get;
mod image_gc;
mod logs;
mod namespaces;
mod registry;
mod replace;
mod services;
mod shutdown;
mod state_view;
mod usage;
mod view;
mod watch;

#[cfg(feature = "compiler")]
pub use compile::{CompiledImage, ImageCompiler};
pub use config::Replay;
pub use create::absolute_image_paths;
pub use delete::FAILED_DELETE;
pub use error::Error;
pub use exec::Attach;
pub use image_gc::ImageGcTask;
pub use logs::{LogOptions, LogStream};
use registry::PodRegistry;
pub use state_view::StateView;
pub use usage::PodUsage;
use view::PodView;
pub use watch::{PodWatch, WatchEvent, WatchEventType};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::image::{Alias, ImageResolver};
use crate::manifest::Manifests;
use crate::net::ClusterNetwork;
use crate::pod::backoff::BackoffConfig;
use crate::pod::{EnvObjects, PlannedImage, PodHandle, PodPlan};
use crate::sandbox::Engine as WasmEngine;
use crate::store::{LogTap, StateDir};

/// Everything a [`Runtime`] is configured with. Defaults: Kubernetes'
/// back-off durations, no user image aliases, no log tap, node name = the
/// host's name, hostPath volumes refused, emptyDir usage measured every
/// 10 seconds, 4096 open files and sockets per pod.
#[non_exhaustive]
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
    /// How long one second of a probe's timing fields
    /// (`initialDelaySeconds`, `periodSeconds`, `timeoutSeconds`) lasts.
    /// Default 1 s; tests shorten it, as the manifest's fields are whole
    /// seconds.
    pub probe_second: Duration,
    /// How container logs rotate (the kubelet's `containerLogMaxSize` and
    /// `containerLogMaxFiles`; default 10 MiB x 5 files).
    pub log_rotation: crate::store::LogRotation,
    /// Files and sockets the guests of one pod may hold open at once
    /// (default [`DEFAULT_MAX_OPEN_FILES`](crate::DEFAULT_MAX_OPEN_FILES));
    /// past it, opening fails inside the guest, so no pod can take the
    /// process's file descriptors from the others and the runtime.
    pub max_open_files_per_pod: usize,
    /// How instances get their memories: a pool sized from the machine
    /// (default), on-demand mappings, or a pool of a given size.
    pub instance_allocation: crate::engine::InstanceAllocation,
    /// Registry credentials of the node (a pod's `imagePullSecrets` are
    /// tried first); default none.
    pub keyring: crate::registry::Keyring,
    /// Registry limits and timeouts, and registries spoken to over plain HTTP.
    pub registry: crate::registry::RegistryConfig,
    /// Whether pods reach addresses outside the runtime through the host's
    /// sockets (default: they do, as Kubernetes pods do; never the host's
    /// loopback or link-local addresses).
    pub egress: crate::net::Egress,
    /// Whether the Services and NetworkPolicies applied are recorded in the
    /// state directory (`objects/`), for [`Runtime::restore_objects`] to
    /// serve again after a restart. Off by default (a `run` process's
    /// objects end with it); `wasmpod serve` turns it on.
    pub record_objects: bool,
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
            probe_second: Duration::from_secs(1),
            log_rotation: crate::store::LogRotation::default(),
            max_open_files_per_pod: crate::limits::DEFAULT_MAX_OPEN_FILES,
            instance_allocation: crate::engine::InstanceAllocation::Auto,
            keyring: crate::registry::Keyring::default(),
            registry: crate::registry::RegistryConfig::default(),
            egress: crate::net::Egress::Allow,
            record_objects: false,
        }
    }
}

/// A wasmpod runtime: one engine, one state directory, any number of pods.
pub struct Runtime {
    engine: Arc<WasmEngine>,
    state: StateDir,
    images: ImageResolver,
    /// Pulls registry images into the state directory's image store.
    puller: Arc<crate::pod::ImagePuller>,
    backoff: BackoffConfig,
    node_name: String,
    tap: Option<Arc<dyn LogTap>>,
    cluster: Arc<ClusterNetwork>,
    /// The pods this process started (see `registry.rs`).
    registry: Arc<PodRegistry>,
    allow_host_path: bool,
    volume_usage_interval: Duration,
    probe_second: Duration,
    log_rotation: crate::store::LogRotation,
    max_open_files_per_pod: usize,
    /// What this machine offers pods, read once.
    allocatable: crate::pod::Allocatable,
    /// The host's resolver configuration, read once.
    dns: Arc<crate::pod::DnsHost>,
    /// The Services applied, as returned (`services.rs`).
    services: std::sync::Mutex<std::collections::BTreeMap<(String, String), k8s_openapi::api::core::v1::Service>>,
    /// Their node ports' listeners.
    node_ports: services::NodePorts,
    /// The NetworkPolicies applied, as returned.
    policies: std::sync::Mutex<std::collections::BTreeMap<(String, String), k8s_openapi::api::networking::v1::NetworkPolicy>>,
    /// The ConfigMaps and Secrets applied, as returned (`config.rs`).
    config_maps: config::ObjectMap<k8s_openapi::api::core::v1::ConfigMap>,
    secrets: config::ObjectMap<k8s_openapi::api::core::v1::Secret>,
    /// Recent deletions of those objects, for watches (`config.rs`).
    deletions: std::sync::Mutex<config::DeletionLog>,
    /// Whether applied objects are recorded ([`RuntimeConfig::record_objects`]).
    record_objects: bool,
    /// Namespaces created or being deleted (`namespaces.rs`).
    namespace_map: namespaces::NamespaceMap,
    /// When this runtime started: the creation time shown for implicit
    /// namespaces.
    started: jiff::Timestamp,
}

impl Runtime {
    /// Opens the state directory and builds the engine.
    pub fn new(config: RuntimeConfig) -> Result<Self, Error> {
        let state = StateDir::open(&config.state_dir)?;
        let cache = config.compile_cache.unwrap_or_else(|| state.compile_cache());
        let engine = Arc::new(WasmEngine::with_choice(&cache, config.instance_allocation)?);
        let pulls_engine = engine.clone();
        let allocatable = crate::pod::Allocatable::here(state.path());
        let cluster = ClusterNetwork::new();
        cluster.set_egress(config.egress);
        Ok(Self {
            engine,
            allocatable,
            dns: Arc::new(crate::pod::DnsHost::from_system()),
            state,
            images: ImageResolver::new(config.aliases),
            puller: Arc::new(crate::pod::ImagePuller::new(crate::registry::Registry::open(&config.state_dir, config.keyring, config.registry)?, pulls_engine)),
            backoff: config.backoff,
            node_name: config.node_name,
            tap: config.tap,
            cluster,
            registry: Arc::new(PodRegistry::new()),
            allow_host_path: config.allow_host_path,
            volume_usage_interval: config.volume_usage_interval,
            probe_second: config.probe_second,
            log_rotation: config.log_rotation,
            max_open_files_per_pod: config.max_open_files_per_pod,
            services: Default::default(),
            node_ports: Default::default(),
            policies: Default::default(),
            config_maps: Default::default(),
            secrets: Default::default(),
            deletions: Default::default(),
            record_objects: config.record_objects,
            namespace_map: Default::default(),
            started: jiff::Timestamp::now(),
        })
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// How wasm instances get their memories and stacks here (the pooling
    /// allocator's size, or on-demand), and why.
    pub fn allocation(&self) -> &crate::engine::AllocationPlan {
        self.engine.allocation()
    }

    pub(crate) fn registry(&self) -> &Arc<PodRegistry> {
        &self.registry
    }

    /// This process's view of the pods of its state directory.
    pub(crate) fn view(&self) -> PodView {
        PodView { state: self.state().clone(), registry: self.registry().clone() }
    }

    /// Resolves and compiles every local container image (a path, a
    /// builtin, an alias) of every pod in `manifests` (paths relative to
    /// `base_dir`), so a bad one is refused before any pod starts. Any
    /// other image is a registry reference its container pulls when it
    /// starts, as the kubelet does: one that cannot be pulled leaves the
    /// container Waiting (`ErrImagePull`, `ImagePullBackOff`, ...). Volumes are checked too: unsupported sources,
    /// and hostPath unless [`RuntimeConfig::allow_host_path`], are refused
    /// ([`Error::Unsupported`]). Returns one plan per pod, in input order.
    pub async fn plan(&self, manifests: &Manifests, base_dir: &Path) -> Result<Vec<PodPlan>, Error> {
        // The input's own objects first: a lookup takes the first match.
        let (stored_maps, stored_secrets) = self.stored_env_objects();
        let objects = Arc::new(EnvObjects {
            config_maps: manifests.config_maps.iter().cloned().chain(stored_maps).collect(),
            secrets: manifests.secrets.iter().cloned().chain(stored_secrets).collect(),
        });
        let mut plans = Vec::new();
        for pod in &manifests.pods {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let spec = pod.spec.clone().unwrap_or_default();
            crate::volume::admit(pod, self.allow_host_path).map_err(|r| Error::Unsupported { pod: pod_name.clone(), field: r.field, reason: r.reason })?;
            let mut images = HashMap::new();
            let lists = [("initContainers", spec.init_containers.clone().unwrap_or_default()), ("containers", spec.containers.clone())];
            for (list, containers) in lists {
                for (i, c) in containers.iter().enumerate() {
                    images.insert(c.name.clone(), self.plan_image(&pod_name, c, &format!("{list}[{i}]"), base_dir).await?);
                }
            }
            plans.push(PodPlan { pod: pod.clone(), images, objects: objects.clone(), resume: None });
        }
        Ok(plans)
    }

    /// Resolves container `c`'s image (`field` names it in errors): a
    /// file, builtin or alias loaded (compiled), else a registry image
    /// pulled when the container starts.
    pub(crate) async fn plan_image(
        &self,
        pod_name: &str,
        c: &k8s_openapi::api::core::v1::Container,
        field: &str,
        base_dir: &Path,
    ) -> Result<PlannedImage, Error> {
        let image = c.image.as_deref().unwrap_or_default();
        let resolved = match self.images.resolve(image, base_dir) {
            Err(crate::image::ImageError::Unknown { .. }) => return Ok(PlannedImage::Registry(crate::pod::RegistryImage::new(image, c))),
            other => other,
        }
        .map_err(|source| Error::Image { pod: pod_name.to_owned(), container: c.name.clone(), field: field.to_owned(), source: Box::new(source) })?;
        let loaded = self.engine.load(image, resolved.bytes.clone(), resolved.digest).await.map_err(|source| Error::Compile {
            pod: pod_name.to_owned(),
            container: c.name.clone(),
            field: field.to_owned(),
            source: Box::new(source),
        })?;
        Ok(PlannedImage::Local { image: resolved, loaded })
    }

    /// Starts a planned pod. Fails at once if the pod is already running
    /// from this state directory (in this or another process). Must be
    /// called within a tokio runtime: the pod runs as tasks on it. The pod
    /// joins this runtime's registry, so [`Runtime::get`], [`Runtime::list`]
    /// and the control API see it live.
    pub fn start(&self, plan: PodPlan) -> Result<PodHandle, Error> {
        let host_ports = bind_host_ports(&plan.pod)?;
        let submitted = plan.pod().clone();
        let context = crate::pod::PodContext {
            engine: &self.engine,
            state: &self.state,
            cluster: &self.cluster,
            node_name: &self.node_name,
            tap: self.tap.clone(),
            backoff: &self.backoff,
            volume_usage_interval: self.volume_usage_interval,
            probe_second: self.probe_second,
            log_rotation: self.log_rotation,
            max_open_files_per_pod: self.max_open_files_per_pod,
            allocatable: self.allocatable,
            dns: &self.dns,
            puller: &self.puller,
        };
        let handle = crate::pod::start(&context, plan, host_ports)?;
        self.registry.insert(submitted, &handle);
        Ok(handle)
    }
}

/// Opens every `hostPort` of the pod on host loopback, before the pod
/// starts, so a taken port refuses the pod instead of failing later.
/// `hostIP` may only name loopback: `hostPort` is one of the two doors into
/// the pod network, and it stays on the user's own machine.
fn bind_host_ports(pod: &k8s_openapi::api::core::v1::Pod) -> Result<Vec<(std::net::TcpListener, u16)>, Error> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let mut out = Vec::new();
    let lists = [("initContainers", spec.init_containers.unwrap_or_default()), ("containers", spec.containers)];
    for (list, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            for (j, p) in c.ports.iter().flatten().enumerate() {
                let Some(host_port) = p.host_port.filter(|hp| *hp > 0) else { continue };
                let field = format!("spec.{list}[{i}].ports[{j}]");
                if p.protocol.as_deref().is_some_and(|proto| proto != "TCP") {
                    return Err(Error::Unsupported { pod: name, field: format!("{field}.protocol"), reason: "hostPort forwards TCP only".into() });
                }
                if let Some(ip) = p.host_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "127.0.0.1" && *ip != "localhost") {
                    return Err(Error::Unsupported {
                        pod: name,
                        field: format!("{field}.hostIP"),
                        reason: format!("hostPort listens on host loopback (127.0.0.1) only, not {ip:?}: the pod network is not exposed beyond this machine"),
                    });
                }
                if host_network {
                    // The guest binds the host port itself; Kubernetes
                    // requires the two numbers to agree.
                    if host_port != p.container_port {
                        return Err(Error::Unsupported {
                            pod: name,
                            field: format!("{field}.hostPort"),
                            reason: format!("must match `containerPort` ({}) when `hostNetwork` is true", p.container_port),
                        });
                    }
                    continue;
                }
                let port = host_port as u16;
                let listener = std::net::TcpListener::bind(("127.0.0.1", port))
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| Error::HostPort { pod: name.clone(), field: format!("{field}.hostPort"), port, source })?;
                out.push((listener, p.container_port as u16));
            }
        }
    }
    Ok(out)
}
