//! The in-process pod network: every pod gets a virtual IP and its own port
//! table; connections are in-memory duplex streams. Nothing here touches a
//! host socket. This file is plain Rust; the wasi:sockets adapter that
//! guests see is built on top of it.
//!
//! Addressing, as in a Kubernetes cluster network:
//! - `127.0.0.1`, `::1` and the pod's own IP reach the pod's own port table
//!   (its containers share one localhost and port space);
//! - another pod's IP reaches that pod's table;
//! - a Service's ClusterIP reaches one of its endpoints (`service.rs`);
//! - other addresses go out through the host's sockets (`egress.rs`),
//!   never to the host's own loopback or link-local addresses, unless
//!   egress is denied.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

pub(crate) mod dns;
mod egress;
mod forward;
mod host;
mod names;
mod outgoing_http;
mod pipe;
mod policy;
mod routed;
mod service;
mod socket;
mod tcp;
pub(crate) mod tls;
mod udp;
mod udp_out;

pub use dns::CLUSTER_DNS;
pub use egress::Egress;
pub use forward::ForwardEvent;
pub(crate) use forward::{connect_loopback, serve as serve_forward};
pub use host::{PodSockets, PodSocketsView, SocketPolicy};
pub(crate) use names::resolve;
pub use outgoing_http::PodHttpHooks;
pub use pipe::{Connection, PipeReader, PipeWriter, ReadOutcome, connection_pair};
pub use policy::RemotePod;
pub(crate) use service::Endpoint;
pub use service::{DEFAULT_SERVICE_RANGE, EndpointInfo, EndpointRecord, Protocol, ServicePort, ServiceRoute, ServiceSpec, SliceEndpoint, TargetPort};
pub(crate) use udp_out::serve_udp_node_port;

/// Bytes buffered in each direction of an in-memory connection. 256 KiB
/// keeps a bulk transfer streaming without letting one connection hold
/// much memory.
pub const CONNECTION_BUFFER: usize = 256 * 1024;

/// First port handed out for an ephemeral bind (Linux's default range).
const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;

/// The first address the pod's resolver gives for `name` (see
/// `names::resolve`), for host-side clients such as hooks and probes.
pub(crate) fn resolve_name(net: &PodNetwork, name: &str) -> Result<IpAddr, String> {
    names::resolve(net, name).ok().and_then(|a| a.into_iter().next()).ok_or_else(|| format!("dial tcp: lookup {name}: no such host"))
}

/// Picks the port to bind: `port` itself, or the next free ephemeral one
/// when it is 0 (round robin, as Linux does); `taken` tells which are bound.
fn claim_port(port: u16, next_ephemeral: &mut u16, taken: impl Fn(u16) -> bool) -> Result<u16, NetError> {
    let port = if port == 0 {
        let span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
        (0..span).map(|i| EPHEMERAL_FIRST + (next_ephemeral.wrapping_add(i)) % span).find(|p| !taken(*p)).ok_or(NetError::PortsExhausted)?
    } else {
        port
    };
    if taken(port) {
        return Err(NetError::AddressInUse);
    }
    *next_ephemeral = port.wrapping_sub(EPHEMERAL_FIRST).wrapping_add(1);
    Ok(port)
}

/// Errors a guest sees, mapped later to wasi:sockets error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The port is bound already in this pod.
    #[error("address in use")]
    AddressInUse,
    /// Nothing listens on that port.
    #[error("connection refused")]
    ConnectionRefused,
    /// The address is not this pod, nor another pod.
    #[error("host unreachable")]
    Unreachable,
    /// No ephemeral port left.
    #[error("no ephemeral port available")]
    PortsExhausted,
    /// A connection out of the runtime did not open in time.
    #[error("connection timed out")]
    TimedOut,
    /// The pod uses the host's network (`hostNetwork: true`): its ports
    /// are host ports, reached directly rather than forwarded.
    #[error("the pod uses the host network; connect to its port on 127.0.0.1 directly")]
    HostNetwork,
}

/// A connection arriving at a listener.
pub struct Incoming {
    /// The server's end of the connection.
    pub stream: Connection,
    /// The client's address as the server sees it.
    pub peer: SocketAddr,
    /// The address the client connected to (the server's local address).
    pub local: SocketAddr,
}

