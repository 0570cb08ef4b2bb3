//! Services and NetworkPolicies: created from input files (`run`) before
//! their pods start. Services are
//! served by the cluster network (`net/service.rs`: ClusterIPs, endpoints,
//! DNS), and listed with the addresses they were given. What the kubelet
//! gives containers of them is `pod/service_env.rs`.

use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::{Put, not_found};
use super::{Error, Runtime};
use crate::net::{Protocol, ServicePort, ServiceSpec, TargetPort};

impl Runtime {
    /// Creates (or replaces) `svc`, defaulted and validated as
    /// `manifest::load_*` leave it; returns it as the API server would,
    /// with `spec.clusterIP`/`clusterIPs` set (a replaced Service keeps
    /// its address). ClusterIP and headless Services are served, and
    /// NodePort and LoadBalancer ones also on the host's loopback at their
    /// node ports (30000-32767, TCP and UDP; call it inside a tokio
    /// runtime); other types, SCTP and IPv6 addresses are refused with
    /// what is missing.
    pub fn apply_service(&self, svc: &Service) -> Result<Service, Error> {
        self.put_service(svc, Put::Apply)
    }

    /// [`Runtime::apply_service`] for a Service that must be new: one of
    /// that name is `AlreadyExists`, decided under the same lock as the
    /// creation, so of two concurrent creations one fails.
    pub fn create_service(&self, svc: &Service) -> Result<Service, Error> {
        self.put_service(svc, Put::Create)
    }

