//! Starting a pod: take its lock, write its first record, then (in the
//! pod's own task) load its images, resolve every container's argv, env
//! and mounts, and hand over to the supervisor.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::watch;

use super::container::{ContainerKind, ContainerPlan, RegistryPlan};
use super::events::{EventRecorder, PodEvent, field_path};
use super::instance::{ContainerSandbox, InstanceSetup};
use super::supervisor::Supervisor;
use super::{PlannedImage, PodHandle, PodPlan, bare_status, waiting_state};
use crate::engine::LoadSource;
use crate::manifest::{self, PodFacts};
use crate::store::StoreError;
use crate::volume::{PodVolumes, StorageWatch};

/// What a pod takes from the runtime that starts it.
pub(crate) struct PodContext<'a> {
    /// The engine its images were loaded by.
    pub engine: &'a std::sync::Arc<crate::sandbox::Engine>,
    /// The state directory its record, logs and volumes go in.
    pub state: &'a crate::store::StateDir,
    /// The cluster network it joins.
    pub cluster: &'a std::sync::Arc<crate::net::ClusterNetwork>,
    /// `spec.nodeName`, and the source of its events.
    pub node_name: &'a str,
    /// Where log lines are copied as they are written, besides the log files.
    pub tap: Option<std::sync::Arc<dyn crate::store::LogTap>>,
    /// Restart back-off.
    pub backoff: &'a super::backoff::BackoffConfig,
    /// How often volume usage is measured.
    pub volume_usage_interval: std::time::Duration,
    /// What a probe's second is (shortened in tests).
    pub probe_second: std::time::Duration,
    /// When container logs rotate.
    pub log_rotation: crate::store::LogRotation,
    /// The pod's cap on open files and sockets.
    pub max_open_files_per_pod: usize,
    /// What the node offers (the downward API's default limits).
    pub allocatable: super::Allocatable,
    /// The host's resolver configuration (for `/etc/resolv.conf`).
    pub dns: &'a std::sync::Arc<super::DnsHost>,
    /// Pulls its registry images.
    pub puller: &'a std::sync::Arc<super::pull::ImagePuller>,
}

