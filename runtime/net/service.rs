//! Services on the pod network, as kube-proxy and cluster DNS make them:
//! a ClusterIP from the service range whose ports lead to the Ready pods
//! the selector matches (each connection, or UDP flow, picks one: round
//! robin, or the same pod for the same client under `sessionAffinity:
//! ClientIP`), and DNS names (`svc.ns.svc.cluster.local`) that give the
//! ClusterIP, or for a headless Service the Ready pods' IPs.
//!
//! Endpoints are not stored: they are the pods attached to the network
//! right now whose labels, readiness and ports say they serve, so a pod
//! that turns unready, terminates or goes leaves at once. On a node of a
//! real cluster the cluster's EndpointSlices say instead
//! ([`ClusterNetwork::set_slice_endpoints`]), and an endpoint that is no
//! pod of this runtime is reached through the host (`routed.rs`): this is
//! the node's kube-proxy.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ClusterInner, ClusterNetwork, PodNetwork};

/// The default service range (kube-apiserver's `--service-cluster-ip-range`
/// in most distributions).
pub const DEFAULT_SERVICE_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);

/// A transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `TCP` or `UDP`, as Kubernetes writes them.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// Where a Service port leads on each endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPort {
    /// This port number.
    Number(u16),
    /// The container port of this name (pods without it are no endpoint
    /// for this port).
    Name(String),
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Its name (required when there are several).
    pub name: String,
    /// The port on the ClusterIP.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Where it leads.
    pub target: TargetPort,
}

/// A Service as the network serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its ClusterIP: `Some(ip)` to ask for one, `None` for any free one;
    /// ignored when headless.
    pub cluster_ip: Option<Ipv4Addr>,
    /// `clusterIP: None`: no virtual IP, DNS gives the pods.
    pub headless: bool,
    /// Its ports.
    pub ports: Vec<ServicePort>,
    /// The labels its pods carry (empty: no endpoints are managed).
    pub selector: BTreeMap<String, String>,
    /// `sessionAffinity: ClientIP`, for this long.
    pub affinity: Option<Duration>,
    /// `publishNotReadyAddresses`: unready pods serve too.
    pub publish_not_ready: bool,
    /// `type: ExternalName`: the name is an alias (a CNAME) of this one.
    pub external_name: Option<String>,
}

/// An endpoint of a Service as the cluster's EndpointSlices name it
/// (node mode): an address, its conditions, and its ports by the
/// Service port's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceEndpoint {
    /// Its address (a pod's, on any node, or any other).
    pub ip: Ipv4Addr,
    /// `hostname` (a headless Service's per-pod DNS name).
    pub hostname: Option<String>,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// The slice's ports: (the Service port's name, the port, protocol).
    pub ports: Vec<(String, u16, Protocol)>,
}

/// Where a connection from outside the pod network to a Service goes.
pub enum ServiceRoute {
    /// A pod here: the connection, delivered.
    Here(super::Connection),
    /// An endpoint elsewhere, to connect to through the host.
    Elsewhere(SocketAddr),
}

/// Where a connection to a Service goes: a pod of this runtime, or an
/// address reached through the host (a pod of another node).
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// A pod here, at this port.
    Pod(Arc<PodNetwork>, u16),
    /// Elsewhere.
    Remote(SocketAddr),
}

impl Endpoint {
    fn ip(&self) -> Ipv4Addr {
        match self {
            Endpoint::Pod(pod, _) => pod.ip,
            Endpoint::Remote(addr) => super::ip_v4(addr.ip()).unwrap_or(Ipv4Addr::UNSPECIFIED),
        }
    }

    #[cfg(test)]
    fn local(self) -> Option<(Arc<PodNetwork>, u16)> {
        match self {
            Endpoint::Pod(pod, port) => Some((pod, port)),
            Endpoint::Remote(_) => None,
        }
    }
}

/// A Service with its ClusterIP.
pub(super) struct ServiceEntry {
    pub spec: ServiceSpec,
    pub ip: Option<Ipv4Addr>,
    /// The next endpoint to pick, round robin.
    next: std::sync::atomic::AtomicUsize,
    /// ClientIP affinity: client -> (pod IP, last used).
    sticky: std::sync::Mutex<HashMap<Ipv4Addr, (Ipv4Addr, Instant)>>,
    /// The serving pods as of an endpoints epoch (see `serving`).
    serving: std::sync::Mutex<Option<(u64, Vec<std::sync::Weak<PodNetwork>>)>>,
}

/// Why a Service cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The ClusterIP asked for is another Service's.
    #[error("spec.clusterIPs: Invalid value: []string{{\"{0}\"}}: failed to allocate IP {0}: provided IP is already allocated")]
    Allocated(Ipv4Addr),
    /// The ClusterIP asked for is outside the range.
    #[error(
        "spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}"
    )]
    OutOfRange {
        /// The address asked for.
        ip: Ipv4Addr,
        /// The range, `10.96.0.0/12`.
        range: String,
    },
    /// No address left.
    #[error("failed to allocate a serviceIP: range is full")]
    Full,
}

/// How long a UDP flow through a Service keeps its endpoint without
/// traffic (conntrack's UDP timeout).
const UDP_FLOW_TIMEOUT: Duration = Duration::from_secs(30);

/// UDP flows through Services: (client, service address) -> endpoint, and
/// back, so replies come from the Service's address.
#[derive(Default)]
pub(super) struct UdpFlows {
    out: HashMap<(SocketAddr, SocketAddr), (SocketAddr, Instant)>,
    back: HashMap<(SocketAddr, SocketAddr), (SocketAddr, Instant)>,
    /// Datagrams a NetworkPolicy let through, by (from, to): their
    /// replies pass without another check while the flow lives, as a CNI's
    /// connection tracking lets them.
    allowed: HashMap<(SocketAddr, SocketAddr), Instant>,
    /// When the tables were last swept (at most once a second).
    swept: Option<Instant>,
}

