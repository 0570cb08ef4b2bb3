//! UDP on the pod network: each pod has a UDP port space of its own
//! (separate from TCP's, as on a host); a datagram goes to the socket
//! bound to its destination port, in this pod or, by pod IP, another.
//! As on a real network, a datagram nobody receives, or one arriving at a
//! full receive queue, is dropped without an error. In routed mode (a node
//! of a cluster, `routed.rs`) each bound IPv4 port is also a host socket at
//! the pod's address ([`ExposedUdp`]), which pods of other nodes reach and
//! which sends to them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::socket::{SocketError, SocketResult};
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
    /// Its host socket in routed mode (`routed.rs`).
    exposed: Option<ExposedUdp>,
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
        // Pods of other nodes reach an IPv4 port at the pod's address.
        let exposed = if v6 { None } else { self.expose_udp(port) };
        table.bound.insert(port, UdpEndpoint { queue: tx, v6, exposed });
        Ok(UdpBinding { pod: self.clone(), port, queue: rx })
    }

    /// Sends `data` from `from_port` to `to`. Unreachable when `to` is no
    /// pod; otherwise delivered or silently dropped, as UDP is.
    pub fn send_udp(self: &Arc<Self>, from_port: u16, data: Vec<u8>, to: SocketAddr) -> Result<(), NetError> {
        // The cluster DNS server answers in the network itself.
        if SocketAddr::new(super::ip_v4(to.ip()).map_or(to.ip(), std::net::IpAddr::V4), to.port()) == super::dns::CLUSTER_DNS {
            // The answer comes from the address the query went to.
            let (v6, from) = (to.is_ipv6(), to);
            self.ask_cluster_dns(&data, move |net, answer| net.deliver_udp(from_port, v6, Datagram { data: answer, from }));
            return Ok(());
        }
        // A reply to a client of a UDP node port.
        if self.cluster.upgrade().is_some_and(|c| c.udp_to_node(SocketAddr::new(self.source_ip(to), from_port), to, &data)) {
            return Ok(());
        }
        // Out of the runtime, through a host socket.
        if self.is_egress(to) {
            self.send_out_udp(from_port, &data, to);
            return Ok(());
        }
        // A pod of another node: from the port's own host socket in routed
        // mode (the peer sees this pod's address), else as egress.
        if let Some(ip) = super::ip_v4(to.ip())
            && self.is_remote_pod(ip)
        {
            let to = SocketAddr::new(std::net::IpAddr::V4(ip), to.port());
            let exposed = self.exposed_udp(from_port);
            match exposed {
                Some(socket) => self.send_routed_udp(&socket, &data, to),
                None => self.send_out_udp(from_port, &data, to),
            }
            return Ok(());
        }
        // The sender's own address, as the flow tables key it; the
        // datagram shows `from`, a Service's address for a Service's reply.
        let sender = SocketAddr::new(self.source_ip(to), from_port);
        // Through a Service, a flow keeps its endpoint, and the endpoint's
        // replies come from the Service's address (kube-proxy's conntrack).
        let (target, port, from) = match self.udp_destination(sender, to) {
            Some(Ok(super::Endpoint::Pod(pod, port))) => (pod, port, sender),
            // An endpoint on another node (routed mode): from this port's
            // host socket, whose replies show the Service's address.
            Some(Ok(super::Endpoint::Remote(endpoint))) => {
                let exposed = self.exposed_udp(from_port);
                if let Some(socket) = exposed {
                    self.send_routed_udp(&socket, &data, endpoint);
                }
                return Ok(());
            }
            // No endpoint: dropped (kube-proxy's reject comes back as ICMP,
            // which a send does not see).
            Some(Err(_)) => return Ok(()),
            None => (self.route(to.ip())?, to.port(), self.udp_reply_source(sender, to).unwrap_or(sender)),
        };
        // NetworkPolicy: a blocked datagram is dropped; a reply to one
        // that was let through passes (connection tracking).
        if let Some(cluster) = self.cluster.upgrade() {
            let to_endpoint = SocketAddr::new(target.ip_like(to), port);
            let reply = cluster.inner.lock().expect("cluster network poisoned").udp_flows.is_reply(sender, to_endpoint);
            if !reply {
                if !cluster.policy_allows(&super::policy::Peer::Pod(self), &super::policy::Peer::Pod(&target), port, super::Protocol::Udp) {
                    return Ok(());
                }
                cluster.inner.lock().expect("cluster network poisoned").udp_flows.allow(sender, to_endpoint);
            }
        }
        target.deliver_udp(port, to.is_ipv6(), Datagram { data, from });
        Ok(())
    }
}

