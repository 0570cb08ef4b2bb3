//! UDP across the runtime's edge, both ways, as NAT and kube-proxy carry it:
//!
//! - **Egress**: a datagram a pod sends to an address outside the runtime
//!   (see `egress.rs` for which) leaves through a host UDP socket, one per
//!   pod port that sends out; replies from the addresses it sent to come
//!   back to that port, as a NAT's UDP mapping lets them. The mapping ends
//!   after 30 s without traffic, or when the pod's port closes.
//! - **NodePort**: a datagram to a UDP node port on the host's loopback
//!   enters as coming from the node's address (10.88.0.1) and a port of
//!   its own per client, to an endpoint of the Service (a flow, as TCP's
//!   connections); the endpoint's replies to that address and port go back
//!   to the client from the node port.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::udp::{Datagram, MAX_DATAGRAM};
use super::{ClusterNetwork, PodNetwork, Protocol};

/// How long a UDP mapping lives without traffic (conntrack's UDP timeout).
pub(super) const UDP_MAPPING_TIMEOUT: Duration = Duration::from_secs(30);

/// Aborts its task when dropped.
pub(super) struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One pod port's way out: the host socket, the peers it sent to, and the
/// task that brings their replies in.
pub(super) struct UdpOut {
    socket: Arc<tokio::net::UdpSocket>,
    /// The same socket, to send on at once: tokio's `try_send_to` knows a
    /// new socket writable only after the reactor's next turn, and would
    /// drop the first datagram.
    sender: std::net::UdpSocket,
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
    last: Arc<Mutex<Instant>>,
    _task: TaskGuard,
}

impl PodNetwork {
    /// Sends a datagram from this pod's UDP `port` to `to`, outside the
    /// runtime (the caller checked [`PodNetwork::is_egress`]). Dropped, as
    /// a network drops it, when a NetworkPolicy forbids it or the host
    /// cannot send it now.
    pub(super) fn send_out_udp(self: &Arc<Self>, port: u16, data: &[u8], to: SocketAddr) {
        let Some(cluster) = self.cluster.upgrade() else { return };
        // The guest's socket family decides where replies go; the host
        // socket's is the destination's own (an IPv4-mapped one is IPv4).
        let guest_v6 = to.is_ipv6();
        let to = SocketAddr::new(to.ip().to_canonical(), to.port());
        if !cluster.policy_allows(&super::policy::Peer::Pod(self), &super::policy::Peer::Outside(to.ip()), to.port(), Protocol::Udp) {
            return;
        }
        let mut out = self.udp_out.lock().unwrap_or_else(|p| p.into_inner());
        let mapping = match out.entry((port, guest_v6, to.is_ipv6())) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some(mapping) = self.open_udp_out(port, guest_v6, to.is_ipv6()) else { return };
                e.insert(mapping)
            }
        };
        mapping.peers.lock().unwrap_or_else(|p| p.into_inner()).insert(to);
        *mapping.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let _ = mapping.sender.send_to(data, to);
    }

    /// A host socket for this pod's `port` (IPv6 peers when `v6`), and the
    /// task that delivers its peers' replies to the port; `None` outside a
    /// tokio runtime or when the host has no socket to give.
    fn open_udp_out(self: &Arc<Self>, port: u16, guest_v6: bool, v6: bool) -> Option<UdpOut> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let any: SocketAddr = if v6 { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { (Ipv4Addr::UNSPECIFIED, 0).into() };
        let std_socket = std::net::UdpSocket::bind(any).ok()?;
        std_socket.set_nonblocking(true).ok()?;
        let sender = std_socket.try_clone().ok()?;
        let _guard = runtime.enter();
        let socket = Arc::new(tokio::net::UdpSocket::from_std(std_socket).ok()?);
        let peers: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
        let last = Arc::new(Mutex::new(Instant::now()));
        let (net, sock, allowed, seen) = (Arc::downgrade(self), socket.clone(), peers.clone(), last.clone());
        let task = runtime.spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let idle = seen.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
                let Some(wait) = UDP_MAPPING_TIMEOUT.checked_sub(idle) else { break };
                let Ok(Ok((n, from))) = tokio::time::timeout(wait, sock.recv_from(&mut buf)).await else { continue };
                let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                // Only the peers this port sent to answer (a NAT mapping).
                if !allowed.lock().unwrap_or_else(|p| p.into_inner()).contains(&from) {
                    continue;
                }
                *seen.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                let Some(net) = net.upgrade() else { break };
                // An IPv6 guest socket sees an IPv4 peer IPv4-mapped.
                let shown = match from.ip() {
                    IpAddr::V4(v4) if guest_v6 => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), from.port()),
                    _ => from,
                };
                net.deliver_udp(port, guest_v6, Datagram { data: buf[..n].to_vec(), from: shown });
            }
            // Idle: the mapping ends; the next datagram out opens a new one.
            if let Some(net) = net.upgrade() {
                let mut out = net.udp_out.lock().unwrap_or_else(|p| p.into_inner());
                if out.get(&(port, guest_v6, v6)).is_some_and(|m| Arc::ptr_eq(&m.socket, &sock)) {
                    out.remove(&(port, guest_v6, v6));
                }
            }
        });
        Some(UdpOut { socket, sender, peers, last, _task: TaskGuard(task) })
    }

    /// The pod's UDP `port` closed: its ways out close with it.
    pub(super) fn close_udp_out(&self, port: u16) {
        self.udp_out.lock().unwrap_or_else(|p| p.into_inner()).retain(|(p, _, _), _| *p != port);
    }
}