    fn put_service(&self, svc: &Service, how: Put) -> Result<Service, Error> {
        let spec = service_spec(svc)?;
        if how != Put::Restore {
            self.open_namespace(&spec.namespace)?;
        }
        let name = spec.name.clone();
        let key = (spec.namespace.clone(), name.clone());
        let mut out = svc.clone();
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let previous = services.get(&key).cloned();
        if how == Put::Create && previous.is_some() {
            return Err(Error::ObjectExists { resource: SERVICES.into(), namespace: key.0, name });
        }
        // NodePort and LoadBalancer: a listener on the host's loopback per
        // port. A replaced Service keeps the listeners of ports it keeps;
        // new ones are opened before anything changes, so a port that
        // cannot be had refuses the Service and leaves the old one as it was.
        let kind = svc.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
        let node_ports = matches!(kind, "NodePort" | "LoadBalancer");
        let kept: Vec<(u16, Protocol, u16)> = previous.as_ref().map(node_ports_of).unwrap_or_default();
        let mut reused: Vec<(u16, Protocol, u16)> = Vec::new();
        let mut listeners = Vec::new();
        if node_ports {
            for (i, p) in spec.ports.iter().enumerate() {
                let asked = svc
                    .spec
                    .iter()
                    .flat_map(|s| s.ports.iter().flatten())
                    .nth(i)
                    .and_then(|sp| sp.node_port)
                    .filter(|n| *n != 0)
                    .map(|n| u16::try_from(n).unwrap_or(0));
                let keep = kept.iter().find(|(port, proto, _)| *port == p.port && *proto == p.protocol).map(|(_, _, n)| *n);
                match asked.or(keep) {
                    Some(n) if kept.contains(&(p.port, p.protocol, n)) => reused.push((p.port, p.protocol, n)),
                    want => listeners.push((p.port, bind_node_port(want, p.protocol, i, &name, &self.node_ports)?)),
                }
            }
        }
        let ip = self.cluster.add_service(spec).map_err(|e| Error::Invalid { name: name.clone(), message: format!("Service \"{name}\" is invalid: {e}") })?;
        // The object as the API server returns it.
        if node_ports {
            let s = out.spec.get_or_insert_with(Default::default);
            let same = |sp: &k8s_openapi::api::core::v1::ServicePort, port: u16, proto: Protocol| {
                sp.port == i32::from(port) && sp.protocol.as_deref().unwrap_or("TCP") == proto.as_str()
            };
            let given = reused.iter().copied().chain(listeners.iter().map(|(port, l)| (*port, l.protocol(), l.port())));
            for (port, proto, node_port) in given {
                if let Some(sp) = s.ports.iter_mut().flatten().find(|sp| same(sp, port, proto)) {
                    sp.node_port = Some(i32::from(node_port));
                }
            }
            if kind == "LoadBalancer" {
                // The load balancer is this machine's loopback.
                let status = out.status.get_or_insert_with(Default::default);
                status.load_balancer = Some(k8s_openapi::api::core::v1::LoadBalancerStatus {
                    ingress: Some(vec![k8s_openapi::api::core::v1::LoadBalancerIngress {
                        ip: Some("127.0.0.1".into()),
                        ip_mode: Some("VIP".into()),
                        ..Default::default()
                    }]),
                });
            }
        }
        let old = if how == Put::Restore { Some(svc) } else { previous.as_ref() };
        out.metadata.uid = old.and_then(|o| o.metadata.uid.clone()).or_else(|| Some(uuid::Uuid::new_v4().to_string()));
        out.metadata.creation_timestamp = old.and_then(|o| o.metadata.creation_timestamp.clone()).or_else(|| Some(Time(jiff::Timestamp::now())));
        if let Some(v) = self.version_for(how, &svc.metadata) {
            out.metadata.resource_version = Some(v.to_string());
        }
        if old.is_none() {
            self.log_creation(SERVICES, &(out.metadata.namespace.clone().unwrap_or_default(), out.metadata.name.clone().unwrap_or_default()));
        }
        let s = out.spec.get_or_insert_with(Default::default);
        // An ExternalName Service has no address at all; a headless one "None".
        if s.type_.as_deref() != Some("ExternalName") {
            let address = ip.map_or_else(|| "None".to_owned(), |ip| ip.to_string());
            s.cluster_ip = Some(address.clone());
            s.cluster_ips = Some(vec![address]);
            s.ip_families = ip.map(|_| vec!["IPv4".to_owned()]);
            s.ip_family_policy.get_or_insert_with(|| "SingleStack".to_owned());
        }
        if self.record_objects
            && let Err(e) = self.state.record_object(SERVICES, &key.0, &key.1, &serde_json::to_value(&out).expect("a Service serializes"))
        {
            // Not recorded: the network goes back to what it served.
            match previous.as_ref().map(service_spec) {
                Some(Ok(old)) => drop(self.cluster.add_service(old)),
                _ => drop(self.cluster.remove_service(&key.0, &key.1)),
            }
            return Err(e.into());
        }
        // Committed: the old listeners this Service no longer uses close,
        // the new ones serve.
        let mut tasks = self.node_ports.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|(k, proto, n), _| *k != key || reused.iter().any(|(_, rp, r)| r == n && rp == proto));
        for (port, listener) in listeners {
            let (node_port, proto) = (listener.port(), listener.protocol());
            let task = match listener {
                NodeListener::Tcp(l) => tokio::spawn(serve_node_port(l, self.cluster.clone(), key.clone(), port, false)),
                NodeListener::Udp { socket, sender } => {
                    let cluster = std::sync::Arc::downgrade(&self.cluster);
                    tokio::spawn(crate::net::serve_udp_node_port(socket, sender, cluster, key.0.clone(), key.1.clone(), port))
                }
            };
            tasks.insert((key.clone(), proto, node_port), NodePortTask(task));
        }
        services.insert(key, out.clone());
        Ok(out)
    }

    /// Service `namespace/name`, as [`Runtime::apply_service`] returned it.
    pub fn service(&self, namespace: &str, name: &str) -> Result<Service, Error> {
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services.get(&(namespace.to_owned(), name.to_owned())).cloned().ok_or_else(|| not_found(SERVICES, namespace, name))
    }

    /// Deletes Service `namespace/name`; what it was.
    pub fn delete_service(&self, namespace: &str, name: &str) -> Result<Service, Error> {
        let key = (namespace.to_owned(), name.to_owned());
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        if !services.contains_key(&key) {
            return Err(not_found(SERVICES, namespace, name));
        }
        if self.record_objects {
            self.state.remove_object(SERVICES, namespace, name)?;
        }
        self.cluster.remove_service(namespace, name);
        self.node_ports.lock().unwrap_or_else(|p| p.into_inner()).retain(|(k, _, _), _| *k != key);
        let gone = services.remove(&key).expect("looked up above");
        self.log_deletion(SERVICES, serde_json::to_value(&gone).expect("a Service serializes"));
        Ok(gone)
    }

    /// The endpoints of Service `namespace/name` now: the IP of each pod
    /// that serves it, with whether it is ready (an unready one serves
    /// only under `publishNotReadyAddresses`).
    pub fn service_endpoints(&self, namespace: &str, name: &str) -> Vec<(Ipv4Addr, bool)> {
        self.cluster.endpoints(namespace, name)
    }

    /// Creates (or replaces) a NetworkPolicy, defaulted and validated as
    /// `manifest::load_*` leave it: from now on every connection and
    /// datagram between pods, and out of the runtime, is checked against
    /// it (`net/policy.rs`). Returns it as the API server would: a uid,
    /// its creation time, and a generation counting changes of its spec.
    pub fn apply_network_policy(&self, policy: &NetworkPolicy) -> Result<NetworkPolicy, Error> {
        self.put_network_policy(policy, Put::Apply)
    }

    /// [`Runtime::apply_network_policy`] for a policy that must be new
    /// (`AlreadyExists` otherwise, decided under the creation's lock).
    pub fn create_network_policy(&self, policy: &NetworkPolicy) -> Result<NetworkPolicy, Error> {
        self.put_network_policy(policy, Put::Create)
    }

    fn put_network_policy(&self, policy: &NetworkPolicy, how: Put) -> Result<NetworkPolicy, Error> {
        let key = (policy.metadata.namespace.clone().unwrap_or_else(|| "default".into()), policy.metadata.name.clone().unwrap_or_default());
        if how != Put::Restore {
            self.open_namespace(&key.0)?;
        }
        let mut policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        if how == Put::Create && policies.contains_key(&key) {
            return Err(Error::ObjectExists { resource: NETWORK_POLICIES.into(), namespace: key.0, name: key.1 });
        }
        let old = if how == Put::Restore { Some(policy) } else { policies.get(&key) };
        let mut out = policy.clone();
        out.metadata.namespace = Some(key.0.clone());
        out.metadata.uid = old.and_then(|o| o.metadata.uid.clone()).or_else(|| Some(uuid::Uuid::new_v4().to_string()));
        out.metadata.creation_timestamp = old.and_then(|o| o.metadata.creation_timestamp.clone()).or_else(|| Some(Time(jiff::Timestamp::now())));
        if let Some(v) = self.version_for(how, &policy.metadata) {
            out.metadata.resource_version = Some(v.to_string());
        }
        if old.is_none() {
            self.log_creation(NETWORK_POLICIES, &key);
        }
        let generation = old.and_then(|o| o.metadata.generation).unwrap_or(0);
        out.metadata.generation = Some(if old.is_some_and(|o| o.spec == out.spec) { generation } else { generation + 1 });
        if self.record_objects {
            self.state.record_object(NETWORK_POLICIES, &key.0, &key.1, &serde_json::to_value(&out).expect("a NetworkPolicy serializes"))?;
        }
        self.cluster.add_network_policy(out.clone());
        policies.insert(key, out.clone());
        Ok(out)
    }

    /// NetworkPolicy `namespace/name`.
    pub fn network_policy(&self, namespace: &str, name: &str) -> Result<NetworkPolicy, Error> {
        let policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        policies.get(&(namespace.to_owned(), name.to_owned())).cloned().ok_or_else(|| not_found(NETWORK_POLICIES, namespace, name))
    }

    /// The NetworkPolicies of `namespace` (all namespaces: none), by
    /// namespace and name.
    pub fn network_policies(&self, namespace: Option<&str>) -> Vec<NetworkPolicy> {
        let policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        policies.iter().filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns)).map(|(_, p)| p.clone()).collect()
    }

    /// Deletes NetworkPolicy `namespace/name`; what it was.
    pub fn delete_network_policy(&self, namespace: &str, name: &str) -> Result<NetworkPolicy, Error> {
        let key = (namespace.to_owned(), name.to_owned());
        let mut policies = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        if !policies.contains_key(&key) {
            return Err(not_found(NETWORK_POLICIES, namespace, name));
        }
        if self.record_objects {
            self.state.remove_object(NETWORK_POLICIES, namespace, name)?;
        }
        self.cluster.remove_network_policy(namespace, name);
        let gone = policies.remove(&key).expect("looked up above");
        self.log_deletion(NETWORK_POLICIES, serde_json::to_value(&gone).expect("a NetworkPolicy serializes"));
        Ok(gone)
    }

    /// Serves again the ConfigMaps, Secrets, Services and NetworkPolicies
    /// recorded in the state directory ([`RuntimeConfig::record_objects`](super::RuntimeConfig)),
    /// policies first; call it inside a tokio runtime (node ports listen).
    /// Returns what could not be restored, each with its file and why
    /// (a node port another process took meanwhile, a file that does not
    /// parse); the others are served.
    pub fn restore_objects(&self) -> Vec<String> {
        let mut failed = Vec::new();
        let mut load = |resource: &str| {
            let mut out = Vec::new();
            for (path, value) in self.state.objects(resource) {
                let text = match value {
                    Ok(v) => v.to_string(),
                    Err(e) => {
                        failed.push(crate::error_text::full_message(&e));
                        continue;
                    }
                };
                match crate::manifest::load_str(&text, &path.display().to_string(), crate::manifest::Validation::Strict) {
                    Ok(m) => out.push((path, m)),
                    Err(e) => failed.push(crate::error_text::full_message(&e)),
                }
            }
            out
        };
        let config = (load(super::config::CONFIG_MAPS), load(super::config::SECRETS));
        let policies = load(NETWORK_POLICIES);
        let services = load(SERVICES);
        failed.extend(self.restore_config(config.0, config.1));
        for (path, m) in &policies {
            for p in &m.network_policies {
                if let Err(e) = self.put_network_policy(p, Put::Restore) {
                    failed.push(format!("{}: {}", path.display(), crate::error_text::full_message(&e)));
                }
            }
        }
        for (path, m) in &services {
            for svc in &m.services {
                if let Err(e) = self.put_service(svc, Put::Restore) {
                    failed.push(format!("{}: {}", path.display(), crate::error_text::full_message(&e)));
                }
            }
        }
        failed.extend(self.restore_namespaces());
        failed
    }

    /// Takes pod IPs from `cidr` (`a.b.c.d/n`, IPv4, /8 to /28: a node's
    /// `spec.podCIDR`) for the pods started from now on, instead of
    /// 10.88.0.0/16.
    pub fn set_pod_cidr(&self, cidr: &str) -> Result<(), Error> {
        let (ip, bits) = parse_cidr(cidr, 8..=28)?;
        self.cluster.set_pod_subnet(ip, bits);
        Ok(())
    }

    /// Routed mode (node mode): this node's pod addresses are the host's
    /// own (on Linux a `local` route of its podCIDR), so pods of other
    /// nodes reach its pods at their IPs, and its pods connect to theirs
    /// from their own (`net/routed.rs`).
    pub fn set_routed(&self, routed: bool) {
        self.cluster.set_routed(routed);
    }

    /// The podCIDRs of the cluster's other nodes (`a.b.c.d/n`, IPv4; the
    /// others are skipped): connections to their addresses go through the
    /// host, whatever the egress setting.
    pub fn set_remote_pod_cidrs(&self, cidrs: &[String]) {
        self.cluster.set_remote_pod_cidrs(cidrs.iter().filter_map(|c| parse_cidr(c, 1..=32).ok()).collect());
    }

    /// Serves a Service of the cluster this node belongs to, as its
    /// kube-proxy and cluster DNS would: at the ClusterIP the cluster gave
    /// it, with the endpoints its EndpointSlices list (IPv4 slices; pods of
    /// this runtime in memory, others through the host). Not one of this
    /// runtime's own Services: no node ports, not listed, not recorded.
    pub fn serve_cluster_service(&self, svc: &Service, slices: &[EndpointSlice]) -> Result<(), Error> {
        let mut spec = service_spec(svc)?;
        let ip = spec.cluster_ip.take();
        let (ns, name) = (spec.namespace.clone(), spec.name.clone());
        self.cluster.add_cluster_service(spec, ip);
        self.cluster.set_slice_endpoints(&ns, &name, Some(slice_endpoints(slices)));
        self.cluster_node_ports(svc, (ns, name));
        Ok(())
    }

    /// A cluster Service's TCP node ports (NodePort and LoadBalancer
    /// types) on every address of the host, as kube-proxy opens them: each
    /// connection goes to an endpoint here or on another node. Ports the
    /// Service no longer has close; one the host refuses is said.
    fn cluster_node_ports(&self, svc: &Service, key: (String, String)) {
        let kind = svc.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
        let wanted: Vec<(u16, u16)> = if matches!(kind, "NodePort" | "LoadBalancer") {
            node_ports_of(svc).into_iter().filter(|(_, proto, _)| *proto == Protocol::Tcp).map(|(port, _, node_port)| (port, node_port)).collect()
        } else {
            Vec::new()
        };
        let mut tasks = self.node_ports.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|(k, proto, n), _| *k != key || (*proto == Protocol::Tcp && wanted.iter().any(|(_, w)| w == n)));
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        for (port, node_port) in wanted {
            if tasks.contains_key(&(key.clone(), Protocol::Tcp, node_port)) {
                continue;
            }
            let listener = std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, node_port)).and_then(|l| l.set_nonblocking(true).map(|()| l));
            match listener {
                Ok(l) => {
                    let task = handle.spawn(serve_node_port(l, self.cluster.clone(), key.clone(), port, true));
                    tasks.insert((key.clone(), Protocol::Tcp, node_port), NodePortTask(task));
                }
                Err(e) => eprintln!("wasmpod: Service {}/{}: node port {node_port}: {e}", key.0, key.1),
            }
        }
    }

    /// What NetworkPolicies know of the cluster this node belongs to: the
    /// pods of other nodes by address (so podSelector and namespaceSelector
    /// peers match them, and named ports resolve), and each namespace's
    /// labels.
    pub fn set_cluster_view(
        &self,
        remote_pods: std::collections::HashMap<Ipv4Addr, crate::RemotePod>,
        namespaces: std::collections::HashMap<String, std::collections::BTreeMap<String, String>>,
    ) {
        self.cluster.set_cluster_view(remote_pods, namespaces);
    }

    /// Enforces a NetworkPolicy of the cluster this node belongs to on its
    /// pods, as a CNI plugin would (validated by the cluster's API server;
    /// not one of this runtime's own objects: not listed, not recorded).
    pub fn serve_cluster_network_policy(&self, policy: &NetworkPolicy) {
        self.cluster.add_network_policy(policy.clone());
    }

    /// Stops enforcing the cluster's NetworkPolicy `namespace/name`.
    pub fn forget_cluster_network_policy(&self, namespace: &str, name: &str) {
        self.cluster.remove_network_policy(namespace, name);
    }

    /// Stops serving the cluster's Service `namespace/name`.
    pub fn forget_cluster_service(&self, namespace: &str, name: &str) {
        self.cluster.remove_service(namespace, name);
        self.cluster.set_slice_endpoints(namespace, name, None);
        let key = (namespace.to_owned(), name.to_owned());
        self.node_ports.lock().unwrap_or_else(|p| p.into_inner()).retain(|(k, _, _), _| *k != key);
    }

    /// The EndpointSlices of `namespace`'s Services (all namespaces: none),
    /// as the EndpointSlice controller would write them now.
    pub fn endpoint_slices(&self, namespace: Option<&str>) -> Vec<EndpointSlice> {
        self.selecting(namespace).iter().flat_map(|(svc, records)| super::endpoints::slices(svc, records, &self.node_name)).collect()
    }

    /// The Endpoints (core/v1) of `namespace`'s Services (all: none), as
    /// the endpoints controller would write them now.
    pub fn endpoints(&self, namespace: Option<&str>) -> Vec<Endpoints> {
        self.selecting(namespace).iter().map(|(svc, records)| super::endpoints::endpoints(svc, records, &self.node_name)).collect()
    }

    /// The Services of `namespace` with a selector (the ones controllers
    /// manage endpoints of), each with the pods behind it now.
    fn selecting(&self, namespace: Option<&str>) -> Vec<(Service, Vec<crate::net::EndpointRecord>)> {
        let mut out = Vec::new();
        for svc in self.services(namespace) {
            let (ns, name) = (svc.metadata.namespace.clone().unwrap_or_default(), svc.metadata.name.clone().unwrap_or_default());
            if let Some((_, records)) = self.cluster.endpoint_records(&ns, &name)
                && svc.spec.as_ref().is_some_and(|s| s.selector.is_some())
            {
                out.push((svc, records));
            }
        }
        out
    }

    /// The Services of `namespace` (all namespaces: none), by namespace
    /// and name.
    pub fn services(&self, namespace: Option<&str>) -> Vec<Service> {
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services.iter().filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns)).map(|(_, s)| s.clone()).collect()
    }
}