impl PodNetwork {
    /// Queues `datagram` to this pod's UDP port `port` (bound for IPv6
    /// when `v6`); dropped when nothing is bound there or its queue is full.
    pub(super) fn deliver_udp(&self, port: u16, v6: bool, datagram: Datagram) {
        let queue = self.udp().bound.get(&port).filter(|e| e.v6 == v6).map(|e| e.queue.clone());
        if let Some(queue) = queue {
            let _ = queue.try_send(datagram);
        }
    }
}

/// A pod UDP port's host socket in routed mode, and the task that brings
/// what arrives there into the pod; dropping it closes both.
pub(super) struct ExposedUdp {
    /// The socket, to send on at once (see `udp_out.rs`'s `sender`).
    sender: Arc<std::net::UdpSocket>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ExposedUdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodNetwork {
    /// The host socket of this pod's UDP `port` in routed mode.
    fn exposed_udp(&self, port: u16) -> Option<Arc<std::net::UdpSocket>> {
        self.udp().bound.get(&port).and_then(|e| e.exposed.as_ref()).map(|x| x.sender.clone())
    }
}

impl PodNetwork {
    /// In routed mode, a host UDP socket at the pod's address and `port`
    /// whose datagrams (NetworkPolicy permitting) enter the pod's port as
    /// from their sender; nothing otherwise, or when the host refuses it
    /// (said once).
    pub(super) fn expose_udp(self: &Arc<Self>, port: u16) -> Option<ExposedUdp> {
        if !self.cluster.upgrade().is_some_and(|c| c.routed()) {
            return None;
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let addr = SocketAddr::new(IpAddr::V4(self.ip), port);
        let bound = std::net::UdpSocket::bind(addr).and_then(|s| s.set_nonblocking(true).map(|()| s));
        let socket = match bound.and_then(|s| Ok((s.try_clone()?, s))) {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("wasmpod: pod {}/{}: cannot bind UDP {addr} on the host: {e}", self.namespace, self.hostname);
                return None;
            }
        };
        let (sender, receiver) = socket;
        let receiver = {
            let _guard = handle.enter();
            tokio::net::UdpSocket::from_std(receiver).ok()?
        };
        let pod = Arc::downgrade(self);
        let task = handle.spawn(async move {
            let mut buf = vec![0; MAX_DATAGRAM];
            loop {
                let Ok((n, from)) = receiver.recv_from(&mut buf).await else { continue };
                let Some(pod) = pod.upgrade() else { return };
                let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                let Some(cluster) = pod.cluster.upgrade() else { return };
                let to = SocketAddr::new(IpAddr::V4(pod.ip), port);
                let reply = cluster.inner.lock().expect("cluster network poisoned").udp_flows.is_reply(from, to);
                if reply || cluster.policy_allows(&super::policy::Peer::Outside(from.ip()), &super::policy::Peer::Pod(&pod), port, super::Protocol::Udp) {
                    // A Service endpoint's reply shows the Service's address.
                    let shown = pod.udp_reply_source(from, to).unwrap_or(from);
                    pod.deliver_udp(port, false, Datagram { data: buf[..n].to_vec(), from: shown });
                }
            }
        });
        Some(ExposedUdp { sender: Arc::new(sender), task })
    }