impl UdpFlows {
    fn expire(&mut self, now: Instant) {
        if self.swept.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        self.swept = Some(now);
        let live = |last: &Instant| now.duration_since(*last) < UDP_FLOW_TIMEOUT;
        self.out.retain(|_, (_, last)| live(last));
        self.back.retain(|_, (_, last)| live(last));
        self.allowed.retain(|_, last| live(last));
    }

    /// Records that a datagram `from` -> `to` was allowed.
    pub(super) fn allow(&mut self, from: SocketAddr, to: SocketAddr) {
        let now = Instant::now();
        self.expire(now);
        self.allowed.insert((from, to), now);
    }

    /// Whether a datagram `from` -> `to` answers one that was allowed.
    pub(super) fn is_reply(&self, from: SocketAddr, to: SocketAddr) -> bool {
        self.allowed.get(&(to, from)).is_some_and(|last| last.elapsed() < UDP_FLOW_TIMEOUT)
    }
}

/// What a pod offers as an endpoint: its labels and named container ports.
#[derive(Debug, Clone, Default)]
pub struct EndpointInfo {
    /// The pod's name (an EndpointSlice's `targetRef`).
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Named container ports: (name, port, protocol).
    pub ports: Vec<(String, u16, Protocol)>,
}

impl ClusterNetwork {
    /// Adds (or replaces) a Service; returns its ClusterIP (none when
    /// headless). A replaced Service keeps its address unless the spec
    /// asks for another.
    pub fn add_service(&self, spec: ServiceSpec) -> Result<Option<Ipv4Addr>, ServiceError> {
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        let key = (spec.namespace.clone(), spec.name.clone());
        let old = inner.services.get(&key).and_then(|s| s.ip);
        let ip = if spec.headless || spec.external_name.is_some() {
            None
        } else {
            Some(match (spec.cluster_ip, old) {
                (Some(want), _) => {
                    let (base, bits) = inner.service_range;
                    if !super::in_subnet(want, (base, bits)) {
                        return Err(ServiceError::OutOfRange { ip: want, range: format!("{base}/{bits}") });
                    }
                    // The cluster DNS server's address is taken by the
                    // network itself.
                    let dns = super::ip_v4(super::dns::CLUSTER_DNS.ip());
                    if inner.service_ips.get(&want).is_some_and(|k| *k != key) || Some(want) == dns {
                        return Err(ServiceError::Allocated(want));
                    }
                    want
                }
                (None, Some(old)) => old,
                (None, None) => allocate(&mut inner)?,
            })
        };
        if let Some(old) = old.filter(|o| Some(*o) != ip) {
            inner.service_ips.remove(&old);
        }
        if let Some(ip) = ip {
            inner.service_ips.insert(ip, key.clone());
        }
        let entry = ServiceEntry { spec, ip, next: Default::default(), sticky: Default::default(), serving: Default::default() };
        inner.services.insert(key, Arc::new(entry));
        Ok(ip)
    }

    /// Adds (or replaces) a Service of the cluster this node belongs to,
    /// at the ClusterIP the cluster gave it (none: headless or
    /// ExternalName), whatever this network's own service range; a
    /// Service of this network at that address gives it up.
    pub fn add_cluster_service(&self, spec: ServiceSpec, ip: Option<Ipv4Addr>) {
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        let key = (spec.namespace.clone(), spec.name.clone());
        if let Some(old) = inner.services.get(&key).and_then(|s| s.ip).filter(|o| Some(*o) != ip) {
            inner.service_ips.remove(&old);
        }
        if let Some(ip) = ip
            && let Some(other) = inner.service_ips.insert(ip, key.clone()).filter(|k| *k != key)
        {
            inner.services.remove(&other);
        }
        let entry = ServiceEntry { spec, ip, next: Default::default(), sticky: Default::default(), serving: Default::default() };
        inner.services.insert(key, Arc::new(entry));
    }

    /// Gives Service `namespace/name` the endpoints the cluster's
    /// EndpointSlices list (`None`: back to the pods its selector matches
    /// here). Kept apart from the Service, so either may come first.
    pub fn set_slice_endpoints(&self, namespace: &str, name: &str, endpoints: Option<Vec<SliceEndpoint>>) {
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        let key = (namespace.to_owned(), name.to_owned());
        match endpoints {
            Some(e) => inner.slices.insert(key, Arc::new(e)),
            None => inner.slices.remove(&key),
        };
    }

    /// The EndpointSlices' endpoints of `entry`, when the cluster gives them.
    fn sliced(&self, entry: &ServiceEntry) -> Option<Arc<Vec<SliceEndpoint>>> {
        self.inner.lock().expect("cluster network poisoned").slices.get(&(entry.spec.namespace.clone(), entry.spec.name.clone())).cloned()
    }

    /// The endpoints to use of a sliced Service, as kube-proxy picks them:
    /// the ready ones, or when none is, the serving ones that terminate.
    fn usable(endpoints: &[SliceEndpoint]) -> Vec<&SliceEndpoint> {
        let ready: Vec<&SliceEndpoint> = endpoints.iter().filter(|e| e.ready).collect();
        if ready.is_empty() { endpoints.iter().filter(|e| e.serving && e.terminating).collect() } else { ready }
    }

    /// The addresses (and hostnames) DNS gives for a headless Service's
    /// endpoints.
    fn dns_endpoints(&self, entry: &ServiceEntry) -> Vec<(Ipv4Addr, Option<String>)> {
        match self.sliced(entry) {
            Some(e) => {
                let mut out: Vec<(Ipv4Addr, Option<String>)> =
                    e.iter().filter(|e| e.ready || entry.spec.publish_not_ready).map(|e| (e.ip, e.hostname.clone())).collect();
                out.sort();
                out.dedup();
                out
            }
            None => self.serving(entry).iter().map(|p| (p.ip, None)).collect(),
        }
    }