/// The resources as the API server names them in its messages and
/// `objects/` names its folders.
const SERVICES: &str = "services";
const NETWORK_POLICIES: &str = "networkpolicies.networking.k8s.io";

/// The node ports a Service was given: (port, protocol, nodePort).
fn node_ports_of(svc: &Service) -> Vec<(u16, Protocol, u16)> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| {
            let proto = if p.protocol.as_deref() == Some("UDP") { Protocol::Udp } else { Protocol::Tcp };
            Some((u16::try_from(p.port).ok()?, proto, u16::try_from(p.node_port?).ok()?))
        })
        .collect()
}

/// A node port's socket on the host's loopback.
enum NodeListener {
    Tcp(std::net::TcpListener),
    /// The socket the task receives on, and a clone to send on.
    Udp {
        socket: tokio::net::UdpSocket,
        sender: std::net::UdpSocket,
    },
}

impl NodeListener {
    fn port(&self) -> u16 {
        match self {
            NodeListener::Tcp(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            NodeListener::Udp { sender, .. } => sender.local_addr().map(|a| a.port()).unwrap_or(0),
        }
    }

    fn protocol(&self) -> Protocol {
        match self {
            NodeListener::Tcp(_) => Protocol::Tcp,
            NodeListener::Udp { .. } => Protocol::Udp,
        }
    }
}

/// The node port range (kube-apiserver's `--service-node-port-range`).
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A NodePort's listener task; dropped, it stops listening.
pub(super) struct NodePortTask(tokio::task::JoinHandle<()>);

impl Drop for NodePortTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The node ports in use: ((namespace, service), protocol, nodePort) -> listener.
pub(super) type NodePorts = std::sync::Mutex<std::collections::HashMap<((String, String), Protocol, u16), NodePortTask>>;

/// Listens on 127.0.0.1 at `asked` for `protocol` (the API server's
/// messages, about `spec.ports[index]`, when it is outside the range or
/// taken), or at the first free port of the range.
fn bind_node_port(asked: Option<u16>, protocol: Protocol, index: usize, service: &str, used: &NodePorts) -> Result<NodeListener, Error> {
    let invalid = |port: u16, why: &str| Error::Invalid {
        name: service.to_owned(),
        message: format!("Service \"{service}\" is invalid: spec.ports[{index}].nodePort: Invalid value: {port}: {why}"),
    };
    let bind = |port: u16| -> std::io::Result<NodeListener> {
        let at = (std::net::Ipv4Addr::LOCALHOST, port);
        Ok(match protocol {
            Protocol::Tcp => {
                let l = std::net::TcpListener::bind(at)?;
                l.set_nonblocking(true)?;
                NodeListener::Tcp(l)
            }
            Protocol::Udp => {
                let sender = std::net::UdpSocket::bind(at)?;
                sender.set_nonblocking(true)?;
                let socket = tokio::net::UdpSocket::from_std(sender.try_clone()?)?;
                NodeListener::Udp { socket, sender }
            }
        })
    };
    match asked {
        Some(port) if !NODE_PORTS.contains(&port) => Err(invalid(port, "provided port is not in the valid range. The range of valid ports is 30000-32767")),
        Some(port) => bind(port).map_err(|_| invalid(port, "provided port is already allocated")),
        None => {
            let taken: Vec<u16> = used.lock().unwrap_or_else(|p| p.into_inner()).keys().map(|(_, _, p)| *p).collect();
            NODE_PORTS.filter(|p| !taken.contains(p)).find_map(|p| bind(p).ok()).ok_or_else(|| invalid(0, "range is full"))
        }
    }
}

/// Accepts on a NodePort's listener and splices each connection to an
/// endpoint of the Service: a pod here in memory, or (`remote`: a cluster
/// Service's, node mode) another node's through the host, from the node's
/// address as kube-proxy masquerades it.
async fn serve_node_port(listener: std::net::TcpListener, cluster: std::sync::Arc<crate::net::ClusterNetwork>, key: (String, String), port: u16, remote: bool) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    while let Ok((mut host, _)) = listener.accept().await {
        // No endpoint: the connection closes at once, as a reject would.
        match cluster.route_to_service(&key.0, &key.1, port, remote) {
            Ok(crate::net::ServiceRoute::Here(mut conn)) => drop(tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut host, &mut conn).await;
            })),
            Ok(crate::net::ServiceRoute::Elsewhere(addr)) => drop(tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(addr).await {
                    let _ = tokio::io::copy_bidirectional(&mut host, &mut out).await;
                }
            })),
            Err(_) => {}
        }
    }
}