/// The flat network all pods of a runtime share.
#[derive(Default)]
pub struct ClusterNetwork {
    inner: Mutex<ClusterInner>,
    /// Bumped whenever a pod is attached or goes, or changes what it
    /// offers Services: Services' cached endpoints are then stale.
    endpoints_epoch: std::sync::atomic::AtomicU64,
}

struct ClusterInner {
    pods: HashMap<Ipv4Addr, Weak<PodNetwork>>,
    /// Fully qualified DNS names of pods (see [`PodNetwork::publish_name`]).
    names: HashMap<String, Weak<PodNetwork>>,
    next_host: u32,
    /// Services by (namespace, name), and their ClusterIPs (`service.rs`).
    services: HashMap<(String, String), Arc<service::ServiceEntry>>,
    service_ips: HashMap<Ipv4Addr, (String, String)>,
    service_range: (Ipv4Addr, u8),
    next_service: u32,
    /// UDP flows through Services, both ways (`service.rs`).
    udp_flows: service::UdpFlows,
    /// Whether pods reach outside the runtime (`egress.rs`).
    egress: Egress,
    /// NetworkPolicies by (namespace, name) (`policy.rs`).
    policies: HashMap<(String, String), Arc<k8s_openapi::api::networking::v1::NetworkPolicy>>,
    /// UDP flows entering through node ports (`udp_out.rs`).
    node_udp: udp_out::NodeUdpFlows,
    /// Where pod IPs come from: 10.88.0.0/16, or a node's podCIDR.
    pod_subnet: (Ipv4Addr, u8),
    /// Services' endpoints as a node's cluster lists them (`service.rs`).
    slices: HashMap<(String, String), Arc<Vec<service::SliceEndpoint>>>,
    /// Pods of other nodes, and whether this node's pods have their own
    /// addresses on the host (`routed.rs`).
    routing: routed::Routing,
    /// Other nodes' pods and the namespaces' labels, for NetworkPolicy.
    view: policy::ClusterView,
}

impl Default for ClusterInner {
    fn default() -> Self {
        Self {
            pods: HashMap::new(),
            names: HashMap::new(),
            next_host: 0,
            services: HashMap::new(),
            service_ips: HashMap::new(),
            service_range: DEFAULT_SERVICE_RANGE,
            next_service: 0,
            udp_flows: Default::default(),
            egress: Egress::Allow,
            policies: HashMap::new(),
            node_udp: Default::default(),
            pod_subnet: (Ipv4Addr::from(POD_SUBNET), 16),
            slices: HashMap::new(),
            routing: routed::Routing::default(),
            view: policy::ClusterView::default(),
        }
    }
}

/// Whether `ip` is in the subnet `base/bits`.
pub(crate) fn in_subnet(ip: Ipv4Addr, (base, bits): (Ipv4Addr, u8)) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits.min(32))) };
    u32::from(ip) & mask == u32::from(base) & mask
}

/// `ip` as IPv4, also from its IPv4-mapped IPv6 form.
pub(crate) fn ip_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// Pod IPs come from 10.88.0.0/16 (the CNI bridge default), skipping .0
/// and .1 as a real bridge would.
const POD_SUBNET: u32 = u32::from_be_bytes([10, 88, 0, 0]);

impl ClusterNetwork {
    /// A new, empty cluster network.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Gives a new pod an address and its own port table.
    #[cfg(test)]
    pub fn attach(self: &Arc<Self>, hostname: &str, namespace: &str) -> Arc<PodNetwork> {
        self.attach_preferring(hostname, namespace, None)
    }