    /// Removes a Service; whether it was there.
    pub fn remove_service(&self, namespace: &str, name: &str) -> bool {
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        let Some(entry) = inner.services.remove(&(namespace.to_owned(), name.to_owned())) else { return false };
        if let Some(ip) = entry.ip {
            inner.service_ips.remove(&ip);
        }
        true
    }

    /// The Services of `namespace` with their ClusterIPs, by name.
    pub fn services(&self, namespace: &str) -> Vec<(ServiceSpec, Option<Ipv4Addr>)> {
        let inner = self.inner.lock().expect("cluster network poisoned");
        let mut out: Vec<_> = inner.services.values().filter(|s| s.spec.namespace == namespace).map(|s| (s.spec.clone(), s.ip)).collect();
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        out
    }

    /// The endpoints of Service `namespace/name` now: each serving pod's
    /// IP, with whether it is ready.
    pub fn endpoints(&self, namespace: &str, name: &str) -> Vec<(Ipv4Addr, bool)> {
        let Some(entry) = self.service(namespace, name) else { return Vec::new() };
        if let Some(sliced) = self.sliced(&entry) {
            let mut out: Vec<(Ipv4Addr, bool)> = sliced.iter().map(|e| (e.ip, e.ready)).collect();
            out.sort();
            out.dedup();
            return out;
        }
        let mut out: Vec<_> = self.serving(&entry).iter().map(|p| (p.ip, p.is_ready())).collect();
        out.sort();
        out
    }

    /// Every pod of Service `namespace/name`'s namespace that its selector
    /// matches, as the EndpointSlice controller lists them: with its
    /// readiness, whether it is terminating, and each Service port's
    /// target on it (`None` where a named port is missing). `None` when
    /// there is no such Service; empty for one without a selector.
    pub fn endpoint_records(&self, namespace: &str, name: &str) -> Option<(ServiceSpec, Vec<EndpointRecord>)> {
        let entry = self.service(namespace, name)?;
        let spec = entry.spec.clone();
        if spec.selector.is_empty() || spec.external_name.is_some() {
            return Some((spec, Vec::new()));
        }
        let pods: Vec<Arc<PodNetwork>> = self.inner.lock().expect("cluster network poisoned").pods.values().filter_map(std::sync::Weak::upgrade).collect();
        let mut out: Vec<EndpointRecord> = pods
            .into_iter()
            .filter(|p| p.namespace == spec.namespace && p.serves(&spec.selector))
            .map(|p| {
                let info = p.endpoint.lock().expect("pod network poisoned").clone();
                let terminating = p.terminating.load(std::sync::atomic::Ordering::Relaxed);
                EndpointRecord {
                    pod: info.pod,
                    uid: info.uid,
                    hostname: p.hostname.clone(),
                    ip: p.ip,
                    // The EndpointSlice controller's rules: serving is the
                    // pod's readiness, ready also needs it not terminating,
                    // unless the Service publishes unready addresses.
                    ready: spec.publish_not_ready || (p.is_ready() && !terminating),
                    serving: p.is_ready(),
                    terminating,
                    ports: spec.ports.iter().map(|sp| p.target_port(&sp.target, sp.protocol)).collect(),
                }
            })
            .collect();
        out.sort_by_key(|r| r.ip);
        Some((spec, out))
    }

    /// A connection from outside the pod network (a NodePort's listener on
    /// the host) to Service `namespace/name`'s `port`: an endpoint picked,
    /// and the connection delivered to it as coming from the node's address
    /// (10.88.0.1), as kube-proxy masquerades NodePort traffic.
    /// With `remote`, also to an endpoint that is no pod here (a cluster
    /// Service's, node mode), which the caller connects to through the host.
    pub fn route_to_service(&self, namespace: &str, name: &str, port: u16, remote: bool) -> Result<ServiceRoute, super::NetError> {
        let entry = self.service(namespace, name).ok_or(super::NetError::ConnectionRefused)?;
        let node = self.node_address();
        match self.pick_any(&entry, port, Protocol::Tcp, node, remote).ok_or(super::NetError::ConnectionRefused)? {
            Endpoint::Pod(pod, target) => {
                if !self.policy_allows(&super::policy::Peer::Outside(IpAddr::V4(node)), &super::policy::Peer::Pod(&pod), target, Protocol::Tcp) {
                    return Err(super::NetError::Unreachable);
                }
                pod.accept_from(SocketAddr::new(IpAddr::V4(node), 0), target).map(ServiceRoute::Here)
            }
            Endpoint::Remote(addr) => Ok(ServiceRoute::Elsewhere(addr)),
        }
    }

