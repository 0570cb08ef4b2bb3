//! The in-process pod network: every pod gets a virtual IP and its own port
//! table; connections are in-memory duplex streams. Nothing here touches a
//! host socket. This file is plain Rust; the wasi:sockets adapter that
//! guests see is built on top of it.
//!
//! Addressing, as in a Kubernetes cluster network:
//! - `127.0.0.1`, `::1` and the pod's own IP reach the pod's own port table
//!   (its containers share one localhost and port space);
//! - another pod's IP reaches that pod's table;
//! - anything else is unreachable (no host services, no internet).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Bytes buffered in each direction of an in-memory connection. 256 KiB
/// keeps a bulk transfer streaming without letting one connection hold
/// much memory.
pub const CONNECTION_BUFFER: usize = 256 * 1024;

/// First port handed out for an ephemeral bind (Linux's default range).
const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;

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
}

/// A connection arriving at a listener.
pub struct Incoming {
    /// The server's end of the stream.
    pub stream: DuplexStream,
    /// The client's address as the server sees it.
    pub peer: SocketAddr,
}

/// The flat network all pods of a runtime share.
#[derive(Default)]
pub struct ClusterNetwork {
    inner: Mutex<ClusterInner>,
}

#[derive(Default)]
struct ClusterInner {
    pods: HashMap<Ipv4Addr, Weak<PodNetwork>>,
    next_host: u32,
}

/// Pod IPs come from 10.88.0.0/16 (the CNI bridge default), skipping .0
/// and .1 as a real bridge would.
const POD_SUBNET: u32 = u32::from_be_bytes([10, 88, 0, 0]);
const POD_SUBNET_HOSTS: u32 = 1 << 16;

impl ClusterNetwork {
    /// A new, empty cluster network.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Gives a new pod an address and its own port table.
    pub fn attach(self: &Arc<Self>) -> Arc<PodNetwork> {
        let mut inner = self.inner.lock().expect("cluster network poisoned");
        inner.pods.retain(|_, p| p.strong_count() > 0);
        let ip = loop {
            let host = 2 + inner.next_host % (POD_SUBNET_HOSTS - 3);
            inner.next_host = inner.next_host.wrapping_add(1);
            let ip = Ipv4Addr::from(POD_SUBNET + host);
            if !inner.pods.contains_key(&ip) {
                break ip;
            }
        };
        let pod = Arc::new(PodNetwork { ip, cluster: Arc::downgrade(self), ports: Mutex::new(PortTable::default()) });
        inner.pods.insert(ip, Arc::downgrade(&pod));
        pod
    }

    fn pod(&self, ip: Ipv4Addr) -> Option<Arc<PodNetwork>> {
        self.inner.lock().expect("cluster network poisoned").pods.get(&ip).and_then(Weak::upgrade)
    }
}

#[derive(Default)]
struct PortTable {
    bound: HashMap<u16, Option<mpsc::Sender<Incoming>>>,
    next_ephemeral: u16,
}

/// One pod's network namespace.
pub struct PodNetwork {
    ip: Ipv4Addr,
    cluster: Weak<ClusterNetwork>,
    ports: Mutex<PortTable>,
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
}

impl PodNetwork {
    /// The pod's virtual IP (`status.podIP`).
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
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
        let port = if port == 0 {
            let span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
            (0..span)
                .map(|i| EPHEMERAL_FIRST + (table.next_ephemeral.wrapping_add(i)) % span)
                .find(|p| !table.bound.contains_key(p))
                .ok_or(NetError::PortsExhausted)?
        } else {
            port
        };
        if table.bound.contains_key(&port) {
            return Err(NetError::AddressInUse);
        }
        table.next_ephemeral = port.wrapping_sub(EPHEMERAL_FIRST).wrapping_add(1);
        table.bound.insert(port, None);
        Ok(Binding { pod: self.clone(), port })
    }

    /// Connects from this pod to `to`. Refused at once when nothing
    /// listens there; unreachable when `to` is no pod.
    pub async fn connect(self: &Arc<Self>, to: SocketAddr) -> Result<(DuplexStream, Binding), NetError> {
        let target = if self.is_self(to.ip()) {
            self.clone()
        } else {
            let v4 = match to.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(v6) => v6.to_ipv4_mapped(),
            };
            let cluster = self.cluster.upgrade().ok_or(NetError::Unreachable)?;
            v4.and_then(|ip| cluster.pod(ip)).ok_or(NetError::Unreachable)?
        };
        let sender = target.ports.lock().expect("port table poisoned").bound.get(&to.port()).cloned().flatten();
        let sender = sender.ok_or(NetError::ConnectionRefused)?;
        let local = self.bind(0)?;
        let from_ip = if Arc::ptr_eq(&target, self) && to.ip().is_loopback() { to.ip() } else { IpAddr::V4(self.ip) };
        let (client, server) = tokio::io::duplex(CONNECTION_BUFFER);
        let incoming = Incoming { stream: server, peer: SocketAddr::new(from_ip, local.port) };
        // A full backlog or a listener that just closed: refused, as a
        // kernel answers a SYN it cannot queue.
        sender.try_send(incoming).map_err(|_| NetError::ConnectionRefused)?;
        Ok((client, local))
    }
}

