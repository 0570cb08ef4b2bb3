//! Pods of other nodes (node mode). A node of a real cluster owns its
//! `podCIDR`; other nodes own theirs. Traffic between two pods of this
//! runtime stays in memory. A connection to a pod of another node (an
//! address in another node's podCIDR, or a Service endpoint that is no
//! pod here) goes through a host socket; in *routed* mode that socket is
//! bound to the calling pod's own address, so the other side sees the
//! true pod IP, and every port a pod listens on (on its pod address or
//! all addresses, IPv4) also gets a host listener on `podIP:port`, whose
//! connections enter the pod as from their real peer.
//!
//! Routed mode needs the host to treat the whole podCIDR as local (on
//! Linux one route, `ip route add local <podCIDR> dev lo`) and the other
//! nodes to route the podCIDR to this host (the node agent's host-gw
//! routes, or the cluster's own routing). Without it (other systems, or
//! no route) connections out still work, from the node's address, and
//! pods are not reachable from other nodes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};

use super::{ClusterNetwork, Listener, PodNetwork, Protocol, policy};

/// How pods of this runtime and of other nodes reach each other.
#[derive(Debug, Clone, Default)]
pub(super) struct Routing {
    /// This node's pod addresses are the host's own (routed mode).
    routed: bool,
    /// The podCIDRs of the cluster's other nodes.
    remote: Vec<(Ipv4Addr, u8)>,
}

impl ClusterNetwork {
    /// Routed mode: this node's pod addresses are the host's own, so pods
    /// are reached at them from other nodes, and connect from them.
    pub fn set_routed(&self, routed: bool) {
        self.inner.lock().expect("cluster network poisoned").routing.routed = routed;
    }

    /// Whether routed mode is on.
    pub fn routed(&self) -> bool {
        self.inner.lock().expect("cluster network poisoned").routing.routed
    }

    /// The podCIDRs of the cluster's other nodes: their addresses are
    /// pods reached through the host, whatever the egress setting.
    pub fn set_remote_pod_cidrs(&self, cidrs: Vec<(Ipv4Addr, u8)>) {
        self.inner.lock().expect("cluster network poisoned").routing.remote = cidrs;
    }
}

impl PodNetwork {
    /// Whether `ip` is a pod of another node: in another node's podCIDR,
    /// not in this one's.
    pub(crate) fn is_remote_pod(&self, ip: Ipv4Addr) -> bool {
        let Some(cluster) = self.cluster.upgrade() else { return false };
        let inner = cluster.inner.lock().expect("cluster network poisoned");
        !super::in_subnet(ip, inner.pod_subnet) && inner.routing.remote.iter().any(|c| super::in_subnet(ip, *c))
    }

    /// The address a host connection to `to` comes from: the pod's own
    /// in routed mode when `to` is a pod of another node, else the host's
    /// choice (the node's address, as a CNI masquerades traffic that
    /// leaves the cluster).
    pub(crate) fn routed_source(&self, to: SocketAddr) -> Option<IpAddr> {
        let ip = super::ip_v4(to.ip())?;
        let routed = self.cluster.upgrade().is_some_and(|c| c.routed());
        (routed && self.is_remote_pod(ip)).then_some(IpAddr::V4(self.ip))
    }
}

/// A host TCP connection to `to`, from `source` when given and the host
/// lets it be bound (else from the host's choice).
pub(super) async fn connect_host(to: SocketAddr, source: Option<IpAddr>) -> std::io::Result<tokio::net::TcpStream> {
    if let Some(source) = source {
        let socket = if source.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        if socket.bind(SocketAddr::new(source, 0)).is_ok() {
            return socket.connect(to).await;
        }
    }
    tokio::net::TcpStream::connect(to).await
}

/// A pod port's host listener; dropping it closes the listener.
pub(super) struct Exposed(tokio::task::JoinHandle<()>);