    /// [`ClusterNetwork::attach`], at `preferred` (a resumed pod's earlier
    /// address) when it is a free host address of the pod range.
    pub fn attach_preferring(self: &Arc<Self>, hostname: &str, namespace: &str, preferred: Option<Ipv4Addr>) -> Arc<PodNetwork> {
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        inner.pods.retain(|_, p| p.strong_count() > 0);
        inner.names.retain(|_, p| p.strong_count() > 0);
        let (base, bits) = inner.pod_subnet;
        let hosts = 1u32 << (32 - u32::from(bits));
        let usable = |ip: Ipv4Addr| {
            let host = u32::from(ip).wrapping_sub(u32::from(base));
            (2..hosts - 1).contains(&host)
        };
        let ip = preferred.filter(|ip| usable(*ip) && !inner.pods.contains_key(ip)).unwrap_or_else(|| {
            loop {
                let host = 2 + inner.next_host % (hosts - 3);
                inner.next_host = inner.next_host.wrapping_add(1);
                let ip = Ipv4Addr::from(u32::from(base) + host);
                if !inner.pods.contains_key(&ip) {
                    break ip;
                }
            }
        });
        let pod = Arc::new(PodNetwork {
            ip,
            hostname: hostname.to_ascii_lowercase(),
            namespace: namespace.to_ascii_lowercase(),
            cluster: Arc::downgrade(self),
            ports: Mutex::new(PortTable::default()),
            udp: Mutex::new(udp::UdpPorts::default()),
            host_aliases: Mutex::new(Vec::new()),
            endpoint: Mutex::new(EndpointInfo::default()),
            ready: std::sync::atomic::AtomicBool::new(false),
            terminating: std::sync::atomic::AtomicBool::new(false),
            udp_out: Mutex::new(HashMap::new()),
            dns_lookups: std::sync::atomic::AtomicUsize::new(0),
        });
        inner.pods.insert(ip, Arc::downgrade(&pod));
        self.endpoints_epoch.fetch_add(1, std::sync::atomic::Ordering::Release);
        pod
    }

    /// Takes pod IPs from `base/bits` (a node's podCIDR, /8 to /28)
    /// instead of 10.88.0.0/16, for the pods attached from now on.
    pub fn set_pod_subnet(&self, base: Ipv4Addr, bits: u8) {
        let bits = bits.clamp(8, 28);
        let mask = u32::MAX << (32 - u32::from(bits));
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        inner.pod_subnet = (Ipv4Addr::from(u32::from(base) & mask), bits);
        inner.next_host = 0;
    }

    /// Where pod IPs come from.
    pub(crate) fn pod_subnet(&self) -> (Ipv4Addr, u8) {
        self.inner.lock().expect("cluster network poisoned").pod_subnet
    }

    /// The node's address on the pod network (the subnet's first), the
    /// source of NodePort traffic.
    pub(crate) fn node_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.pod_subnet().0) + 1)
    }

    /// Whether pods reach addresses outside the runtime (default: they do).
    pub fn set_egress(&self, egress: Egress) {
        self.inner.lock().expect("cluster network poisoned").egress = egress;
    }

    /// The egress setting and the service range.
    pub(crate) fn egress(&self) -> (Egress, (Ipv4Addr, u8)) {
        let inner = self.inner.lock().expect("cluster network poisoned");
        (inner.egress, inner.service_range)
    }

    fn named(&self, fqdn: &str) -> Option<Arc<PodNetwork>> {
        self.inner.lock().expect("cluster network poisoned").names.get(fqdn).and_then(Weak::upgrade)
    }

    fn pod(&self, ip: Ipv4Addr) -> Option<Arc<PodNetwork>> {
        self.inner.lock().expect("cluster network poisoned").pods.get(&ip).and_then(Weak::upgrade)
    }
}

#[derive(Default)]
struct PortTable {
    /// Each bound port, with its accept queue once listening.
    bound: HashMap<u16, Option<Acceptor>>,
    next_ephemeral: u16,
}

/// One pod's network namespace.
pub struct PodNetwork {
    ip: Ipv4Addr,
    hostname: String,
    namespace: String,
    cluster: Weak<ClusterNetwork>,
    ports: Mutex<PortTable>,
    udp: Mutex<udp::UdpPorts>,
    /// `hostAliases`: (lower-case name, address), in the spec's order.
    host_aliases: Mutex<Vec<(String, IpAddr)>>,
    /// What it offers Services (labels, named ports), and whether it is
    /// Ready (`service.rs`).
    endpoint: Mutex<EndpointInfo>,
    ready: std::sync::atomic::AtomicBool,
    terminating: std::sync::atomic::AtomicBool,
    /// UDP ports' ways out of the runtime, by (port, the guest socket's
    /// IPv6, the host socket's IPv6) (`udp_out.rs`).
    udp_out: Mutex<HashMap<(u16, bool, bool), udp_out::UdpOut>>,
    /// Its DNS queries waiting on the host's resolver (`dns.rs`).
    dns_lookups: std::sync::atomic::AtomicUsize,
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        // A pod that goes leaves every Service at once.
        self.endpoints_changed();
    }
}