    pub(super) fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceEntry>> {
        self.inner.lock().expect("cluster network poisoned").services.get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    pub(super) fn service_at(&self, ip: Ipv4Addr) -> Option<Arc<ServiceEntry>> {
        let inner = self.inner.lock().expect("cluster network poisoned");
        inner.service_ips.get(&ip).and_then(|k| inner.services.get(k)).cloned()
    }

    /// The pods that serve `entry`: its namespace, the selector's labels,
    /// ready (unless it publishes unready ones). Kept per Service until a
    /// pod is attached or goes, or changes its readiness, labels or ports
    /// (the cluster's endpoints epoch), so a connection does not walk
    /// every pod of the runtime.
    fn serving(&self, entry: &ServiceEntry) -> Vec<Arc<PodNetwork>> {
        let spec = &entry.spec;
        if spec.selector.is_empty() {
            return Vec::new();
        }
        let epoch = self.endpoints_epoch.load(std::sync::atomic::Ordering::Acquire);
        {
            let cache = entry.serving.lock().expect("endpoint cache poisoned");
            if let Some((at, pods)) = cache.as_ref().filter(|(at, _)| *at == epoch) {
                let live: Vec<Arc<PodNetwork>> = pods.iter().filter_map(std::sync::Weak::upgrade).collect();
                if live.len() == pods.len() && *at == epoch {
                    return live;
                }
            }
        }
        let pods: Vec<Arc<PodNetwork>> = self.inner.lock().expect("cluster network poisoned").pods.values().filter_map(std::sync::Weak::upgrade).collect();
        let mut out: Vec<Arc<PodNetwork>> = pods
            .into_iter()
            .filter(|p| p.namespace == spec.namespace)
            .filter(|p| spec.publish_not_ready || p.is_ready())
            .filter(|p| p.serves(&spec.selector))
            .collect();
        out.sort_by_key(|p| p.ip);
        // Computed as of `epoch`: a change meanwhile bumped it, and the
        // next connection computes again.
        *entry.serving.lock().expect("endpoint cache poisoned") = Some((epoch, out.iter().map(Arc::downgrade).collect()));
        out
    }

    /// The pod and port a connection from `client` to Service `entry`'s
    /// `port` goes to, among the pods of this runtime; none when no
    /// endpoint here serves that port.
    #[cfg(test)]
    pub(super) fn pick(&self, entry: &ServiceEntry, port: u16, protocol: Protocol, client: Ipv4Addr) -> Option<(Arc<PodNetwork>, u16)> {
        self.pick_any(entry, port, protocol, client, false).and_then(Endpoint::local)
    }

    /// The endpoint a connection from `client` to Service `entry`'s `port`
    /// goes to (`remote`: also endpoints that are no pod of this runtime,
    /// which the EndpointSlices of a node's cluster name); none when no
    /// endpoint serves that port.
    pub(super) fn pick_any(&self, entry: &ServiceEntry, port: u16, protocol: Protocol, client: Ipv4Addr, remote: bool) -> Option<Endpoint> {
        let sp = entry.spec.ports.iter().find(|p| p.port == port && p.protocol == protocol)?;
        let candidates: Vec<Endpoint> = match self.sliced(entry) {
            Some(sliced) => Self::usable(&sliced)
                .into_iter()
                .filter_map(|e| {
                    let (_, target, _) = e.ports.iter().find(|(name, _, proto)| *name == sp.name && *proto == protocol)?;
                    match self.pod(e.ip) {
                        Some(pod) => Some(Endpoint::Pod(pod, *target)),
                        None => remote.then(|| Endpoint::Remote(SocketAddr::new(IpAddr::V4(e.ip), *target))),
                    }
                })
                .collect(),
            None => self.serving(entry).into_iter().filter_map(|pod| pod.target_port(&sp.target, protocol).map(|p| Endpoint::Pod(pod, p))).collect(),
        };
        if candidates.is_empty() {
            return None;
        }
        if let Some(timeout) = entry.spec.affinity {
            let mut sticky = entry.sticky.lock().expect("affinity table poisoned");
            let now = Instant::now();
            if let Some((ip, at)) = sticky.get(&client).copied()
                && now.duration_since(at) < timeout
                && let Some(c) = candidates.iter().find(|e| e.ip() == ip)
            {
                sticky.insert(client, (ip, now));
                return Some(c.clone());
            }
            let chosen = candidates[entry.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % candidates.len()].clone();
            if sticky.len() >= 4096 {
                sticky.retain(|_, (_, at)| now.duration_since(*at) < timeout);
            }
            sticky.insert(client, (chosen.ip(), now));
            return Some(chosen);
        }
        Some(candidates[entry.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % candidates.len()].clone())
    }

    /// The name an ExternalName Service's name is an alias of.
    pub(super) fn external_name(&self, fqdn: &str) -> Option<String> {
        let rest = fqdn.strip_suffix(".svc.cluster.local")?;
        let (name, namespace) = rest.split_once('.')?;
        self.service(namespace, name)?.spec.external_name.clone()
    }

    /// A headless Service's per-pod name, `<dashed-ip>.<svc>.<ns>.svc.cluster.local`
    /// (or `<hostname>.<svc>...` for a pod whose subdomain is the Service,
    /// published by the pod itself): the pod's IP while it serves.
    pub(super) fn headless_pod(&self, fqdn: &str) -> Option<Ipv4Addr> {
        let (first, service) = fqdn.split_once('.')?;
        let ip: Ipv4Addr = first.replace('-', ".").parse().ok()?;
        let rest = service.strip_suffix(".svc.cluster.local")?;
        let (name, namespace) = rest.split_once('.')?;
        let entry = self.service(namespace, name)?;
        (entry.ip.is_none() && entry.spec.external_name.is_none() && self.dns_endpoints(&entry).iter().any(|(p, _)| *p == ip)).then_some(ip)
    }

    /// A headless Service's endpoint by the hostname its EndpointSlice
    /// gives (`<hostname>.<svc>.<ns>.svc.cluster.local`, node mode).
    pub(super) fn sliced_hostname(&self, fqdn: &str) -> Option<Ipv4Addr> {
        let (host, service) = fqdn.split_once('.')?;
        let rest = service.strip_suffix(".svc.cluster.local")?;
        let (name, namespace) = rest.split_once('.')?;
        let entry = self.service(namespace, name)?;
        self.sliced(&entry)?;
        self.dns_endpoints(&entry).into_iter().find(|(_, h)| h.as_deref() == Some(host)).map(|(ip, _)| ip)
    }

    /// The SRV records of `fqdn`: `_<port>._<proto>.<svc>.<ns>.svc.cluster.local`
    /// (that named port) or `<svc>.<ns>.svc.cluster.local` (every port),
    /// each as (port, weight, target, the target's addresses). A ClusterIP
    /// Service gives its own name and port; a headless one each serving
    /// pod's name and target port, weights sharing 100 as CoreDNS's.
    /// `None`: no such Service or port.
    pub(super) fn srv_records(&self, fqdn: &str) -> Option<Vec<SrvRecord>> {
        let rest = fqdn.strip_suffix(".svc.cluster.local")?;
        let labels: Vec<&str> = rest.split('.').collect();
        let (wanted, name, namespace) = match labels.as_slice() {
            [port, proto, name, ns] => (Some((port.strip_prefix('_')?, proto.strip_prefix('_')?)), *name, *ns),
            [name, ns] => (None, *name, *ns),
            _ => return None,
        };
        let entry = self.service(namespace, name)?;
        if entry.spec.external_name.is_some() {
            return None;
        }
        let ports: Vec<&ServicePort> =
            entry.spec.ports.iter().filter(|p| wanted.is_none_or(|(port, proto)| p.name == port && p.protocol.as_str().eq_ignore_ascii_case(proto))).collect();
        if ports.is_empty() {
            return None;
        }
        let service_fqdn = format!("{name}.{namespace}.svc.cluster.local");
        if let Some(ip) = entry.ip {
            return Some(ports.iter().map(|p| SrvRecord { port: p.port, weight: 100, target: service_fqdn.clone(), addresses: vec![ip] }).collect());
        }
        let mut records = Vec::new();
        let sliced = self.sliced(&entry);
        if let Some(sliced) = &sliced {
            // The cluster's endpoints: each one's hostname, else its dashed address.
            for p in &ports {
                for e in Self::usable(sliced) {
                    let Some((_, port, _)) = e.ports.iter().find(|(n, _, proto)| *n == p.name && *proto == p.protocol) else { continue };
                    let host = e.hostname.clone().unwrap_or_else(|| e.ip.to_string().replace('.', "-"));
                    records.push(SrvRecord { port: *port, weight: 0, target: format!("{host}.{service_fqdn}"), addresses: vec![e.ip] });
                }
            }
        }
        let pods = if sliced.is_none() { self.serving(&entry) } else { Vec::new() };
        for p in &ports {
            for pod in &pods {
                let Some(target) = pod.target_port(&p.target, p.protocol) else { continue };
                // The pod's own name under the Service when its subdomain
                // is the Service, else its dashed address.
                let by_name = format!("{}.{service_fqdn}", pod.hostname);
                let host = if self.named(&by_name).is_some_and(|n| Arc::ptr_eq(&n, pod)) {
                    by_name
                } else {
                    format!("{}.{service_fqdn}", pod.ip.to_string().replace('.', "-"))
                };
                records.push(SrvRecord { port: target, weight: 0, target: host, addresses: vec![pod.ip] });
            }
        }
        let weight = u16::try_from(100 / records.len().max(1)).unwrap_or(100);
        for r in &mut records {
            r.weight = weight;
        }
        Some(records)
    }

    /// What DNS answers for a Service's name (`svc.ns.svc.cluster.local`):
    /// its ClusterIP, or a headless Service's serving pods.
    pub(super) fn service_addresses(&self, fqdn: &str) -> Option<Vec<Ipv4Addr>> {
        let rest = fqdn.strip_suffix(".svc.cluster.local")?;
        let (name, namespace) = rest.split_once('.')?;
        let entry = self.service(namespace, name)?;
        if entry.spec.external_name.is_some() {
            return None;
        }
        match entry.ip {
            Some(ip) => Some(vec![ip]),
            None => Some(self.dns_endpoints(&entry).into_iter().map(|(ip, _)| ip).collect()),
        }
    }
}

/// One SRV record: the port and weight, the target name and its addresses.
pub(super) struct SrvRecord {
    pub port: u16,
    pub weight: u16,
    pub target: String,
    pub addresses: Vec<Ipv4Addr>,
}

/// One pod behind a Service, as an EndpointSlice shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// The pod's name.
    pub pod: String,
    /// The pod's UID.
    pub uid: String,
    /// The pod's hostname.
    pub hostname: String,
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// `conditions.ready`: serving and not terminating, or the Service
    /// publishes unready addresses.
    pub ready: bool,
    /// `conditions.serving`: the pod is Ready.
    pub serving: bool,
    /// `conditions.terminating`: the pod is being deleted.
    pub terminating: bool,
    /// Each Service port's target port on this pod, in the Service's
    /// order (`None`: a named port the pod lacks).
    pub ports: Vec<Option<u16>>,
}