    /// Sends `data` to `to`, a pod of another node, from `socket` (this
    /// pod's port's host socket), NetworkPolicy permitting; its replies
    /// pass the way back as a flow's.
    pub(super) fn send_routed_udp(&self, socket: &std::net::UdpSocket, data: &[u8], to: SocketAddr) {
        let Some(cluster) = self.cluster.upgrade() else { return };
        if !cluster.policy_allows(&super::policy::Peer::Pod(self), &super::policy::Peer::Outside(to.ip()), to.port(), super::Protocol::Udp) {
            return;
        }
        if let Ok(local) = socket.local_addr() {
            cluster.inner.lock().expect("cluster network poisoned").udp_flows.allow(local, to);
        }
        let _ = socket.send_to(data, to);
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
        self.pod.close_udp_out(self.port);
        self.pod.udp().bound.remove(&self.port);
    }
}

/// A UDP binding shared by a socket and its datagram streams.
type SharedUdp = Arc<tokio::sync::Mutex<UdpShared>>;

/// A binding plus a datagram taken off its queue while waiting for
/// readiness, handed out by the next receive.
struct UdpShared {
    binding: UdpBinding,
    peeked: Option<Datagram>,
}

/// Datagrams per receive or send call, as wasmtime-wasi allows.
pub(crate) const MAX_DATAGRAMS: usize = 16;

/// A UDP socket of the pod network, in wasi:sockets' states: unbound ->
/// (start/finish-bind) bound -> (stream) streaming, to any peer or one.
pub(crate) struct UdpSocket {
    net: Arc<PodNetwork>,
    v6: bool,
    bound: Option<(SharedUdp, SocketAddr)>,
    bind_in_progress: bool,
    remote: Option<SocketAddr>,
    /// Values a guest may set and read back; no effect in memory.
    pub options: UdpOptions,
}

/// A UDP socket's settable values (Linux's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UdpOptions {
    /// IP_TTL / IPV6_UNICAST_HOPS.
    pub hop_limit: u8,
    /// SO_RCVBUF.
    pub receive_buffer: u64,
    /// SO_SNDBUF.
    pub send_buffer: u64,
}

impl Default for UdpOptions {
    fn default() -> Self {
        Self { hop_limit: 64, receive_buffer: 208 * 1024, send_buffer: 208 * 1024 }
    }
}

impl UdpSocket {
    /// An unbound socket of family IPv6 (`v6`) or IPv4 on `net`.
    pub(crate) fn new(net: Arc<PodNetwork>, v6: bool) -> Self {
        Self { net, v6, bound: None, bind_in_progress: false, remote: None, options: UdpOptions::default() }
    }

    /// Whether it is an IPv6 socket.
    pub(crate) fn is_v6(&self) -> bool {
        self.v6
    }

    /// `start-bind`: takes the port (0: an ephemeral one) on one of the
    /// pod's own addresses.
    pub(crate) fn start_bind(&mut self, local: SocketAddr) -> SocketResult<()> {
        if self.bind_in_progress {
            return Err(SocketError::ConcurrencyConflict);
        }
        if self.bound.is_some() {
            return Err(SocketError::InvalidState);
        }
        if local.is_ipv6() != self.v6 {
            return Err(SocketError::InvalidArgument);
        }
        if !self.net.is_self(local.ip()) {
            return Err(SocketError::AddressNotBindable);
        }
        let binding = self.net.bind_udp(local.port(), self.v6)?;
        let addr = SocketAddr::new(local.ip(), binding.port());
        self.bound = Some((Arc::new(tokio::sync::Mutex::new(UdpShared { binding, peeked: None })), addr));
        self.bind_in_progress = true;
        Ok(())
    }

    /// `finish-bind`.
    pub(crate) fn finish_bind(&mut self) -> SocketResult<()> {
        if !std::mem::take(&mut self.bind_in_progress) {
            return Err(SocketError::NotInProgress);
        }
        Ok(())
    }