/// The UDP flows of NodePorts: the node-side port a client was given ->
/// the node port's host socket and the client's address.
#[derive(Default)]
pub(super) struct NodeUdpFlows {
    by_port: HashMap<u16, NodeFlow>,
    by_client: HashMap<(u16, SocketAddr), u16>,
    next: u16,
}

struct NodeFlow {
    /// The node port's socket, sent on directly (see [`UdpOut::sender`]).
    socket: Arc<std::net::UdpSocket>,
    node_port: u16,
    client: SocketAddr,
    /// The endpoint the flow went to (pod IP, port): only it answers.
    endpoint: Option<(Ipv4Addr, u16)>,
    last: Instant,
}

impl NodeUdpFlows {
    fn expire(&mut self, now: Instant) {
        self.remove_where(|f| now.duration_since(f.last) >= UDP_MAPPING_TIMEOUT);
    }

    fn remove_where(&mut self, dead: impl Fn(&NodeFlow) -> bool) {
        let dead: Vec<u16> = self.by_port.iter().filter(|(_, f)| dead(f)).map(|(p, _)| *p).collect();
        for p in dead {
            if let Some(f) = self.by_port.remove(&p) {
                self.by_client.remove(&(f.node_port, f.client));
            }
        }
    }
}

impl ClusterNetwork {
    /// A datagram from `client` to UDP node port `node_port` (received on
    /// `socket`), for `service`'s (namespace, name, port): delivered to an
    /// endpoint (the client's flow keeps its endpoint) as coming from the
    /// node's address. Dropped when no endpoint serves it or a
    /// NetworkPolicy forbids it.
    fn udp_to_service(self: &Arc<Self>, socket: &Arc<std::net::UdpSocket>, node_port: u16, client: SocketAddr, service: (&str, &str, u16), data: Vec<u8>) {
        let (namespace, name, port) = service;
        let Some(entry) = self.service(namespace, name) else { return };
        let now = Instant::now();
        let source_port = {
            let mut inner = self.inner.lock().expect("cluster network poisoned");
            let flows = &mut inner.node_udp;
            flows.expire(now);
            match flows.by_client.get(&(node_port, client)).copied() {
                Some(p) => p,
                None => {
                    let Some(p) = (0..u16::MAX).map(|i| 32768 + (flows.next.wrapping_add(i) % 28232)).find(|p| !flows.by_port.contains_key(p)) else { return };
                    flows.next = flows.next.wrapping_add(1);
                    flows.by_client.insert((node_port, client), p);
                    flows.by_port.insert(p, NodeFlow { socket: socket.clone(), node_port, client, endpoint: None, last: now });
                    p
                }
            }
        };
        let from = SocketAddr::new(IpAddr::V4(self.node_address()), source_port);
        let to = SocketAddr::new(IpAddr::V4(entry.ip.unwrap_or(Ipv4Addr::UNSPECIFIED)), port);
        // The flow through the Service, as a pod's: same endpoint while it
        // serves, replies rewritten.
        let Some(Ok(super::Endpoint::Pod(pod, target))) = self.udp_flow(&entry, from, to) else { return };
        if !self.policy_allows(&super::policy::Peer::Outside(IpAddr::V4(self.node_address())), &super::policy::Peer::Pod(&pod), target, Protocol::Udp) {
            return;
        }
        if let Some(f) = self.inner.lock().expect("cluster network poisoned").node_udp.by_port.get_mut(&source_port) {
            f.last = now;
            f.endpoint = Some((pod.ip(), target));
        }
        pod.deliver_udp(target, false, Datagram { data, from });
    }