impl PodNetwork {
    /// For a datagram from `from` to a Service's address `to`: the pod and
    /// port its flow goes to (picked for a new flow); none when `to` is no
    /// Service; refused when no endpoint serves it.
    pub(super) fn udp_destination(self: &Arc<Self>, from: SocketAddr, to: SocketAddr) -> Option<Result<Endpoint, super::NetError>> {
        let cluster = self.cluster.upgrade()?;
        let service = cluster.service_at(super::ip_v4(to.ip())?)?;
        cluster.udp_flow(&service, from, to)
    }
}

impl ClusterNetwork {
    /// The endpoint the UDP flow `from` -> `to` (Service `service`'s
    /// address) goes to: the flow's endpoint while it serves, else one
    /// picked for `from`'s address (and recorded, both ways, so replies
    /// come from `to`); refused when no endpoint serves it. Endpoints on
    /// other nodes only in routed mode, where their replies come back to
    /// the sending port's own host socket.
    pub(super) fn udp_flow(self: &Arc<Self>, service: &ServiceEntry, from: SocketAddr, to: SocketAddr) -> Option<Result<Endpoint, super::NetError>> {
        let cluster = self;
        let v4 = super::ip_v4;
        let now = Instant::now();
        let known = {
            let mut inner = cluster.inner.lock().expect("cluster network poisoned");
            inner.udp_flows.expire(now);
            inner.udp_flows.out.get_mut(&(from, to)).map(|(endpoint, last)| {
                *last = now;
                *endpoint
            })
        };
        // A flow keeps its endpoint while it still serves the Service
        // (kube-proxy clears conntrack entries of endpoints that go).
        let remote = cluster.routed();
        if let Some(endpoint) = known {
            let ip = v4(endpoint.ip()).unwrap_or(Ipv4Addr::UNSPECIFIED);
            let pod = cluster.pod(ip);
            let still = match cluster.sliced(service) {
                Some(sliced) => {
                    Self::usable(&sliced).iter().any(|e| e.ip == ip && e.ports.iter().any(|(_, p, proto)| *p == endpoint.port() && *proto == Protocol::Udp))
                }
                None => pod.as_ref().is_some_and(|pod| cluster.serving(service).iter().any(|p| Arc::ptr_eq(p, pod))),
            };
            match pod {
                Some(pod) if still => return Some(Ok(Endpoint::Pod(pod, endpoint.port()))),
                None if still && remote => return Some(Ok(Endpoint::Remote(SocketAddr::new(IpAddr::V4(ip), endpoint.port())))),
                _ => {}
            }
        }
        let client = v4(from.ip()).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let Some(picked) = cluster.pick_any(service, to.port(), Protocol::Udp, client, remote) else {
            return Some(Err(super::NetError::ConnectionRefused));
        };
        let endpoint = match &picked {
            Endpoint::Pod(pod, port) => SocketAddr::new(pod.ip_like(to), *port),
            Endpoint::Remote(addr) => *addr,
        };
        let mut inner = cluster.inner.lock().expect("cluster network poisoned");
        inner.udp_flows.out.insert((from, to), (endpoint, now));
        inner.udp_flows.back.insert((endpoint, from), (to, now));
        Some(Ok(picked))
    }
}

