//! UDP on the pod network: each pod has a UDP port space of its own
//! (separate from TCP's, as on a host); a datagram goes to the socket
//! bound to its destination port, in this pod or, by pod IP, another.
//! As on a real network, a datagram nobody receives, or one arriving at a
//! full receive queue, is dropped without an error.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{NetError, PodNetwork};

/// Datagrams queued per socket before new ones are dropped.
const RECEIVE_QUEUE: usize = 256;
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65507;

/// A received datagram.
#[derive(Debug)]
pub struct Datagram {
    /// The payload.
    pub data: Vec<u8>,
    /// Who sent it.
    pub from: SocketAddr,
}

#[derive(Default)]
pub(super) struct UdpPorts {
    bound: HashMap<u16, UdpEndpoint>,
    next_ephemeral: u16,
}

struct UdpEndpoint {
    queue: mpsc::Sender<Datagram>,
    v6: bool,
}

/// A bound UDP port and its receive queue; dropping it frees the port.
pub struct UdpBinding {
    pod: Arc<PodNetwork>,
    port: u16,
    queue: mpsc::Receiver<Datagram>,
}

impl PodNetwork {
    fn udp(&self) -> std::sync::MutexGuard<'_, UdpPorts> {
        self.udp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds UDP `port` (0: an ephemeral one) for IPv6 or IPv4 traffic.
    pub fn bind_udp(self: &Arc<Self>, port: u16, v6: bool) -> Result<UdpBinding, NetError> {
        let mut table = self.udp();
        let table = &mut *table;
        let port = super::claim_port(port, &mut table.next_ephemeral, |p| table.bound.contains_key(&p))?;
        let (tx, rx) = mpsc::channel(RECEIVE_QUEUE);
        table.bound.insert(port, UdpEndpoint { queue: tx, v6 });
        Ok(UdpBinding { pod: self.clone(), port, queue: rx })
    }

    /// Sends `data` from `from_port` to `to`. Unreachable when `to` is no
    /// pod; otherwise delivered or silently dropped, as UDP is.
    pub fn send_udp(self: &Arc<Self>, from_port: u16, data: Vec<u8>, to: SocketAddr) -> Result<(), NetError> {
        let target = self.route(to.ip())?;
        let from_ip = self.source_ip(to);
        let queue = target.udp().bound.get(&to.port()).filter(|e| e.v6 == to.is_ipv6()).map(|e| e.queue.clone());
        if let Some(queue) = queue {
            let _ = queue.try_send(Datagram { data, from: SocketAddr::new(from_ip, from_port) });
        }
        Ok(())
    }
}

impl UdpBinding {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next queued datagram, if any.
    pub fn try_recv(&mut self) -> Option<Datagram> {
        self.queue.try_recv().ok()
    }

    /// Waits for a datagram (cancel-safe).
    pub async fn recv(&mut self) -> Option<Datagram> {
        self.queue.recv().await
    }
}

impl Drop for UdpBinding {
    fn drop(&mut self) {
        self.pod.udp().bound.remove(&self.port);
    }
}

/// A UDP binding shared by a socket and its datagram streams.
pub(super) type SharedUdp = Arc<tokio::sync::Mutex<UdpShared>>;

/// A binding plus a datagram taken off its queue while waiting for
/// readiness, handed out by the next receive.
pub(super) struct UdpShared {
    pub binding: UdpBinding,
    pub peeked: Option<Datagram>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[tokio::test]
    async fn datagrams_reach_the_bound_port_in_this_pod_or_another_by_ip() {
        let cluster = super::super::ClusterNetwork::new();
        let (a, b) = (cluster.attach("a", "default"), cluster.attach("b", "default"));
        let mut rx_a = a.bind_udp(53, false).unwrap();
        let mut rx_b = b.bind_udp(53, false).unwrap();
        assert_eq!(a.bind_udp(53, false).err(), Some(NetError::AddressInUse));
        a.send_udp(4000, b"local".to_vec(), SocketAddr::from((Ipv4Addr::LOCALHOST, 53))).unwrap();
        let d = rx_a.recv().await.unwrap();
        assert_eq!((d.data.as_slice(), d.from), (&b"local"[..], SocketAddr::from((Ipv4Addr::LOCALHOST, 4000))));
        a.send_udp(4000, b"cross".to_vec(), SocketAddr::from((b.ip(), 53))).unwrap();
        let d = rx_b.recv().await.unwrap();
        assert_eq!((d.data.as_slice(), d.from.ip()), (&b"cross"[..], IpAddr::V4(a.ip())));
        assert!(rx_a.try_recv().is_none(), "a's socket saw b's datagram");
        // Nobody on that port: dropped, no error. No such pod: unreachable.
        a.send_udp(4000, b"void".to_vec(), SocketAddr::from((Ipv4Addr::LOCALHOST, 9))).unwrap();
        assert_eq!(a.send_udp(4000, b"x".to_vec(), SocketAddr::from((Ipv4Addr::new(8, 8, 8, 8), 53))).err(), Some(NetError::Unreachable));
        drop(rx_a);
        a.bind_udp(53, false).expect("port freed on drop");
    }
}