/// Locks and records the pod, then spawns its task.
pub(crate) fn start(rt: &PodContext<'_>, plan: PodPlan, host_ports: Vec<(std::net::TcpListener, u16)>) -> Result<PodHandle, StoreError> {
    let PodPlan { mut pod, images, objects, resume } = plan;
    let resume = resume.unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let dir = rt.state.pod(&namespace, &name);
    let lock = dir.lock()?;
    let spec_ref = pod.spec.as_ref();
    let hostname = spec_ref.and_then(|s| s.hostname.clone()).filter(|h| !h.is_empty()).unwrap_or_else(|| name.clone());
    let network = rt.cluster.attach_preferring(&hostname, &namespace, resume.pod_ip);
    // What the pod offers Services: its labels and named container ports.
    let named_ports = spec_ref.iter().flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten())).flat_map(|c| c.ports.iter().flatten());
    network.set_endpoint_info(crate::net::EndpointInfo {
        pod: name.clone(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        ports: named_ports
            .filter_map(|p| {
                let name = p.name.clone().filter(|n| !n.is_empty())?;
                let protocol = if p.protocol.as_deref() == Some("UDP") { crate::net::Protocol::Udp } else { crate::net::Protocol::Tcp };
                Some((name, u16::try_from(p.container_port).ok()?, protocol))
            })
            .collect(),
    });
    if let Some(sub) = spec_ref.and_then(|s| s.subdomain.as_deref()).filter(|s| !s.is_empty()) {
        network.publish_name(&format!("{hostname}.{sub}.{namespace}.svc.cluster.local"));
    }
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    // The pod's IPC namespace: its containers share it, nobody else sees it.
    let ipc = std::sync::Arc::new(crate::ipc::IpcNamespace::new(format!("{namespace}/{name}")));
    // Its cap on open files and sockets, shared by all its instances.
    let handles = crate::limits::HandleAccount::new(rt.max_open_files_per_pod);
    // A host-network pod's IP is the node's, as in Kubernetes.
    let pod_ip = if host_network { "127.0.0.1".to_owned() } else { network.ip().to_string() };
    // A new run of a pod that ended earlier replaces its record and logs.
    dir.clear()?;

    let now = Time(jiff::Timestamp::now());
    pod.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
    pod.metadata.creation_timestamp = Some(now.clone());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(rt.node_name.to_owned());
    let has_init = spec.init_containers.as_ref().is_some_and(|c| !c.is_empty());
    let initial = |c: &Container, reason: &str| {
        let mut s = bare_status(&c.name, c.image.as_deref().unwrap_or_default(), waiting_state(reason, None));
        s.restart_count = resume.restarts.get(&c.name).copied().unwrap_or(0);
        s
    };
    let app_reason = if has_init { "PodInitializing" } else { "ContainerCreating" };
    pod.status = Some(PodStatus {
        phase: Some("Pending".into()),
        host_ip: Some("127.0.0.1".into()),
        host_ips: Some(vec![k8s_openapi::api::core::v1::HostIP { ip: "127.0.0.1".into() }]),
        pod_ip: Some(pod_ip.clone()),
        pod_ips: Some(vec![k8s_openapi::api::core::v1::PodIP { ip: pod_ip }]),
        start_time: Some(resume.start_time.clone().unwrap_or(now)),
        init_container_statuses: spec.init_containers.as_ref().map(|cs| cs.iter().map(|c| initial(c, "PodInitializing")).collect()),
        container_statuses: Some(spec.containers.iter().map(|c| initial(c, app_reason)).collect()),
        qos_class: Some(super::qos::pod_qos(spec).to_owned()),
        ..Default::default()
    });
    dir.write_record(&pod)?;

    let (publish, status) = watch::channel(pod.clone());
    let (stop_tx, stop) = watch::channel(false);
    let (updates_tx, updates) = tokio::sync::mpsc::unbounded_channel();
    let grace = super::GraceOverride::default();
    let exec_targets = super::exec::ExecTargets::default();
    let recorder = EventRecorder::new(&pod, rt.node_name);
    let started = tokio::time::Instant::now();
    let spec_deadline = super::supervisor::deadline(started, &pod);
    let mut sup = Supervisor {
        pod,
        dir,
        lock,
        recorder,
        engine: rt.engine.clone(),
        network: network.clone(),
        ipc: ipc.clone(),
        handles,
        exec_targets: exec_targets.clone(),
        tap: rt.tap.clone(),
        publish,
        stop,
        init: Vec::new(),
        app: Vec::new(),
        init_blocked: false,
        sidecar_stops: Default::default(),
        image_updates: Default::default(),
        store_errors: Vec::new(),
        running: HashMap::new(),
        volumes: PodVolumes::default(),
        storage_watch: None,
        memory_watch: None,
        kill: stop_tx.clone(),
        grace: grace.clone(),
        failed: None,
        // Counted from the pod's start (`status.startTime`), as the kubelet does.
        deadline: spec_deadline,
        started,
        updates: Some(updates),
    };
    let backoff = *rt.backoff;
    let usage_interval = rt.volume_usage_interval;
    let pod_ipc = ipc.clone();
    let probe_second = rt.probe_second;
    let log_rotation = rt.log_rotation;
    let allocatable = rt.allocatable;
    let dns = rt.dns.clone();
    let puller = rt.puller.clone();
    let task = tokio::spawn(async move {
        let pod_name = sup.pod.metadata.name.clone().unwrap_or_default();
        sup.event(PodEvent::normal("Scheduled", None, format!("Successfully assigned {namespace}/{pod_name} to {}", sup.node_name())));
        let settings = Settings { backoff, probe_second, log_rotation, usage_interval, allocatable, dns, puller };
        prepare(&mut sup, &images, &objects, settings).await;
        let deleting = *sup.stop.borrow();
        sup.refresh(deleting);
        let forwards = forward_host_ports(host_ports, &sup.network, &pod_name);
        let end = sup.run().await;
        // Close the host ports before the pod counts as ended: an aborted
        // task's join completes once its listener is dropped.
        for f in forwards {
            f.abort();
            let _ = f.await;
        }
        // Every instance has ended: the pod's IPC objects go with it.
        pod_ipc.remove_all();
        end
    });
    Ok(PodHandle {
        namespace: namespace_of(&status),
        name,
        status,
        stop: stop_tx,
        task,
        network,
        host_network,
        exec_targets,
        grace,
        engine: rt.engine.clone(),
        ipc,
        updates: updates_tx,
    })
}

fn namespace_of(rx: &watch::Receiver<Pod>) -> String {
    rx.borrow().metadata.namespace.clone().unwrap_or_else(|| "default".into())
}

/// The runtime's settings a pod's preparation uses.
struct Settings {
    backoff: super::backoff::BackoffConfig,
    probe_second: std::time::Duration,
    log_rotation: crate::store::LogRotation,
    usage_interval: std::time::Duration,
    allocatable: super::Allocatable,
    dns: std::sync::Arc<super::DnsHost>,
    puller: std::sync::Arc<super::pull::ImagePuller>,
}