impl PodNetwork {
    /// The source a datagram from `from` to `to` shows: the Service's
    /// address when it answers a flow that came through one.
    pub(super) fn udp_reply_source(&self, from: SocketAddr, to: SocketAddr) -> Option<SocketAddr> {
        let cluster = self.cluster.upgrade()?;
        let inner = cluster.inner.lock().expect("cluster network poisoned");
        inner.udp_flows.back.get(&(from, to)).filter(|(_, last)| last.elapsed() < UDP_FLOW_TIMEOUT).map(|(service, _)| *service)
    }

    /// The Services of the pod's namespace, with their ClusterIPs.
    pub fn services(&self) -> Vec<(ServiceSpec, Option<Ipv4Addr>)> {
        self.cluster.upgrade().map(|c| c.services(&self.namespace)).unwrap_or_default()
    }

    /// Sets what the pod offers Services: its labels and named ports.
    pub fn set_endpoint_info(&self, info: EndpointInfo) {
        *self.endpoint.lock().expect("pod network poisoned") = info;
        self.endpoints_changed();
    }

    /// Sets the pod's labels (an update of a running pod): Services and
    /// NetworkPolicies select it by the new ones from now on.
    pub fn set_labels(&self, labels: BTreeMap<String, String>) {
        self.endpoint.lock().expect("pod network poisoned").labels = labels;
        self.endpoints_changed();
    }