/// A listening port's queue, and the address family it accepts: as on a
/// host with IPV6_V6ONLY (what wasi:sockets 0.2 implementations do), an
/// IPv4 listener accepts IPv4 connections and an IPv6 listener IPv6 ones.
#[derive(Clone)]
struct Acceptor {
    queue: mpsc::Sender<Incoming>,
    v6: bool,
}

/// A bound port; dropping it frees the port.
pub struct Binding {
    pod: Arc<PodNetwork>,
    port: u16,
}

/// A listening port; dropping it stops accepting and frees the port.
pub struct Listener {
    binding: Binding,
    incoming: mpsc::Receiver<Incoming>,
    /// A connection taken off the queue by [`Listener::ready`], handed out
    /// by the next accept.
    next: Option<Incoming>,
    /// Its host listener in routed mode (`routed.rs`).
    exposed: Option<routed::Exposed>,
}

impl PodNetwork {
    /// The pod's virtual IP (`status.podIP`).
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The pod's hostname (its name), which resolves to its IP inside it.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Sets the names the pod's `hostAliases` give addresses to.
    pub fn set_host_aliases(&self, aliases: Vec<(String, IpAddr)>) {
        *self.host_aliases.lock().expect("pod network poisoned") = aliases.into_iter().map(|(n, ip)| (n.to_ascii_lowercase(), ip)).collect();
    }

    /// The addresses `hostAliases` give `name` (lower case), in order.
    pub(crate) fn host_aliases(&self, name: &str) -> Vec<IpAddr> {
        self.host_aliases.lock().expect("pod network poisoned").iter().filter(|(n, _)| n == name).map(|(_, ip)| *ip).collect()
    }

    /// Publishes `fqdn` (e.g. `db.backend.default.svc.cluster.local`) as
    /// a name of this pod for every pod's resolver.
    pub fn publish_name(self: &Arc<Self>, fqdn: &str) {
        if let Some(cluster) = self.cluster.upgrade() {
            cluster.inner.lock().expect("cluster network poisoned").names.insert(fqdn.to_ascii_lowercase(), Arc::downgrade(self));
        }
    }

    /// The addresses a DNS name gives: a Service's ClusterIP (a headless
    /// one's pods), or a named pod; trying the pod's search domains as its
    /// resolv.conf would (`<ns>.svc.cluster.local svc.cluster.local cluster.local`).
    pub fn lookup_name(&self, name: &str) -> Vec<Ipv4Addr> {
        let Some(cluster) = self.cluster.upgrade() else { return Vec::new() };
        let name = name.to_ascii_lowercase();
        let candidates =
            [name.clone(), format!("{name}.{}.svc.cluster.local", self.namespace), format!("{name}.svc.cluster.local"), format!("{name}.cluster.local")];
        candidates
            .iter()
            .find_map(|n| {
                cluster
                    .service_addresses(n)
                    .filter(|a| !a.is_empty())
                    .or_else(|| cluster.named(n).map(|p| vec![p.ip]))
                    .or_else(|| cluster.headless_pod(n).map(|ip| vec![ip]))
                    .or_else(|| cluster.sliced_hostname(n).map(|ip| vec![ip]))
            })
            .unwrap_or_default()
    }

    /// The name an ExternalName Service of this name is an alias of,
    /// through the pod's search domains.
    pub(crate) fn external_name(&self, name: &str) -> Option<String> {
        let cluster = self.cluster.upgrade()?;
        let name = name.to_ascii_lowercase();
        [name.clone(), format!("{name}.{}.svc.cluster.local", self.namespace), format!("{name}.svc.cluster.local")]
            .iter()
            .find_map(|n| cluster.external_name(n))
    }