/// Loads every image and builds each container's plan; a container that
/// cannot be prepared is reported Waiting with Kubernetes' reason.
async fn prepare(sup: &mut Supervisor, images: &HashMap<String, PlannedImage>, objects: &super::EnvObjects, settings: Settings) {
    let Settings { backoff, probe_second, log_rotation, usage_interval, allocatable, dns, puller } = settings;
    let pod = sup.pod.clone();
    let spec = pod.spec.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let socket_policy = if host_network { crate::net::SocketPolicy::Host } else { crate::net::SocketPolicy::Pod(sup.network.clone()) };
    let facts = PodFacts {
        pod_ip: if host_network { "127.0.0.1".into() } else { sup.network.ip().to_string() },
        host_ip: "127.0.0.1".into(),
        node_name: sup.node_name(),
        node_allocatable_cpu_millis: allocatable.cpu_millis,
        node_allocatable_memory_bytes: allocatable.memory_bytes,
        node_allocatable_ephemeral_storage_bytes: allocatable.ephemeral_storage_bytes,
        // The Services of the namespace when the pod starts.
        service_env: if spec.enable_service_links != Some(false) { super::service_env::service_env(&sup.network.services()) } else { Vec::new() },
    };
    // The kubelet's /etc/hosts, /etc/hostname and /etc/resolv.conf, for
    // pods on the pod network.
    let etc = (!host_network).then(|| {
        let domain = spec.subdomain.as_deref().filter(|s| !s.is_empty()).map(|sub| format!("{sub}.{namespace}.svc.{}", super::dns::CLUSTER_DOMAIN));
        let (resolv, warnings) = super::dns::resolv_conf(&spec, &namespace, &dns);
        for message in warnings {
            sup.event(PodEvent::warning("DNSConfigForming", None, message));
        }
        // hostAliases resolve as /etc/hosts lists them.
        let aliases = spec.host_aliases.iter().flatten();
        let named = aliases.filter_map(|a| Some((a.ip.parse().ok()?, a.hostnames.iter().flatten())));
        sup.network.set_host_aliases(named.flat_map(|(ip, names)| names.map(move |n| (n.clone(), ip))).collect());
        let files = super::etc_files::EtcFiles::new(
            &[sup.network.ip().to_string()],
            sup.network.hostname(),
            domain.as_deref(),
            spec.host_aliases.as_deref().unwrap_or_default(),
            resolv.text(),
        );
        std::sync::Arc::new(files)
    });
    let (volumes, failed) = PodVolumes::materialize(&pod, &objects.sources(), &facts, &sup.dir.path().join("volumes"));
    for (volume, message) in failed {
        // The kubelet's event for a volume it cannot set up.
        sup.event(PodEvent::warning("FailedMount", None, format!("MountVolume.SetUp failed for volume \"{volume}\" : {message}")));
    }
    sup.volumes = volumes;
    // Who wrote what in the memory-backed volumes, for memory limits.
    let memory_files = sup.volumes.memory_files().cloned();

    // The pod's imagePullSecrets, tried before the node's credentials.
    let (keyring, warnings) = super::pull::pull_secrets(&pod, &objects.secrets);
    for message in warnings {
        sup.event(PodEvent::warning("FailedToRetrieveImagePullSecret", None, message));
    }
    let mut pulled = std::collections::HashSet::new();
    let lists = [(ContainerKind::Init, spec.init_containers.clone().unwrap_or_default()), (ContainerKind::App, spec.containers.clone())];
    for (kind, containers) in lists {
        for (index, c) in containers.iter().enumerate() {
            if kind == ContainerKind::Init && sup.init_blocked {
                break;
            }
            let image_ref = c.image.clone().unwrap_or_default();
            let Some(planned) = images.get(&c.name) else { continue };
            // Runtime::plan loaded a local image; report it as the kubelet
            // reports a pull, once per image. A registry image is pulled
            // by the container's worker, at each start.
            if let PlannedImage::Local { image, loaded } = planned
                && pulled.insert(image_ref.clone())
            {
                let what = format!("{}: {} of {} bytes", image.description, loaded.program.kind(), image.bytes.len());
                let message = match loaded.source {
                    // As the kubelet reports a pull: Pulling, then the time.
                    LoadSource::Compiled => {
                        sup.event(PodEvent::normal("Pulling", Some(field_path(kind, &c.name)), format!("Pulling image \"{image_ref}\"")));
                        format!("Successfully pulled image \"{image_ref}\" in {:.3}s ({what}, compiled)", loaded.elapsed.as_secs_f64())
                    }
                    LoadSource::DiskCache => format!("Container image \"{image_ref}\" already present on machine ({what}, loaded from the compile cache)"),
                    LoadSource::Memory => format!("Container image \"{image_ref}\" already present on machine ({what}, already loaded)"),
                };
                sup.event(PodEvent::normal("Pulled", Some(field_path(kind, &c.name)), message));
            }
            // The Services' variables (enableServiceLinks, on by default)
            // are added to each instance as they are when it starts
            // (`InstanceTemplate::spec`); `$(VAR)` here sees them as they
            // were when the pod started.
            let env = match manifest::resolve_env(&pod, c, &objects.sources(), &facts) {
                Ok(env) => env,
                Err(e) => {
                    let msg = e.to_string();
                    sup.event(PodEvent::warning("Failed", Some(field_path(kind, &c.name)), format!("Error: {msg}")));
                    block(sup, kind, index, c, "CreateContainerConfigError", msg);
                    continue;
                }
            };
            let identity = match crate::security::identity(&name, &spec, c) {
                Ok(i) => std::sync::Arc::new(i),
                Err(e) => {
                    // The kubelet's CreateContainerConfigError, with its message.
                    let msg = e.kubelet_message().to_owned();
                    sup.event(PodEvent::warning("Failed", Some(field_path(kind, &c.name)), format!("Error: {msg}")));
                    block(sup, kind, index, c, "CreateContainerConfigError", msg);
                    continue;
                }
            };
            // $(VAR) in command/args sees the container's env as the
            // manifest defines it, not what the runtime adds below.
            let lookup = |k: &str| {
                let own = env.iter().rev().find(|(n, _)| n == k);
                own.or_else(|| facts.service_env.iter().find(|(n, _)| n == k)).map(|(_, v)| v.clone())
            };
            let command: Vec<String> = c.command.iter().flatten().map(|s| manifest::expand(s, lookup)).collect();
            let args: Vec<String> = c.args.iter().flatten().map(|s| manifest::expand(s, lookup)).collect();
            // subPathExpr sees the same variables as command and args.
            let mounts = match sup.volumes.plan_mounts(c, lookup, identity.volume_writer()) {
                Ok(m) => m,
                Err(e) => {
                    let msg = crate::error_text::full_message(&e);
                    sup.event(PodEvent::warning("Failed", Some(field_path(kind, &c.name)), format!("Error: {msg}")));
                    block(sup, kind, index, c, "CreateContainerConfigError", msg);
                    continue;
                }
            };
            let rootfs = sup.dir.rootfs(&c.name);
            // The root holds what the container wrote (there are no image
            // layers): its files are the container's, the root itself root's.
            let root_owners = std::sync::Arc::new(crate::volume::OwnerBook::new(rootfs.clone(), (0, 0)));
            root_owners.add_writer((identity.uid, identity.gid));
            let read_only_root = crate::security::read_only_root(c);
            // Every container has its accounts, limited or not: they are
            // also its usage for the kubelet's stats.
            let memory = Some(crate::limits::MemoryAccount::new(memory_limit(c).unwrap_or(u64::MAX)));
            if let (Some(files), Some(account)) = (&memory_files, &memory) {
                for root in sup.volumes.writable_memory_roots(&mounts) {
                    files.add_writer(root, account);
                }
            }
            let cpu = Some(cpu_limit(c).map_or_else(crate::limits::CpuAccount::unlimited, crate::limits::CpuAccount::new));
            let sandbox = std::sync::Arc::new(ContainerSandbox {
                rootfs,
                read_only_root,
                root_owners,
                mounts,
                network: socket_policy.clone(),
                ipc: sup.ipc.clone(),
                identity,
                memory,
                cpu,
                handles: sup.handles.clone(),
                etc: etc.clone(),
            });
            let service_links = (spec.enable_service_links != Some(false)).then(|| sup.network.clone());
            let setup =
                InstanceSetup { env, command, args, working_dir: c.working_dir.clone(), hostname: sup.network.hostname().to_owned(), sandbox, service_links };
            let reimage = std::sync::Arc::new(super::container::Reimage {
                setup: setup.clone(),
                keyring: keyring.clone(),
                puller: puller.clone(),
                exec_targets: sup.exec_targets.clone(),
            });
            let (image_tx, new_images) = tokio::sync::mpsc::unbounded_channel();
            sup.image_updates.insert(c.name.clone(), image_tx);
            let (instance, argv, pull) = match planned {
                PlannedImage::Local { image, loaded } => {
                    let (template, argv) = setup.build(&image.config, loaded.program.clone());
                    let instance = std::sync::Arc::new(template);
                    sup.exec_targets.add(super::exec::ExecTarget { name: c.name.clone(), instance: instance.clone() });
                    (Some(instance), argv, None)
                }
                PlannedImage::Registry(image) => {
                    let pull =
                        RegistryPlan { image: image.clone(), keyring: keyring.clone(), puller: puller.clone(), setup, exec_targets: sup.exec_targets.clone() };
                    (None, Vec::new(), Some(std::sync::Arc::new(pull)))
                }
            };
            let plan = ContainerPlan {
                kind,
                index,
                container: c.clone(),
                image_ref: image_ref.clone(),
                image_id: format!("wasmpod://{image_ref}"),
                instance,
                args: argv,
                pull,
                pod_restart: super::restart::RestartPolicy::of_pod(&spec),
                backoff,
                pod_key: format!("{namespace}/{name}"),
                pod_name: name.clone(),
                pod_namespace: namespace.clone(),
                pod_uid: uid.clone(),
                grace: sup.grace.clone(),
                grace_default: std::time::Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64),
                pre_stop: c.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()),
                post_start: c.lifecycle.as_ref().and_then(|l| l.post_start.clone()),
                probe_second,
                log_rotation,
                sidecar: kind == ContainerKind::Init && super::restart::is_sidecar(c),
                pod_containers: spec.containers.len() + spec.init_containers.as_ref().map_or(0, Vec::len),
                stdin: (c.stdin == Some(true)).then(|| sup.exec_targets.add_stdin(&c.name, c.stdin_once == Some(true))),
                reimage,
                new_images: Some(new_images),
                // A resumed pod's containers count on from the earlier run.
                restarts: sup
                    .pod
                    .status
                    .iter()
                    .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
                    .find(|s| s.name == c.name)
                    .map_or(0, |s| s.restart_count),
            };
            match kind {
                ContainerKind::Init => sup.init.push(plan),
                ContainerKind::App => sup.app.push(plan),
            }
        }
    }
    // The watches: local storage against its limits, and memory-backed
    // files, measured only for containers with a memory limit that can
    // write there.
    let limits = sup.volumes.storage_limits(&sup.pod, |c| [sup.dir.rootfs(c), sup.dir.log_dir(c)]);
    sup.storage_watch = StorageWatch::spawn(limits, usage_interval);
    if let Some(files) = memory_files.filter(|f| f.has_writers()) {
        sup.memory_watch = Some(files.watch(usage_interval.min(crate::volume::MEMORY_FILES_INTERVAL)));
    }
}