    /// A datagram from `sender` (a pod's address and port) to the node's
    /// address: the reply of a NodePort flow, sent to its client from the
    /// node port when `sender` is the endpoint the flow went to (any other
    /// is dropped). Whether it was addressed to the node.
    pub(super) fn udp_to_node(&self, sender: SocketAddr, to: SocketAddr, data: &[u8]) -> bool {
        if super::ip_v4(to.ip()) != Some(self.node_address()) {
            return false;
        }
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        if let Some(flow) = inner.node_udp.by_port.get_mut(&to.port())
            && flow.endpoint.is_some_and(|(ip, port)| Some(ip) == super::ip_v4(sender.ip()) && port == sender.port())
        {
            flow.last = Instant::now();
            let _ = flow.socket.send_to(data, flow.client);
        }
        true
    }

    /// A UDP node port closed: its flows go, and their copies of its socket
    /// with them, so the port can be had again.
    fn close_node_port(&self, node_port: u16) {
        self.inner.lock().expect("cluster network poisoned").node_udp.remove_where(|f| f.node_port == node_port);
    }
}

/// Receives on a UDP node port's socket and hands each datagram to the
/// Service until the listener is dropped (its task aborted).
/// `sender` is a clone of the socket to reply on.
pub(crate) async fn serve_udp_node_port(
    socket: tokio::net::UdpSocket,
    sender: std::net::UdpSocket,
    cluster: Weak<ClusterNetwork>,
    namespace: String,
    name: String,
    port: u16,
) {
    let node_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let sender = Arc::new(sender);
    // Ends the flows when the task ends (aborted with its Service).
    struct Flows(Weak<ClusterNetwork>, u16);
    impl Drop for Flows {
        fn drop(&mut self) {
            if let Some(cluster) = self.0.upgrade() {
                cluster.close_node_port(self.1);
            }
        }
    }
    let _flows = Flows(cluster.clone(), node_port);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while let Ok((n, client)) = socket.recv_from(&mut buf).await {
        let Some(cluster) = cluster.upgrade() else { return };
        cluster.udp_to_service(&sender, node_port, client, (&namespace, &name, port), buf[..n].to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{EndpointInfo, ServicePort, ServiceSpec, TargetPort};

    #[tokio::test]
    async fn only_the_flows_endpoint_answers_a_node_port_client_and_closing_the_port_ends_its_flows() {
        let cluster = ClusterNetwork::new();
        let spec = ServiceSpec {
            namespace: "default".into(),
            name: "dns".into(),
            cluster_ip: None,
            headless: false,
            ports: vec![ServicePort { name: String::new(), port: 53, protocol: Protocol::Udp, target: TargetPort::Number(5353) }],
            selector: [("app".to_owned(), "dns".to_owned())].into(),
            affinity: None,
            publish_not_ready: false,
            external_name: None,
        };
        cluster.add_service(spec).unwrap();
        let server = cluster.attach("server", "default");
        server.set_endpoint_info(EndpointInfo { labels: [("app".to_owned(), "dns".to_owned())].into(), ..Default::default() });
        server.set_ready(true);
        let mut inbox = server.bind_udp(5353, false).unwrap();
        let intruder = cluster.attach("intruder", "default");
        let node_socket = Arc::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let node_port = node_socket.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        cluster.udp_to_service(&node_socket, node_port, client.local_addr().unwrap(), ("default", "dns", 53), b"q".to_vec());
        let got = inbox.recv().await.unwrap();
        assert_eq!((got.data.as_slice(), got.from.ip()), (&b"q"[..], IpAddr::V4(cluster.node_address())));
        // Another pod guessing the flow's port is dropped; the endpoint is heard.
        intruder.send_udp(9999, b"forged".to_vec(), got.from).unwrap();
        server.send_udp(5353, b"answer".to_vec(), got.from).unwrap();
        let mut buf = [0u8; 16];
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"answer");
        assert!(client.recv(&mut buf).is_err(), "nothing else arrives");
        cluster.close_node_port(node_port);
        assert!(cluster.inner.lock().unwrap().node_udp.by_port.is_empty());
    }
}