/// `a.b.c.d/n` (IPv4) with `n` in `bits`.
fn parse_cidr(cidr: &str, bits: std::ops::RangeInclusive<u8>) -> Result<(Ipv4Addr, u8), Error> {
    let bad = || Error::BadRequest(format!("pod CIDR {cidr:?}: expected an IPv4 a.b.c.d/n with n from {} to {}", bits.start(), bits.end()));
    let (ip, n) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let n: u8 = n.parse().ok().filter(|b| bits.contains(b)).ok_or_else(bad)?;
    Ok((ip, n))
}

/// The endpoints of a Service's EndpointSlices (IPv4 ones), with the
/// API's defaults: conditions left out are ready and serving, and not
/// terminating.
fn slice_endpoints(slices: &[EndpointSlice]) -> Vec<crate::net::SliceEndpoint> {
    let mut out = Vec::new();
    for slice in slices.iter().filter(|s| s.address_type == "IPv4") {
        let ports: Vec<(String, u16, Protocol)> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    _ => return None,
                };
                Some((p.name.clone().unwrap_or_default(), u16::try_from(p.port?).ok()?, protocol))
            })
            .collect();
        for e in &slice.endpoints {
            let c = e.conditions.clone().unwrap_or_default();
            let ready = c.ready.unwrap_or(true);
            for ip in e.addresses.iter().filter_map(|a| a.parse::<Ipv4Addr>().ok()) {
                out.push(crate::net::SliceEndpoint {
                    ip,
                    hostname: e.hostname.clone(),
                    ready,
                    serving: c.serving.unwrap_or(ready),
                    terminating: c.terminating.unwrap_or(false),
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

/// What the network serves of `svc`.
fn service_spec(svc: &Service) -> Result<ServiceSpec, Error> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let unsupported = |field: &str, reason: String| Error::ServiceUnsupported { service: name.clone(), field: field.to_owned(), reason };
    let spec = svc.spec.clone().unwrap_or_default();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => {
            return Err(unsupported("spec.type", format!("{other} Services are not served")));
        }
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let cluster_ip = match spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None") {
        None => None,
        Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| unsupported("spec.clusterIP", format!("{ip}: only IPv4 ClusterIPs are served")))?),
    };
    let mut ports = Vec::new();
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            other => return Err(unsupported(&format!("spec.ports[{i}].protocol"), format!("{other} is not served (TCP and UDP are)"))),
        };
        let target = match &p.target_port {
            Some(IntOrString::String(s)) => TargetPort::Name(s.clone()),
            Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).unwrap_or(0)),
            None => TargetPort::Number(u16::try_from(p.port).unwrap_or(0)),
        };
        ports.push(ServicePort { name: p.name.clone().unwrap_or_default(), port: u16::try_from(p.port).unwrap_or(0), protocol, target });
    }
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        let secs = spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()).and_then(|c| c.timeout_seconds).unwrap_or(10800);
        Duration::from_secs(u64::try_from(secs).unwrap_or(10800))
    });
    Ok(ServiceSpec {
        namespace: svc.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        name: name.clone(),
        cluster_ip,
        headless,
        ports,
        selector: spec.selector.unwrap_or_default(),
        affinity,
        publish_not_ready: spec.publish_not_ready_addresses == Some(true),
        external_name: spec.external_name.filter(|_| spec.type_.as_deref() == Some("ExternalName")).map(|n| n.trim_end_matches('.').to_ascii_lowercase()),
    })
}