impl Binding {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening with room for `backlog` pending connections.
    pub fn listen(self, backlog: usize) -> Listener {
        let (tx, rx) = mpsc::channel(backlog.max(1));
        self.pod.ports.lock().expect("port table poisoned").bound.insert(self.port, Some(tx));
        Listener { binding: self, incoming: rx }
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
        self.incoming.recv().await
    }

    /// The next connection if one is queued.
    pub fn try_accept(&mut self) -> Option<Incoming> {
        self.incoming.try_recv().ok()
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
        let pod = cluster.attach();
        let mut listener = pod.bind(80).unwrap().listen(8);
        let (mut client, _local) = pod.connect(addr(Ipv4Addr::LOCALHOST, 80)).await.unwrap();
        let mut conn = listener.accept().await.unwrap();
        assert!(conn.peer.ip().is_loopback());
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        conn.stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        conn.stream.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // ::1 and the pod's own IP reach the same table.
        pod.connect(addr(Ipv6Addr::LOCALHOST, 80)).await.unwrap();
        pod.connect(addr(pod.ip(), 80)).await.unwrap();
    }

    #[tokio::test]
    async fn a_second_bind_is_address_in_use_and_a_closed_port_is_refused_at_once() {
        let cluster = ClusterNetwork::new();
        let pod = cluster.attach();
        let listener = pod.bind(8080).unwrap().listen(1);
        assert_eq!(pod.bind(8080).err(), Some(NetError::AddressInUse));
        assert_eq!(pod.connect(addr(Ipv4Addr::LOCALHOST, 9)).await.err(), Some(NetError::ConnectionRefused));
        drop(listener);
        assert_eq!(pod.connect(addr(Ipv4Addr::LOCALHOST, 8080)).await.err(), Some(NetError::ConnectionRefused));
        pod.bind(8080).expect("the port is free again");
    }

    #[tokio::test]
    async fn pods_are_isolated_but_reachable_by_pod_ip() {
        let cluster = ClusterNetwork::new();
        let (a, b) = (cluster.attach(), cluster.attach());
        assert_ne!(a.ip(), b.ip());
        let _la = a.bind(80).unwrap().listen(4);
        let mut lb = b.bind(80).unwrap().listen(4);
        // Both pods listen on :80 side by side; b's localhost is b's own.
        assert_eq!(b.connect(addr(Ipv4Addr::LOCALHOST, 81)).await.err(), Some(NetError::ConnectionRefused));
        b.connect(addr(Ipv4Addr::LOCALHOST, 80)).await.unwrap();
        assert!(lb.try_accept().is_some());
        // a reaches b only by b's IP, and b sees a's IP as the peer.
        a.connect(addr(b.ip(), 80)).await.unwrap();
        assert_eq!(lb.try_accept().unwrap().peer.ip(), IpAddr::V4(a.ip()));
        // Nothing else is reachable: no host, no internet.
        assert_eq!(a.connect(addr(Ipv4Addr::new(93, 184, 216, 34), 80)).await.err(), Some(NetError::Unreachable));
        assert_eq!(a.connect(addr(Ipv4Addr::new(10, 88, 9, 9), 80)).await.err(), Some(NetError::Unreachable));
    }

    #[tokio::test]
    async fn a_full_backlog_refuses_and_ephemeral_ports_are_distinct() {
        let cluster = ClusterNetwork::new();
        let pod = cluster.attach();
        let _l = pod.bind(7).unwrap().listen(1);
        let (_c1, b1) = pod.connect(addr(Ipv4Addr::LOCALHOST, 7)).await.unwrap();
        assert_eq!(pod.connect(addr(Ipv4Addr::LOCALHOST, 7)).await.err(), Some(NetError::ConnectionRefused));
        let b2 = pod.bind(0).unwrap();
        assert_ne!(b1.port(), b2.port());
        assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&b2.port()));
    }
}