    /// Whether a pod with this IP is attached to the cluster network.
    pub fn pod_exists(&self, ip: Ipv4Addr) -> bool {
        ip == self.ip || self.cluster.upgrade().and_then(|c| c.pod(ip)).is_some()
    }

    /// Whether `ip` names this pod (loopback or its own address).
    pub fn is_self(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4 == self.ip || v4.is_unspecified(),
            IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST || v6.is_unspecified() || v6.to_ipv4_mapped() == Some(self.ip),
        }
    }

    /// Reserves `port` (0: an ephemeral one) in this pod.
    pub fn bind(self: &Arc<Self>, port: u16) -> Result<Binding, NetError> {
        let mut table = self.ports.lock().expect("port table poisoned");
        let table = &mut *table;
        let port = claim_port(port, &mut table.next_ephemeral, |p| table.bound.contains_key(&p))?;
        table.bound.insert(port, None);
        Ok(Binding { pod: self.clone(), port })
    }

    /// The address traffic to `to` comes from: loopback for loopback, else
    /// the pod's own address, as with a real interface.
    fn source_ip(&self, to: SocketAddr) -> IpAddr {
        if to.ip().is_loopback() { to.ip() } else { self.ip_like(to) }
    }

    /// The pod's address in `to`'s family (IPv4-mapped for IPv6).
    fn ip_like(&self, to: SocketAddr) -> IpAddr {
        if to.is_ipv6() { IpAddr::V6(self.ip.to_ipv6_mapped()) } else { IpAddr::V4(self.ip) }
    }

    /// The pod that `ip` reaches from this one: itself for loopback and
    /// its own IP, another pod by its IP, nothing else.
    fn route(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<PodNetwork>, NetError> {
        if self.is_self(ip) {
            return Ok(self.clone());
        }
        let v4 = match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        let cluster = self.cluster.upgrade().ok_or(NetError::Unreachable)?;
        v4.and_then(|ip| cluster.pod(ip)).ok_or(NetError::Unreachable)
    }

    /// Whether `ip` is a Service's ClusterIP.
    fn service_ip(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        v4.zip(self.cluster.upgrade()).is_some_and(|(ip, c)| c.service_at(ip).is_some())
    }

    /// Where traffic to `to` goes: a Service's ClusterIP picks one of its
    /// endpoints (refused when none serves), else the pod the address
    /// routes to; for TCP also a pod of another node (`routed.rs`), or a
    /// Service endpoint that is no pod here, reached through the host.
    pub(crate) fn destination(self: &Arc<Self>, to: SocketAddr, protocol: Protocol) -> Result<Endpoint, NetError> {
        let v4 = ip_v4(to.ip());
        if let Some(ip) = v4
            && let Some(cluster) = self.cluster.upgrade()
            && let Some(service) = cluster.service_at(ip)
        {
            return cluster.pick_any(&service, to.port(), protocol, self.ip, protocol == Protocol::Tcp).ok_or(NetError::ConnectionRefused);
        }
        match self.route(to.ip()) {
            Ok(pod) => Ok(Endpoint::Pod(pod, to.port())),
            Err(e) => match v4 {
                Some(ip) if protocol == Protocol::Tcp && self.is_remote_pod(ip) => Ok(Endpoint::Remote(SocketAddr::new(IpAddr::V4(ip), to.port()))),
                _ => Err(e),
            },
        }
    }

    /// A connection from `peer` outside the pod network into this pod's
    /// listener on `port` (IPv4).
    pub(crate) fn accept_from(self: &Arc<Self>, peer: SocketAddr, port: u16) -> Result<Connection, NetError> {
        let acceptor = self.ports.lock().expect("port table poisoned").bound.get(&port).cloned().flatten();
        let sender = acceptor.filter(|a| !a.v6).ok_or(NetError::ConnectionRefused)?.queue;
        let (client, server) = connection_pair(CONNECTION_BUFFER);
        let incoming = Incoming { stream: server, peer, local: SocketAddr::new(IpAddr::V4(self.ip), port) };
        sender.try_send(incoming).map_err(|_| NetError::ConnectionRefused)?;
        Ok(client)
    }

    /// Connects from this pod to `to` from an ephemeral port. Refused at
    /// once when nothing listens there; unreachable when `to` is no pod.
    pub fn connect(self: &Arc<Self>, to: SocketAddr) -> Result<(Connection, Binding), NetError> {
        self.connect_from(None, to).map(|(conn, binding, _)| (conn, binding))
    }

    /// Connects from `local` (an ephemeral port when `None`) to `to`;
    /// returns the connection, the port it holds, and its local address.
    /// A destination outside this runtime (see [`Self::destination`]) is
    /// unreachable here; connecting there is asynchronous.
    pub fn connect_from(self: &Arc<Self>, local: Option<Binding>, to: SocketAddr) -> Result<(Connection, Binding, SocketAddr), NetError> {
        match self.destination(to, Protocol::Tcp)? {
            Endpoint::Pod(target, port) => self.connect_pod(local, to, target, port),
            Endpoint::Remote(_) => Err(NetError::Unreachable),
        }
    }

    /// Connects from `local` to `to`, which [`Self::destination`] found to
    /// be pod `target`'s `target_port`.
    pub(crate) fn connect_pod(
        self: &Arc<Self>,
        local: Option<Binding>,
        to: SocketAddr,
        target: Arc<PodNetwork>,
        target_port: u16,
    ) -> Result<(Connection, Binding, SocketAddr), NetError> {
        // NetworkPolicy, after a Service picked its endpoint: a blocked
        // connection is rejected as unreachable.
        if let Some(cluster) = self.cluster.upgrade()
            && !cluster.policy_allows(&policy::Peer::Pod(self), &policy::Peer::Pod(&target), target_port, Protocol::Tcp)
        {
            return Err(NetError::Unreachable);
        }
        let acceptor = target.ports.lock().expect("port table poisoned").bound.get(&target_port).cloned().flatten();
        let sender = acceptor.filter(|a| a.v6 == to.is_ipv6()).ok_or(NetError::ConnectionRefused)?.queue;
        let local = match local {
            Some(b) => b,
            None => self.bind(0)?,
        };
        let from_ip = self.source_ip(to);
        // Through a Service, the server sees its own address (kube-proxy's
        // DNAT); the client keeps the Service's.
        let to_ip = if target_port != to.port() || !target.is_self(to.ip()) && self.service_ip(to.ip()) {
            target.ip_like(to)
        } else if to.ip().is_unspecified() {
            from_ip
        } else {
            to.ip()
        };
        let from = SocketAddr::new(from_ip, local.port);
        let (client, server) = connection_pair(CONNECTION_BUFFER);
        let incoming = Incoming { stream: server, peer: from, local: SocketAddr::new(to_ip, target_port) };
        // A full backlog or a listener that just closed: refused, as a
        // kernel answers a SYN it cannot queue.
        sender.try_send(incoming).map_err(|_| NetError::ConnectionRefused)?;
        Ok((client, local, from))
    }
}