impl Drop for Exposed {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    /// In routed mode, also listens on the host at the pod's address and
    /// this port (IPv4), for pods of other nodes and anything else the
    /// cluster routes there. Nothing when routed mode is off, or outside a
    /// tokio runtime; a port the host refuses is reported and left to the
    /// pod network.
    pub(crate) fn expose(&mut self) {
        let pod = &self.binding.pod;
        if !pod.cluster.upgrade().is_some_and(|c| c.routed()) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let addr = SocketAddr::new(IpAddr::V4(pod.ip), self.binding.port);
        let listener = {
            let _guard = handle.enter();
            host_listener(addr)
        };
        match listener {
            Ok(l) => self.exposed = Some(Exposed(handle.spawn(serve(l, Arc::downgrade(pod), self.binding.port)))),
            Err(e) => eprintln!("wasmpod: pod {}/{}: cannot listen on {addr} on the host: {e}", pod.namespace, pod.hostname),
        }
    }
}

fn host_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts host connections to a pod's port and hands each to the pod's
/// listener as from its peer, NetworkPolicy permitting; bytes are copied
/// both ways by a task per connection.
async fn serve(listener: tokio::net::TcpListener, pod: Weak<PodNetwork>, port: u16) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of descriptors, say: try again shortly.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(pod) = pod.upgrade() else { return };
        let Some(cluster) = pod.cluster.upgrade() else { return };
        if !cluster.policy_allows(&policy::Peer::Outside(peer.ip().to_canonical()), &policy::Peer::Pod(&pod), port, Protocol::Tcp) {
            continue;
        }
        let Ok(mut conn) = pod.accept_from(SocketAddr::new(peer.ip().to_canonical(), peer.port()), port) else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = tokio::io::copy_bidirectional(&mut conn, &mut stream).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn other_nodes_cidrs_are_remote_pods_but_this_nodes_own_are_not() {
        let cluster = ClusterNetwork::new();
        cluster.set_pod_subnet(Ipv4Addr::new(10, 244, 1, 0), 24);
        cluster.set_remote_pod_cidrs(vec![(Ipv4Addr::new(10, 244, 2, 0), 24), (Ipv4Addr::new(10, 244, 1, 0), 24)]);
        let pod = cluster.attach("p", "default");
        assert!(pod.is_remote_pod(Ipv4Addr::new(10, 244, 2, 9)));
        assert!(!pod.is_remote_pod(Ipv4Addr::new(10, 244, 1, 9)), "its own node's CIDR is never remote");
        assert!(!pod.is_remote_pod(Ipv4Addr::new(10, 245, 0, 1)));
        let to = SocketAddr::from((Ipv4Addr::new(10, 244, 2, 9), 80));
        assert_eq!(pod.routed_source(to), None, "not routed: the host picks the source");
        cluster.set_routed(true);
        assert_eq!(pod.routed_source(to), Some(IpAddr::V4(pod.ip())));
        assert_eq!(pod.routed_source(SocketAddr::from((Ipv4Addr::new(93, 184, 216, 34), 80))), None);
    }

    /// Routed mode on loopback: 127.0.0.0/8 is the host's own, so a
    /// "podCIDR" inside it behaves as an AnyIP route makes a real one.
    #[tokio::test]
    async fn a_listening_pod_is_reached_from_the_host_at_its_own_address_with_the_true_peer() {
        let cluster = ClusterNetwork::new();
        cluster.set_pod_subnet(Ipv4Addr::new(127, 77, 1, 0), 24);
        cluster.set_routed(true);
        let server = cluster.attach("server", "default");
        let mut listener = server.bind(0).unwrap().listen(4, false);
        listener.expose();
        let port = listener.port();
        // A "pod of another node" at 127.77.2.5 connects from its own address.
        let mut client = connect_host(SocketAddr::new(IpAddr::V4(server.ip()), port), Some(IpAddr::V4(Ipv4Addr::new(127, 77, 2, 5)))).await.unwrap();
        let mut incoming = listener.accept().await.unwrap();
        assert_eq!(incoming.peer.ip(), IpAddr::V4(Ipv4Addr::new(127, 77, 2, 5)));
        assert_eq!(incoming.local, SocketAddr::new(IpAddr::V4(server.ip()), port));
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        incoming.stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        incoming.stream.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // Closing the pod's listener closes the host's.
        drop(listener);
        tokio::task::yield_now().await;
        let refused = connect_host(SocketAddr::new(IpAddr::V4(server.ip()), port), None).await;
        assert!(refused.is_err(), "the host listener went with the pod's");
    }

    #[tokio::test]
    async fn udp_between_a_pod_and_a_pod_of_another_node_uses_both_pods_own_addresses() {
        let cluster = ClusterNetwork::new();
        cluster.set_pod_subnet(Ipv4Addr::new(127, 78, 1, 0), 24);
        cluster.set_remote_pod_cidrs(vec![(Ipv4Addr::new(127, 78, 2, 0), 24)]);
        cluster.set_routed(true);
        let pod = cluster.attach("server", "default");
        let mut port = pod.bind_udp(0, false).unwrap();
        // "A pod of another node" sends from its own address.
        let remote = tokio::net::UdpSocket::bind((Ipv4Addr::new(127, 78, 2, 7), 0)).await.unwrap();
        remote.send_to(b"ping", (pod.ip(), port.port())).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), port.recv()).await.unwrap().unwrap();
        assert_eq!((got.data.as_slice(), got.from), (&b"ping"[..], remote.local_addr().unwrap()));
        // The answer leaves from the pod's own address and port.
        pod.send_udp(port.port(), b"pong".to_vec(), got.from).unwrap();
        let mut buf = [0; 16];
        let (n, from) = tokio::time::timeout(std::time::Duration::from_secs(5), remote.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], SocketAddr::new(IpAddr::V4(pod.ip()), port.port())));
    }

    #[tokio::test]
    async fn a_udp_service_endpoint_on_another_node_answers_from_the_services_address() {
        let cluster = ClusterNetwork::new();
        cluster.set_pod_subnet(Ipv4Addr::new(127, 79, 1, 0), 24);
        cluster.set_remote_pod_cidrs(vec![(Ipv4Addr::new(127, 79, 2, 0), 24)]);
        cluster.set_routed(true);
        let remote = tokio::net::UdpSocket::bind((Ipv4Addr::new(127, 79, 2, 9), 0)).await.unwrap();
        let spec = super::super::ServiceSpec {
            namespace: "default".into(),
            name: "dns".into(),
            cluster_ip: None,
            headless: false,
            ports: vec![super::super::ServicePort {
                name: "dns".into(),
                port: 53,
                protocol: Protocol::Udp,
                target: super::super::TargetPort::Name("dns".into()),
            }],
            selector: Default::default(),
            affinity: None,
            publish_not_ready: false,
            external_name: None,
        };
        let service_ip = Ipv4Addr::new(10, 43, 0, 10);
        cluster.add_cluster_service(spec, Some(service_ip));
        let endpoint_port = remote.local_addr().unwrap().port();
        let endpoint = super::super::SliceEndpoint {
            ip: Ipv4Addr::new(127, 79, 2, 9),
            hostname: None,
            ready: true,
            serving: true,
            terminating: false,
            ports: vec![("dns".into(), endpoint_port, Protocol::Udp)],
        };
        cluster.set_slice_endpoints("default", "dns", Some(vec![endpoint]));
        let pod = cluster.attach("client", "default");
        let mut port = pod.bind_udp(0, false).unwrap();
        let service = SocketAddr::new(IpAddr::V4(service_ip), 53);
        pod.send_udp(port.port(), b"query".to_vec(), service).unwrap();
        let mut buf = [0; 16];
        let (n, from) = tokio::time::timeout(std::time::Duration::from_secs(5), remote.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!((&buf[..n], from), (&b"query"[..], SocketAddr::new(IpAddr::V4(pod.ip()), port.port())), "from the pod's own address");
        remote.send_to(b"answer", from).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), port.recv()).await.unwrap().unwrap();
        assert_eq!((got.data.as_slice(), got.from), (&b"answer"[..], service), "the reply shows the Service's address");
    }
}
