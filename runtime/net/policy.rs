//! NetworkPolicy (networking.k8s.io/v1), enforced where a CNI plugin would
//! enforce it: at each TCP connect and UDP datagram between pods (after a
//! Service picked its endpoint), and at each connection out of the
//! runtime. A pod no policy selects for a direction allows everything in
//! that direction; one that is selected allows only what a rule of one of
//! the selecting policies allows (peers by podSelector, namespaceSelector
//! and ipBlock; ports by number, range or the destination's port name).
//! Traffic within a pod is never affected, and name lookups are not
//! network traffic here, so they need no rule.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{ClusterNetwork, PodNetwork, Protocol};

/// The label every namespace carries (the only one here: there are no
/// Namespace objects to add others).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A pod of another node, as the cluster lists it (node mode): what
/// NetworkPolicy peers and named ports select it by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePod {
    /// Its namespace.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Named container ports: (name, port, protocol).
    pub ports: Vec<(String, u16, Protocol)>,
}

/// What policies know of the cluster beyond this runtime's pods (node
/// mode): other nodes' pods by address, and namespaces' labels.
#[derive(Debug, Clone, Default)]
pub(super) struct ClusterView {
    pub remote_pods: Arc<std::collections::HashMap<std::net::Ipv4Addr, RemotePod>>,
    pub namespaces: Arc<std::collections::HashMap<String, std::collections::BTreeMap<String, String>>>,
}

impl ClusterView {
    /// A namespace's labels: the cluster's, and always its name label.
    fn namespace_labels(&self, ns: &str) -> std::collections::BTreeMap<String, String> {
        let mut labels = self.namespaces.get(ns).cloned().unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), ns.to_owned());
        labels
    }

    fn remote(&self, ip: IpAddr) -> Option<&RemotePod> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.remote_pods.get(&v4),
            IpAddr::V6(_) => None,
        }
    }
}

/// One side of a connection.
pub(crate) enum Peer<'a> {
    /// A pod on the network.
    Pod(&'a PodNetwork),
    /// An address outside the runtime.
    Outside(IpAddr),
}

impl Peer<'_> {
    fn ip(&self) -> IpAddr {
        match self {
            Peer::Pod(p) => IpAddr::V4(p.ip),
            // `::ffff:a.b.c.d` is the IPv4 address it carries.
            Peer::Outside(ip) => ip.to_canonical(),
        }
    }
}