    /// Services' cached endpoints are stale (see [`ClusterNetwork::serving`]).
    pub(super) fn endpoints_changed(&self) {
        if let Some(cluster) = self.cluster.upgrade() {
            cluster.endpoints_epoch.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// Whether the pod is Ready (its Ready condition; false once it
    /// terminates): Services send it traffic only then.
    pub fn set_ready(&self, ready: bool) {
        if self.ready.swap(ready, std::sync::atomic::Ordering::AcqRel) != ready {
            self.endpoints_changed();
        }
    }

    /// Whether the pod is being deleted (EndpointSlices say so).
    pub fn set_terminating(&self, terminating: bool) {
        if self.terminating.swap(terminating, std::sync::atomic::Ordering::AcqRel) != terminating {
            self.endpoints_changed();
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    fn serves(&self, selector: &BTreeMap<String, String>) -> bool {
        let info = self.endpoint.lock().expect("pod network poisoned");
        selector.iter().all(|(k, v)| info.labels.get(k) == Some(v))
    }

    fn target_port(&self, target: &TargetPort, protocol: Protocol) -> Option<u16> {
        match target {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => {
                self.endpoint.lock().expect("pod network poisoned").ports.iter().find(|(n, _, p)| n == name && *p == protocol).map(|(_, port, _)| *port)
            }
        }
    }
}

/// The next free address of the range, skipping its network address, the
/// first host (the `kubernetes` Service's) and the tenth (cluster DNS's),
/// as clusters keep them.
fn allocate(inner: &mut ClusterInner) -> Result<Ipv4Addr, ServiceError> {
    let (base, bits) = inner.service_range;
    let size = 1u32 << (32 - u32::from(bits));
    for _ in 0..size {
        let host = inner.next_service % size;
        inner.next_service = inner.next_service.wrapping_add(1);
        if host == 0 || host == 1 || host == 10 || host == size - 1 {
            continue;
        }
        let ip = Ipv4Addr::from(u32::from(base) + host);
        if !inner.service_ips.contains_key(&ip) {
            return Ok(ip);
        }
    }
    Err(ServiceError::Full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(selector: &[(&str, &str)]) -> ServiceSpec {
        ServiceSpec {
            namespace: "default".into(),
            name: "web".into(),
            cluster_ip: None,
            headless: false,
            ports: vec![ServicePort { name: "http".into(), port: 80, protocol: Protocol::Tcp, target: TargetPort::Name("http".into()) }],
            selector: selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            affinity: None,
            publish_not_ready: false,
            external_name: None,
        }
    }

    fn backend(cluster: &Arc<ClusterNetwork>, name: &str, app: &str, port: u16) -> Arc<PodNetwork> {
        let pod = cluster.attach(name, "default");
        pod.set_endpoint_info(EndpointInfo {
            pod: name.to_owned(),
            labels: [("app".to_owned(), app.to_owned())].into(),
            ports: vec![("http".into(), port, Protocol::Tcp)],
            ..Default::default()
        });
        pod
    }

    #[test]
    fn ready_pods_the_selector_matches_are_picked_in_turn_and_unready_ones_leave() {
        let cluster = ClusterNetwork::new();
        let ip = cluster.add_service(web(&[("app", "web")])).unwrap().unwrap();
        assert!(super::super::in_subnet(ip, (Ipv4Addr::new(10, 96, 0, 0), 12)) && ip != Ipv4Addr::new(10, 96, 0, 1));
        let (a, b, other) = (backend(&cluster, "a", "web", 8080), backend(&cluster, "b", "web", 9090), backend(&cluster, "c", "db", 8080));
        for p in [&a, &b, &other] {
            p.set_ready(true);
        }
        let entry = cluster.service_at(ip).unwrap();
        let client = Ipv4Addr::new(10, 88, 0, 99);
        let picks: Vec<(Ipv4Addr, u16)> = (0..4).map(|_| cluster.pick(&entry, 80, Protocol::Tcp, client).map(|(p, port)| (p.ip, port)).unwrap()).collect();
        assert_eq!(picks, [(a.ip, 8080), (b.ip, 9090), (a.ip, 8080), (b.ip, 9090)]);
        assert!(cluster.pick(&entry, 81, Protocol::Tcp, client).is_none(), "no such port");
        assert!(cluster.pick(&entry, 80, Protocol::Udp, client).is_none(), "no such protocol");
        b.set_ready(false);
        assert!((0..3).all(|_| cluster.pick(&entry, 80, Protocol::Tcp, client).unwrap().0.ip == a.ip));
        assert_eq!(cluster.endpoints("default", "web"), [(a.ip, true)]);
        // A pod that comes (or changes its labels) after the Service's
        // endpoints were cached serves at once.
        let late = backend(&cluster, "late", "db", 7070);
        late.set_ready(true);
        assert!((0..3).all(|_| cluster.pick(&entry, 80, Protocol::Tcp, client).unwrap().0.ip == a.ip));
        late.set_endpoint_info(EndpointInfo {
            labels: [("app".to_owned(), "web".to_owned())].into(),
            ports: vec![("http".into(), 7070, Protocol::Tcp)],
            ..Default::default()
        });
        assert_eq!(cluster.endpoints("default", "web").len(), 2);
        drop(late);
        drop(a);
        assert!(cluster.pick(&entry, 80, Protocol::Tcp, client).is_none(), "a pod that went serves nothing");
        assert_eq!(cluster.service_addresses("web.default.svc.cluster.local"), Some(vec![ip]));
    }

    #[test]
    fn affinity_keeps_a_client_on_its_pod_and_headless_names_give_the_pods() {
        let cluster = ClusterNetwork::new();
        let mut spec = web(&[("app", "web")]);
        spec.affinity = Some(Duration::from_secs(10800));
        let ip = cluster.add_service(spec).unwrap().unwrap();
        let (a, b) = (backend(&cluster, "a", "web", 80), backend(&cluster, "b", "web", 80));
        a.set_ready(true);
        b.set_ready(true);
        let entry = cluster.service_at(ip).unwrap();
        let one = Ipv4Addr::new(10, 88, 1, 1);
        let first = cluster.pick(&entry, 80, Protocol::Tcp, one).unwrap().0.ip;
        assert!((0..5).all(|_| cluster.pick(&entry, 80, Protocol::Tcp, one).unwrap().0.ip == first));
        let mut headless = web(&[("app", "web")]);
        headless.name = "web-pods".into();
        headless.headless = true;
        assert_eq!(cluster.add_service(headless).unwrap(), None);
        let mut ips = cluster.service_addresses("web-pods.default.svc.cluster.local").unwrap();
        ips.sort();
        assert_eq!(ips, [a.ip, b.ip]);
    }

    #[tokio::test]
    async fn a_udp_flow_keeps_its_endpoint_and_replies_come_from_the_service() {
        let cluster = ClusterNetwork::new();
        let mut spec = web(&[("app", "dns")]);
        spec.ports = vec![ServicePort { name: String::new(), port: 53, protocol: Protocol::Udp, target: TargetPort::Number(5353) }];
        let ip = cluster.add_service(spec).unwrap().unwrap();
        let (a, b) = (backend(&cluster, "a", "dns", 0), backend(&cluster, "b", "dns", 0));
        a.set_ready(true);
        b.set_ready(true);
        let (mut ra, mut rb) = (a.bind_udp(5353, false).unwrap(), b.bind_udp(5353, false).unwrap());
        let client = cluster.attach("client", "default");
        let mut rc = client.bind_udp(4000, false).unwrap();
        let svc = SocketAddr::from((ip, 53));
        for _ in 0..3 {
            client.send_udp(4000, b"q".to_vec(), svc).unwrap();
        }
        // One flow, one endpoint: all three to the same pod.
        let first_a = ra.try_recv().is_some();
        let (server, rx, other) = if first_a { (a.clone(), &mut ra, &mut rb) } else { (b.clone(), &mut rb, &mut ra) };
        assert_eq!((rx.try_recv().is_some(), rx.try_recv().is_some(), other.try_recv().is_none()), (true, true, true));
        let from = SocketAddr::from((client.ip(), 4000));
        server.send_udp(5353, b"answer".to_vec(), from).unwrap();
        let reply = rc.recv().await.unwrap();
        assert_eq!((reply.data.as_slice(), reply.from), (&b"answer"[..], svc), "the reply comes from the Service");
        // Another client port is another flow, picked in turn.
        client.send_udp(4001, b"q".to_vec(), svc).unwrap();
        assert!(other.try_recv().is_some());
    }

    #[test]
    fn cluster_ips_are_kept_asked_for_or_refused_as_the_api_server_refuses_them() {
        let cluster = ClusterNetwork::new();
        let mut spec = web(&[]);
        spec.cluster_ip = Some(Ipv4Addr::new(10, 96, 5, 5));
        assert_eq!(cluster.add_service(spec.clone()).unwrap(), Some(Ipv4Addr::new(10, 96, 5, 5)));
        let mut other = spec.clone();
        other.name = "other".into();
        assert_eq!(
            cluster.add_service(other.clone()).unwrap_err().to_string(),
            "spec.clusterIPs: Invalid value: []string{\"10.96.5.5\"}: failed to allocate IP 10.96.5.5: provided IP is already allocated"
        );
        other.cluster_ip = Some(Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(cluster.add_service(other.clone()), Err(ServiceError::Allocated(Ipv4Addr::new(10, 96, 0, 10))), "the cluster DNS server's");
        other.cluster_ip = Some(Ipv4Addr::new(192, 168, 0, 1));
        assert!(cluster.add_service(other).unwrap_err().to_string().contains("The range of valid IPs is 10.96.0.0/12"));
        // Replaced without asking: the same address.
        spec.cluster_ip = None;
        assert_eq!(cluster.add_service(spec).unwrap(), Some(Ipv4Addr::new(10, 96, 5, 5)));
        assert!(cluster.remove_service("default", "web"));
        assert!(cluster.service_at(Ipv4Addr::new(10, 96, 5, 5)).is_none());
    }

    #[test]
    fn a_cluster_service_takes_the_clusters_address_and_its_slices_endpoints_here_and_elsewhere() {
        let cluster = ClusterNetwork::new();
        cluster.set_pod_subnet(Ipv4Addr::new(10, 244, 1, 0), 24);
        let here = cluster.attach("here", "default");
        let mut spec = web(&[("app", "web")]);
        spec.ports[0].name = "http".into();
        // k3s's service range, outside this network's own.
        let ip = Ipv4Addr::new(10, 43, 0, 7);
        cluster.add_cluster_service(spec.clone(), Some(ip));
        let entry = cluster.service_at(ip).unwrap();
        let slice = |ip: Ipv4Addr, ready: bool, terminating: bool| SliceEndpoint {
            ip,
            hostname: None,
            ready,
            serving: ready || terminating,
            terminating,
            ports: vec![("http".into(), 8080, Protocol::Tcp)],
        };
        let remote = Ipv4Addr::new(10, 244, 2, 9);
        let client = Ipv4Addr::new(10, 244, 1, 50);
        // Before its slices: nothing serves (the labels of pods here do not count).
        cluster.set_slice_endpoints("default", "web", Some(vec![]));
        assert!(cluster.pick_any(&entry, 80, Protocol::Tcp, client, true).is_none());
        cluster.set_slice_endpoints("default", "web", Some(vec![slice(here.ip(), true, false), slice(remote, true, false)]));
        let picks: Vec<String> = (0..4)
            .map(|_| match cluster.pick_any(&entry, 80, Protocol::Tcp, client, true).unwrap() {
                Endpoint::Pod(p, port) => format!("here {} {port}", p.ip()),
                Endpoint::Remote(a) => format!("remote {a}"),
            })
            .collect();
        assert_eq!(picks[0..2], picks[2..4], "round robin");
        assert!(picks.contains(&format!("here {} 8080", here.ip())) && picks.contains(&"remote 10.244.2.9:8080".to_owned()), "{picks:?}");
        // UDP, node ports and tests of this runtime pick only pods here.
        assert!((0..4).all(|_| cluster.pick(&entry, 80, Protocol::Tcp, client).is_some_and(|(p, _)| p.ip() == here.ip())));
        // Unready endpoints are out; with none ready, the terminating ones that still serve.
        cluster.set_slice_endpoints("default", "web", Some(vec![slice(here.ip(), false, false), slice(remote, false, true)]));
        assert!(matches!(cluster.pick_any(&entry, 80, Protocol::Tcp, client, true), Some(Endpoint::Remote(a)) if a.ip() == IpAddr::V4(remote)));
        assert_eq!(cluster.service_addresses("web.default.svc.cluster.local"), Some(vec![ip]));
        // Headless: DNS gives the ready endpoints, also by their hostnames.
        let mut headless = spec.clone();
        headless.name = "db".into();
        headless.headless = true;
        cluster.add_cluster_service(headless, None);
        let mut named = slice(remote, true, false);
        named.hostname = Some("db-0".into());
        cluster.set_slice_endpoints("default", "db", Some(vec![named, slice(Ipv4Addr::new(10, 244, 3, 3), false, false)]));
        assert_eq!(cluster.service_addresses("db.default.svc.cluster.local"), Some(vec![remote]));
        assert_eq!(cluster.sliced_hostname("db-0.db.default.svc.cluster.local"), Some(remote));
        assert_eq!(cluster.headless_pod("10-244-2-9.db.default.svc.cluster.local"), Some(remote));
        assert_eq!(cluster.headless_pod("10-244-3-3.db.default.svc.cluster.local"), None, "not ready");
        let srv = cluster.srv_records("_http._tcp.db.default.svc.cluster.local").unwrap();
        assert_eq!((srv.len(), srv[0].port, srv[0].target.as_str()), (1, 8080, "db-0.db.default.svc.cluster.local"));
        // Another cluster Service at the same address takes it over.
        let mut other = spec;
        other.name = "other".into();
        cluster.add_cluster_service(other, Some(ip));
        assert_eq!(cluster.service_at(ip).unwrap().spec.name, "other");
        assert!(cluster.service("default", "web").is_none());
    }
}