impl Binding {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening with room for `backlog` pending connections.
    /// `v6`: whether it accepts IPv6 (else IPv4) connections.
    pub fn listen(self, backlog: usize, v6: bool) -> Listener {
        let (tx, rx) = mpsc::channel(backlog.max(1));
        self.pod.ports.lock().expect("port table poisoned").bound.insert(self.port, Some(Acceptor { queue: tx, v6 }));
        Listener { binding: self, incoming: rx, next: None, exposed: None }
    }
}

impl Drop for Binding {
    fn drop(&mut self) {
        self.pod.ports.lock().expect("port table poisoned").bound.remove(&self.port);
    }
}

impl Listener {
    /// The listening port.
    pub fn port(&self) -> u16 {
        self.binding.port
    }

    /// The next connection, waiting for one.
    pub async fn accept(&mut self) -> Option<Incoming> {
        self.ready().await;
        self.next.take()
    }

    /// The next connection if one is queued.
    pub fn try_accept(&mut self) -> Option<Incoming> {
        self.next.take().or_else(|| self.incoming.try_recv().ok())
    }

    /// Waits until a connection is queued (cancel-safe: a connection
    /// received here is kept for the next accept).
    pub async fn ready(&mut self) {
        if self.next.is_none() {
            self.next = self.incoming.recv().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn addr(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
        SocketAddr::new(ip.into(), port)
    }

    #[tokio::test]
    async fn localhost_reaches_the_pods_own_listener_and_data_flows_both_ways() {
        let cluster = ClusterNetwork::new();
        let pod = cluster.attach("p", "default");
        let mut listener = pod.bind(80).unwrap().listen(8, false);
        let (mut client, _local) = pod.connect(addr(Ipv4Addr::LOCALHOST, 80)).unwrap();
        let mut conn = listener.accept().await.unwrap();
        assert!(conn.peer.ip().is_loopback());
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        conn.stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        conn.stream.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // The pod's own IP reaches the same table; ::1 reaches only an
        // IPv6 listener.
        pod.connect(addr(pod.ip(), 80)).unwrap();
        assert_eq!(pod.connect(addr(Ipv6Addr::LOCALHOST, 80)).err(), Some(NetError::ConnectionRefused));
        let _six = pod.bind(81).unwrap().listen(1, true);
        pod.connect(addr(Ipv6Addr::LOCALHOST, 81)).unwrap();
    }

    #[tokio::test]
    async fn a_second_bind_is_address_in_use_and_a_closed_port_is_refused_at_once() {
        let cluster = ClusterNetwork::new();
        let pod = cluster.attach("p", "default");
        let listener = pod.bind(8080).unwrap().listen(1, false);
        assert_eq!(pod.bind(8080).err(), Some(NetError::AddressInUse));
        assert_eq!(pod.connect(addr(Ipv4Addr::LOCALHOST, 9)).err(), Some(NetError::ConnectionRefused));
        drop(listener);
        assert_eq!(pod.connect(addr(Ipv4Addr::LOCALHOST, 8080)).err(), Some(NetError::ConnectionRefused));
        pod.bind(8080).expect("the port is free again");
    }

    #[tokio::test]
    async fn pods_are_isolated_but_reachable_by_pod_ip() {
        let cluster = ClusterNetwork::new();
        let (a, b) = (cluster.attach("p", "default"), cluster.attach("p", "default"));
        assert_ne!(a.ip(), b.ip());
        let _la = a.bind(80).unwrap().listen(4, false);
        let mut lb = b.bind(80).unwrap().listen(4, false);
        // Both pods listen on :80 side by side; b's localhost is b's own.
        assert_eq!(b.connect(addr(Ipv4Addr::LOCALHOST, 81)).err(), Some(NetError::ConnectionRefused));
        b.connect(addr(Ipv4Addr::LOCALHOST, 80)).unwrap();
        assert!(lb.try_accept().is_some());
        // a reaches b only by b's IP, and b sees a's IP as the peer.
        a.connect(addr(b.ip(), 80)).unwrap();
        assert_eq!(lb.try_accept().unwrap().peer.ip(), IpAddr::V4(a.ip()));
        // Nothing else is reachable in the pod network itself (egress goes
        // through the host's sockets, `egress.rs`).
        assert_eq!(a.connect(addr(Ipv4Addr::new(93, 184, 216, 34), 80)).err(), Some(NetError::Unreachable));
        assert_eq!(a.connect(addr(Ipv4Addr::new(10, 88, 9, 9), 80)).err(), Some(NetError::Unreachable));
    }

    #[tokio::test]
    async fn a_full_backlog_refuses_and_ephemeral_ports_are_distinct() {
        let cluster = ClusterNetwork::new();
        let pod = cluster.attach("p", "default");
        let _l = pod.bind(7).unwrap().listen(1, false);
        let (_c1, b1) = pod.connect(addr(Ipv4Addr::LOCALHOST, 7)).unwrap();
        assert_eq!(pod.connect(addr(Ipv4Addr::LOCALHOST, 7)).err(), Some(NetError::ConnectionRefused));
        let b2 = pod.bind(0).unwrap();
        assert_ne!(b1.port(), b2.port());
        assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&b2.port()));
    }
}