/// Whether `selector` matches `labels` (matchLabels and matchExpressions;
/// an empty selector matches everything).
pub(crate) fn selects(selector: &LabelSelector, labels: &std::collections::BTreeMap<String, String>) -> bool {
    let labels_ok = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// Whether `ip` is in `block` (its CIDR, minus its exceptions).
fn in_block(block: &IPBlock, ip: IpAddr) -> bool {
    in_cidr(&block.cidr, ip) && !block.except.iter().flatten().any(|e| in_cidr(e, ip))
}

fn in_cidr(cidr: &str, ip: IpAddr) -> bool {
    let Some((base, bits)) = cidr.split_once('/') else { return false };
    let (Ok(base), Ok(bits)) = (base.parse::<IpAddr>(), bits.parse::<u32>()) else { return false };
    match (base, ip) {
        (IpAddr::V4(b), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(b) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(b), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(b) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether `peer` matches `rule_peer` of a policy in `policy_ns`; an
/// address outside the runtime that is a pod of another node matches as
/// that pod.
fn peer_matches(rule_peer: &NetworkPolicyPeer, policy_ns: &str, peer: &Peer<'_>, view: &ClusterView) -> bool {
    if let Some(block) = &rule_peer.ip_block {
        return in_block(block, peer.ip());
    }
    let (namespace, labels) = match peer {
        Peer::Pod(pod) => (pod.namespace.clone(), pod.endpoint_labels()),
        Peer::Outside(ip) => match view.remote(*ip) {
            Some(r) => (r.namespace.clone(), r.labels.clone()),
            None => return false,
        },
    };
    let namespace_ok = match &rule_peer.namespace_selector {
        Some(sel) => selects(sel, &view.namespace_labels(&namespace)),
        None => namespace == policy_ns,
    };
    let pod_ok = rule_peer.pod_selector.as_ref().is_none_or(|sel| selects(sel, &labels));
    namespace_ok && pod_ok
}

/// Whether `port`/`protocol` on the destination `dst` matches a rule's port.
fn port_matches(rule_port: &NetworkPolicyPort, dst: &Peer<'_>, port: u16, protocol: Protocol, view: &ClusterView) -> bool {
    if rule_port.protocol.as_deref().unwrap_or("TCP") != protocol.as_str() {
        return false;
    }
    match &rule_port.port {
        None => true,
        Some(IntOrString::Int(n)) => {
            let end = rule_port.end_port.unwrap_or(*n);
            (*n..=end).contains(&i32::from(port))
        }
        Some(IntOrString::String(name)) => match dst {
            Peer::Pod(pod) => pod.named_port(name, protocol) == Some(port),
            Peer::Outside(ip) => view.remote(*ip).is_some_and(|r| r.ports.iter().any(|(n, p, proto)| n == name && *p == port && *proto == protocol)),
        },
    }
}

fn types(policy: &NetworkPolicy) -> Vec<String> {
    let spec = policy.spec.as_ref();
    match spec.and_then(|s| s.policy_types.clone()) {
        Some(t) if !t.is_empty() => t,
        // The API server's default: Ingress, and Egress when it has egress rules.
        _ => {
            let mut t = vec!["Ingress".to_owned()];
            if spec.is_some_and(|s| s.egress.as_ref().is_some_and(|e| !e.is_empty())) {
                t.push("Egress".to_owned());
            }
            t
        }
    }
}

impl ClusterNetwork {
    /// Adds or replaces a NetworkPolicy (defaulted and validated).
    pub fn add_network_policy(&self, policy: NetworkPolicy) {
        let key = (policy.metadata.namespace.clone().unwrap_or_else(|| "default".into()), policy.metadata.name.clone().unwrap_or_default());
        self.inner.lock().expect("cluster network poisoned").policies.insert(key, Arc::new(policy));
    }

    /// What policies know of other nodes' pods (by address) and of the
    /// cluster's namespaces' labels (node mode).
    pub fn set_cluster_view(
        &self,
        remote_pods: std::collections::HashMap<std::net::Ipv4Addr, RemotePod>,
        namespaces: std::collections::HashMap<String, std::collections::BTreeMap<String, String>>,
    ) {
        self.inner.lock().expect("cluster network poisoned").view = ClusterView { remote_pods: Arc::new(remote_pods), namespaces: Arc::new(namespaces) };
    }

    /// Removes a NetworkPolicy; whether it was there.
    pub fn remove_network_policy(&self, namespace: &str, name: &str) -> bool {
        self.inner.lock().expect("cluster network poisoned").policies.remove(&(namespace.to_owned(), name.to_owned())).is_some()
    }

    /// Whether the policies let `src` reach `dst` on `port`/`protocol`.
    pub(crate) fn policy_allows(&self, src: &Peer<'_>, dst: &Peer<'_>, port: u16, protocol: Protocol) -> bool {
        if let (Peer::Pod(a), Peer::Pod(b)) = (src, dst)
            && std::ptr::eq(*a, *b)
        {
            return true;
        }
        let (policies, view) = {
            let inner = self.inner.lock().expect("cluster network poisoned");
            (inner.policies.values().cloned().collect::<Vec<Arc<NetworkPolicy>>>(), inner.view.clone())
        };
        if policies.is_empty() {
            return true;
        }
        let selecting = |pod: &PodNetwork, direction: &str| -> Vec<&Arc<NetworkPolicy>> {
            policies
                .iter()
                .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == pod.namespace)
                .filter(|p| types(p).iter().any(|t| t == direction))
                .filter(|p| p.spec.as_ref().and_then(|s| s.pod_selector.as_ref()).is_none_or(|sel| selects(sel, &pod.endpoint_labels())))
                .collect()
        };
        // A rule allows when its peers (none listed: all) hold `other` and
        // its ports (none listed: all) hold the destination's port.
        let rule_allows = |peers: Option<&[NetworkPolicyPeer]>, ports: Option<&[NetworkPolicyPort]>, ns: &str, other: &Peer<'_>| {
            let peers_ok = peers.is_none_or(|list| list.is_empty() || list.iter().any(|peer| peer_matches(peer, ns, other, &view)));
            let ports_ok = ports.is_none_or(|list| list.is_empty() || list.iter().any(|rp| port_matches(rp, dst, port, protocol, &view)));
            peers_ok && ports_ok
        };
        // A pod no policy selects for `direction` allows all of it; a
        // selected one what a rule of a selecting policy allows.
        let side_allows = |pod: &PodNetwork, direction: &str, other: &Peer<'_>| {
            let selected = selecting(pod, direction);
            selected.is_empty()
                || selected.iter().any(|p| {
                    let ns = p.metadata.namespace.as_deref().unwrap_or("default");
                    let spec = p.spec.as_ref();
                    if direction == "Egress" {
                        spec.and_then(|s| s.egress.as_ref()).into_iter().flatten().any(|r| rule_allows(r.to.as_deref(), r.ports.as_deref(), ns, other))
                    } else {
                        spec.and_then(|s| s.ingress.as_ref()).into_iter().flatten().any(|r| rule_allows(r.from.as_deref(), r.ports.as_deref(), ns, other))
                    }
                })
        };
        let egress_ok = match src {
            Peer::Pod(pod) => side_allows(pod, "Egress", dst),
            Peer::Outside(_) => true,
        };
        let ingress_ok = match dst {
            Peer::Pod(pod) => side_allows(pod, "Ingress", src),
            Peer::Outside(_) => true,
        };
        egress_ok && ingress_ok
    }
}

impl PodNetwork {
    fn endpoint_labels(&self) -> std::collections::BTreeMap<String, String> {
        self.endpoint.lock().expect("pod network poisoned").labels.clone()
    }

    fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.endpoint.lock().expect("pod network poisoned").ports.iter().find(|(n, _, p)| n == name && *p == protocol).map(|(_, port, _)| *port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::EndpointInfo;

    fn policy(yaml: &str) -> NetworkPolicy {
        serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    fn pod(cluster: &Arc<ClusterNetwork>, name: &str, ns: &str, app: &str) -> Arc<PodNetwork> {
        let p = cluster.attach(name, ns);
        p.set_endpoint_info(EndpointInfo {
            pod: name.to_owned(),
            labels: [("app".to_owned(), app.to_owned())].into(),
            ports: vec![("http".into(), 8080, Protocol::Tcp)],
            ..Default::default()
        });
        p
    }

    #[test]
    fn selected_pods_take_only_what_a_rule_allows_and_others_take_everything() {
        let cluster = ClusterNetwork::new();
        let (db, web, other, elsewhere) = (
            pod(&cluster, "db", "default", "db"),
            pod(&cluster, "web", "default", "web"),
            pod(&cluster, "x", "default", "x"),
            pod(&cluster, "w2", "prod", "web"),
        );
        let allows = |a: &Arc<PodNetwork>, b: &Arc<PodNetwork>, port| cluster.policy_allows(&Peer::Pod(a), &Peer::Pod(b), port, Protocol::Tcp);
        assert!(allows(&web, &db, 5432) && allows(&other, &db, 5432), "no policy: all allowed");
        cluster.add_network_policy(policy(
            "metadata: {name: db-from-web, namespace: default}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 5432}]\n",
        ));
        assert!(allows(&web, &db, 5432));
        assert!(!allows(&web, &db, 22), "another port");
        assert!(!allows(&other, &db, 5432), "another pod");
        assert!(!allows(&elsewhere, &db, 5432), "a web pod of another namespace");
        assert!(allows(&db, &web, 8080), "web is not selected");
        assert!(allows(&db, &db, 22), "within a pod");
        // A namespaceSelector lets the other namespace's web pods in; a
        // named port is the destination's.
        cluster.add_network_policy(policy(
            "metadata: {name: from-prod, namespace: default}\nspec:\n  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: prod}}, podSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}}]\n    ports: [{port: http}]\n",
        ));
        assert!(allows(&elsewhere, &other, 8080) && !allows(&elsewhere, &other, 8081));
        // Egress: default-deny but for an ipBlock outside.
        cluster.add_network_policy(policy(
            "metadata: {name: web-out, namespace: default}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 198.18.0.0/15, except: [198.18.9.0/24]}}]\n",
        ));
        let out = |ip: &str| cluster.policy_allows(&Peer::Pod(&web), &Peer::Outside(ip.parse().unwrap()), 443, Protocol::Tcp);
        assert!(out("198.18.7.2") && !out("198.18.9.2") && !out("93.184.216.34"));
        assert!(!allows(&web, &db, 5432), "web's egress now excludes db");
        assert!(cluster.remove_network_policy("default", "web-out"));
        assert!(allows(&web, &db, 5432));
    }

    #[tokio::test]
    async fn udp_replies_pass_a_default_deny_as_connection_tracking_lets_them() {
        let cluster = ClusterNetwork::new();
        let (client, server) = (pod(&cluster, "c", "default", "client"), pod(&cluster, "s", "default", "server"));
        // Nothing may come in to the client; the server takes anything.
        cluster.add_network_policy(policy(
            "metadata: {name: deny-in, namespace: default}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Ingress]\n",
        ));
        let mut at_client = client.bind_udp(4000, false).unwrap();
        let mut at_server = server.bind_udp(53, false).unwrap();
        let client_addr = std::net::SocketAddr::from((client.ip(), 4000));
        // Unasked, the server cannot reach the client.
        server.send_udp(53, b"spam".to_vec(), client_addr).unwrap();
        assert!(at_client.try_recv().is_none());
        // Asked, its answer comes back.
        client.send_udp(4000, b"q".to_vec(), std::net::SocketAddr::from((server.ip(), 53))).unwrap();
        assert!(at_server.try_recv().is_some());
        server.send_udp(53, b"answer".to_vec(), client_addr).unwrap();
        assert_eq!(at_client.recv().await.unwrap().data, b"answer");
    }

    #[test]
    fn pods_of_other_nodes_match_peers_by_their_labels_namespace_and_named_ports() {
        let cluster = ClusterNetwork::new();
        let db = pod(&cluster, "db", "default", "db");
        let (web_ip, stranger_ip, prod_ip) = ("10.244.2.5".parse().unwrap(), "10.244.2.6".parse().unwrap(), "10.244.3.7".parse().unwrap());
        let remote = |ns: &str, app: &str| RemotePod {
            namespace: ns.into(),
            labels: [("app".to_owned(), app.to_owned())].into(),
            ports: vec![("metrics".into(), 9090, Protocol::Tcp)],
        };
        cluster.set_cluster_view(
            [(web_ip, remote("default", "web")), (stranger_ip, remote("default", "x")), (prod_ip, remote("prod", "web"))].into(),
            [("prod".to_owned(), [("env".to_owned(), "production".to_owned())].into())].into(),
        );
        cluster.add_network_policy(policy(
            "metadata: {name: db, namespace: default}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {matchLabels: {env: production}}}]\n  egress:\n  - ports: [{port: metrics}]\n",
        ));
        let from = |ip: IpAddr| cluster.policy_allows(&Peer::Outside(ip), &Peer::Pod(&db), 5432, Protocol::Tcp);
        assert!(from(IpAddr::V4(web_ip)), "a web pod of another node");
        assert!(!from(IpAddr::V4(stranger_ip)), "another pod of another node");
        assert!(from(IpAddr::V4(prod_ip)), "its namespace's labels are the cluster's");
        assert!(!from("10.244.9.9".parse().unwrap()), "an address nobody knows");
        // Egress by a named port of the remote destination.
        let to = |ip: IpAddr, port| cluster.policy_allows(&Peer::Pod(&db), &Peer::Outside(ip), port, Protocol::Tcp);
        assert!(to(IpAddr::V4(web_ip), 9090) && !to(IpAddr::V4(web_ip), 9091));
    }
}