    /// `stream`: the receiving and sending sides, with every peer or only
    /// `remote`. (The adapter checks that the previous streams are gone.)
    pub(crate) fn stream(&mut self, remote: Option<SocketAddr>) -> SocketResult<(UdpIncoming, UdpOutgoing)> {
        let Some((shared, addr)) = self.bound.clone() else {
            // In WASI 0.2 a socket is bound before it streams.
            return Err(SocketError::InvalidState);
        };
        if let Some(r) = remote
            && (r.is_ipv6() != self.v6 || r.ip().is_unspecified() || r.port() == 0)
        {
            return Err(SocketError::InvalidArgument);
        }
        self.remote = remote;
        let incoming = UdpIncoming { shared, remote };
        let outgoing = UdpOutgoing { net: self.net.clone(), port: addr.port(), v6: self.v6, remote, permits: 0 };
        Ok((incoming, outgoing))
    }

    /// `local-address`.
    pub(crate) fn local_address(&self) -> SocketResult<SocketAddr> {
        self.bound.as_ref().map(|(_, addr)| *addr).ok_or(SocketError::InvalidState)
    }

    /// `remote-address`.
    pub(crate) fn remote_address(&self) -> SocketResult<SocketAddr> {
        self.remote.ok_or(SocketError::InvalidState)
    }
}

/// The receiving side of a bound socket.
pub(crate) struct UdpIncoming {
    shared: SharedUdp,
    remote: Option<SocketAddr>,
}

impl UdpIncoming {
    /// Up to `max` (at most [`MAX_DATAGRAMS`]) queued datagrams, from the
    /// peer only when the socket is connected.
    pub(crate) fn receive(&mut self, max: u64) -> Vec<Datagram> {
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(MAX_DATAGRAMS);
        let mut out = Vec::new();
        // Held only by a pending readiness wait, which the guest is not in.
        let Ok(mut g) = self.shared.try_lock() else { return out };
        while out.len() < max {
            let Some(d) = g.peeked.take().or_else(|| g.binding.try_recv()) else { break };
            if self.remote.is_none_or(|r| r == d.from) {
                out.push(d);
            }
        }
        out
    }

    /// Resolves once a datagram can be received (it is kept for the next
    /// `receive`).
    pub(crate) async fn ready(&mut self) {
        let mut g = self.shared.lock().await;
        while g.peeked.is_none() {
            let Some(d) = g.binding.recv().await else { return };
            // A connected socket only hears from its peer.
            if self.remote.is_none_or(|r| r == d.from) {
                g.peeked = Some(d);
            }
        }
    }
}

/// The sending side of a bound socket. Sending never waits: a full
/// receiver drops, as UDP does.
pub(crate) struct UdpOutgoing {
    net: Arc<PodNetwork>,
    port: u16,
    v6: bool,
    remote: Option<SocketAddr>,
    permits: usize,
}

/// Why `send` refused its whole call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// More datagrams than `check-send` permitted: a guest bug (a trap).
    Unpermitted,
    /// The first datagram failed.
    Socket(SocketError),
}

impl UdpOutgoing {
    /// `check-send`: how many datagrams the next `send` may take.
    pub(crate) fn check_send(&mut self) -> u64 {
        self.permits = MAX_DATAGRAMS;
        MAX_DATAGRAMS as u64
    }

    /// `send`: each `(data, to)` in turn (`to` defaults to the connected
    /// peer); the count sent, or why the first failed (a later failure
    /// ends the call with the count so far).
    pub(crate) fn send(&mut self, datagrams: Vec<(Vec<u8>, Option<SocketAddr>)>) -> Result<u64, SendError> {
        if datagrams.len() > self.permits {
            return Err(SendError::Unpermitted);
        }
        self.permits = 0;
        let mut sent = 0;
        for (data, to) in datagrams {
            match self.send_one(data, to) {
                Ok(()) => sent += 1,
                // Once one datagram went out, the call reports the count.
                Err(_) if sent > 0 => break,
                Err(e) => return Err(SendError::Socket(e)),
            }
        }
        Ok(sent)
    }