/// `resources.limits.memory` in bytes (validated before the pod starts).
fn memory_limit(c: &Container) -> Option<u64> {
    let q = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
    let bytes = manifest::parse_quantity(&q.0).ok()?.value();
    u64::try_from(bytes).ok()
}

/// `resources.limits.cpu` in millicores (validated before the pod starts).
fn cpu_limit(c: &Container) -> Option<u64> {
    let q = c.resources.as_ref()?.limits.as_ref()?.get("cpu")?;
    let millis = manifest::parse_quantity(&q.0).ok()?.milli_value();
    // A zero limit would stop the container for good; Kubernetes rejects
    // it in validation, so it only reaches here through a bug: unlimited.
    u64::try_from(millis).ok().filter(|m| *m > 0)
}

/// Reports a container that cannot be created as Waiting with `reason`.
fn block(sup: &mut Supervisor, kind: ContainerKind, index: usize, c: &Container, reason: &str, message: String) {
    if kind == ContainerKind::Init {
        sup.init_blocked = true;
    }
    let status = bare_status(&c.name, c.image.as_deref().unwrap_or_default(), waiting_state(reason, Some(message)));
    sup.set_container_status(kind, index, status);
}
/// Serves the pod's `hostPort`s for as long as it runs.
fn forward_host_ports(
    listeners: Vec<(std::net::TcpListener, u16)>,
    network: &std::sync::Arc<crate::net::PodNetwork>,
    pod: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (listener, port) in listeners {
        // Bound and set non-blocking by Runtime::start; conversion only
        // fails outside a tokio runtime, which start() already requires.
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { continue };
        // A refused connection just closes the host side, as a host port
        // with nothing behind it would.
        let report: std::sync::Arc<dyn Fn(crate::net::ForwardEvent) + Send + Sync> = std::sync::Arc::new(|_| {});
        let serve = crate::net::serve_forward(listener, network.clone(), pod.to_owned(), port, report);
        tasks.push(tokio::spawn(async move {
            let _ = serve.await;
        }));
    }
    tasks
}