    fn send_one(&self, data: Vec<u8>, to: Option<SocketAddr>) -> SocketResult<()> {
        let to = match (to, self.remote) {
            (Some(to), Some(r)) if to != r => return Err(SocketError::InvalidArgument),
            (Some(to), _) | (None, Some(to)) => to,
            (None, None) => return Err(SocketError::InvalidArgument),
        };
        if to.is_ipv6() != self.v6 || to.port() == 0 {
            return Err(SocketError::InvalidArgument);
        }
        if data.len() > MAX_DATAGRAM {
            return Err(SocketError::DatagramTooLarge);
        }
        Ok(self.net.send_udp(self.port, data, to)?)
    }
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
        // Nobody on that port: dropped, no error. No such pod (and no
        // egress): unreachable.
        a.send_udp(4000, b"void".to_vec(), SocketAddr::from((Ipv4Addr::LOCALHOST, 9))).unwrap();
        cluster.set_egress(super::super::Egress::Deny);
        assert_eq!(a.send_udp(4000, b"x".to_vec(), SocketAddr::from((Ipv4Addr::new(8, 8, 8, 8), 53))).err(), Some(NetError::Unreachable));
        drop(rx_a);
        a.bind_udp(53, false).expect("port freed on drop");
    }

    #[tokio::test]
    async fn a_socket_binds_streams_and_talks_to_one_peer_or_any() {
        let cluster = super::super::ClusterNetwork::new();
        let net = cluster.attach("a", "default");
        let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut server = UdpSocket::new(net.clone(), false);
        assert_eq!(server.stream(None).err(), Some(SocketError::InvalidState), "streams need a bound socket");
        assert_eq!(server.finish_bind(), Err(SocketError::NotInProgress));
        assert_eq!(server.start_bind("[::1]:53".parse().unwrap()), Err(SocketError::InvalidArgument));
        server.start_bind(local(53)).unwrap();
        assert_eq!(server.start_bind(local(54)), Err(SocketError::ConcurrencyConflict));
        server.finish_bind().unwrap();
        assert_eq!(server.start_bind(local(54)), Err(SocketError::InvalidState));
        let (mut inbox, _) = server.stream(None).unwrap();

        let mut client = UdpSocket::new(net.clone(), false);
        client.start_bind(local(0)).unwrap();
        client.finish_bind().unwrap();
        let (_, mut out) = client.stream(Some(local(53))).unwrap();
        assert_eq!(client.remote_address(), Ok(local(53)));
        assert_eq!(out.send(vec![(b"x".to_vec(), None)]), Err(SendError::Unpermitted), "send before check-send");
        assert_eq!(out.check_send(), MAX_DATAGRAMS as u64);
        assert_eq!(out.send(vec![(b"one".to_vec(), None), (b"two".to_vec(), Some(local(53)))]), Ok(2));
        out.check_send();
        // To another address than the connected peer: refused.
        assert_eq!(out.send(vec![(b"no".to_vec(), Some(local(99)))]), Err(SendError::Socket(SocketError::InvalidArgument)));
        out.check_send();
        assert_eq!(out.send(vec![(vec![0; MAX_DATAGRAM + 1], None)]), Err(SendError::Socket(SocketError::DatagramTooLarge)));
        inbox.ready().await;
        let got: Vec<Vec<u8>> = inbox.receive(10).into_iter().map(|d| d.data).collect();
        assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
        // A connected receiver ignores other senders.
        let (mut from_server_only, _) = client.stream(Some(local(53))).unwrap();
        net.send_udp(7777, b"stranger".to_vec(), client.local_address().unwrap()).unwrap();
        assert!(from_server_only.receive(10).is_empty());
    }
}
