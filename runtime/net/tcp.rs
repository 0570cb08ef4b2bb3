//! A TCP socket of the pod network, in plain Rust: the states and checks
//! wasi:sockets 0.2 defines for `tcp-socket`, over the in-memory pod
//! network. The wasi:sockets adapter (`host/tcp.rs`) only converts
//! handles and error codes.
//!
//! ```text
//! Unbound --start/finish-bind--> Bound --start/finish-listen--> Listening --accept--> (a new Connected socket)
//! Unbound | Bound --start/finish-connect--> Connected | (refused: Closed)
//! ```
//!
//! Every two-phase operation (`start-*` then `finish-*`) completes at once
//! in memory; the `finish-*` call reports it, and a second `start-*`
//! before it is a concurrency conflict, as wasi:sockets specifies.

use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) use super::socket::{SocketError, SocketResult, nonzero};
use super::{Binding, Connection, Listener, NetError, PipeReader, PipeWriter, PodNetwork};

/// The two halves of a connection a guest reads and writes.
pub(crate) type Streams = (Arc<PipeReader>, Arc<PipeWriter>);

/// Wasmtime's default listen backlog.
const DEFAULT_BACKLOG: usize = 128;
/// Bounds a guest-requested backlog (Linux's somaxconn default).
const MAX_BACKLOG: usize = 4096;

/// A pod-network TCP socket.
pub(crate) struct TcpSocket {
    net: Arc<PodNetwork>,
    v6: bool,
    state: TcpState,
    in_progress: Option<Operation>,
    backlog: usize,
    /// Values a guest may set and read back (see [`TcpOptions`]).
    pub options: TcpOptions,
}

enum TcpState {
    Unbound,
    Bound { binding: Binding, addr: SocketAddr },
    Listening { listener: Listener, addr: SocketAddr },
    Connected(Connected),
    Closed,
}

struct Connected {
    local: SocketAddr,
    remote: SocketAddr,
    reader: Arc<PipeReader>,
    writer: Arc<PipeWriter>,
    /// The client's ephemeral port, held while connected.
    _binding: Option<Binding>,
}

enum Operation {
    Bind,
    Listen,
    Connect(Result<Connected, NetError>),
    /// A connection out of the runtime, opening (`egress.rs`).
    Connecting(tokio::sync::oneshot::Receiver<Result<Connected, NetError>>),
}

/// Values a guest may set and read back. They tune kernel behaviour that
/// an in-memory connection does not have, so they are kept, validated as
/// wasi:sockets says (zero is refused), and otherwise have no effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpOptions {
    /// SO_KEEPALIVE.
    pub keep_alive: bool,
    /// TCP_KEEPIDLE, in nanoseconds.
    pub keep_alive_idle: u64,
    /// TCP_KEEPINTVL, in nanoseconds.
    pub keep_alive_interval: u64,
    /// TCP_KEEPCNT.
    pub keep_alive_count: u32,
    /// IP_TTL / IPV6_UNICAST_HOPS.
    pub hop_limit: u8,
    /// SO_RCVBUF.
    pub receive_buffer: u64,
    /// SO_SNDBUF.
    pub send_buffer: u64,
}

impl Default for TcpOptions {
    fn default() -> Self {
        // Linux's defaults, which guests may print or compare against.
        Self {
            keep_alive: false,
            keep_alive_idle: 7200 * 1_000_000_000,
            keep_alive_interval: 75 * 1_000_000_000,
            keep_alive_count: 9,
            hop_limit: 64,
            receive_buffer: super::CONNECTION_BUFFER as u64,
            send_buffer: super::CONNECTION_BUFFER as u64,
        }
    }
}

impl TcpSocket {
    /// An unbound socket of family IPv6 (`v6`) or IPv4 on `net`.
    pub(crate) fn new(net: Arc<PodNetwork>, v6: bool) -> Self {
        Self { net, v6, state: TcpState::Unbound, in_progress: None, backlog: DEFAULT_BACKLOG, options: TcpOptions::default() }
    }

    /// Whether it is an IPv6 socket.
    pub(crate) fn is_v6(&self) -> bool {
        self.v6
    }

    fn check_family(&self, addr: &SocketAddr) -> SocketResult<()> {
        match addr {
            SocketAddr::V4(_) if self.v6 => Err(SocketError::InvalidArgument),
            SocketAddr::V6(_) if !self.v6 => Err(SocketError::InvalidArgument),
            _ => Ok(()),
        }
    }

    fn idle(&self) -> SocketResult<()> {
        if self.in_progress.is_some() { Err(SocketError::ConcurrencyConflict) } else { Ok(()) }
    }

    /// `start-bind`: takes the port (0: an ephemeral one) on one of the
    /// pod's own addresses.
    pub(crate) fn start_bind(&mut self, local: SocketAddr) -> SocketResult<()> {
        self.idle()?;
        if !matches!(self.state, TcpState::Unbound) {
            return Err(SocketError::InvalidState);
        }
        self.check_family(&local)?;
        if !self.net.is_self(local.ip()) {
            // Only this pod's own addresses can be bound, as in a network
            // namespace with one interface plus loopback.
            return Err(SocketError::AddressNotBindable);
        }
        let binding = self.net.bind(local.port())?;
        let addr = SocketAddr::new(local.ip(), binding.port());
        self.state = TcpState::Bound { binding, addr };
        self.in_progress = Some(Operation::Bind);
        Ok(())
    }

    /// `finish-bind`.
    pub(crate) fn finish_bind(&mut self) -> SocketResult<()> {
        match self.in_progress {
            Some(Operation::Bind) => {
                self.in_progress = None;
                Ok(())
            }
            _ => Err(SocketError::NotInProgress),
        }
    }

    /// `start-connect`: connects in memory at once; `finish-connect`
    /// reports the outcome.
    pub(crate) fn start_connect(&mut self, remote: SocketAddr) -> SocketResult<()> {
        self.idle()?;
        self.check_family(&remote)?;
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(SocketError::InvalidArgument);
        }
        let mut local = match std::mem::replace(&mut self.state, TcpState::Closed) {
            TcpState::Unbound => None,
            TcpState::Bound { binding, .. } => Some(binding),
            other => {
                self.state = other;
                return Err(SocketError::InvalidState);
            }
        };
        // Out of the runtime (egress; a pod of another node, or a Service
        // endpoint that is no pod here): the host connects, finish-connect
        // waits; the guest still sees the address it dialled.
        let out = if self.net.is_egress(remote) {
            Ok(remote)
        } else {
            match self.net.destination(remote, super::Protocol::Tcp) {
                Ok(super::Endpoint::Remote(addr)) => Ok(addr),
                Ok(super::Endpoint::Pod(target, port)) => Err(self.net.connect_pod(local.take(), remote, target, port)),
                Err(e) => Err(Err(e)),
            }
        };
        match out {
            Ok(addr) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let net = self.net.clone();
                tokio::spawn(async move {
                    let result = net.connect_out(local, addr).await.map(|(conn, binding, local)| connected(conn, local, remote, Some(binding)));
                    let _ = tx.send(result);
                });
                self.in_progress = Some(Operation::Connecting(rx));
            }
            Err(result) => {
                let result = result.map(|(conn, binding, local)| connected(conn, local, remote, Some(binding)));
                self.in_progress = Some(Operation::Connect(result));
            }
        }
        Ok(())
    }

    /// `finish-connect`: the connection's streams, or why it failed (the
    /// socket is then closed).
    pub(crate) fn finish_connect(&mut self) -> SocketResult<Streams> {
        let result = match self.in_progress.take() {
            Some(Operation::Connect(result)) => result,
            Some(Operation::Connecting(mut rx)) => match rx.try_recv() {
                Ok(result) => result,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                    self.in_progress = Some(Operation::Connecting(rx));
                    return Err(SocketError::WouldBlock);
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => Err(NetError::Unreachable),
            },
            other => {
                self.in_progress = other;
                return Err(SocketError::NotInProgress);
            }
        };
        let conn = result?;
        let streams = (conn.reader.clone(), conn.writer.clone());
        self.state = TcpState::Connected(conn);
        Ok(streams)
    }

    /// `start-listen`: the bound port starts queueing connections.
    pub(crate) fn start_listen(&mut self) -> SocketResult<()> {
        self.idle()?;
        match std::mem::replace(&mut self.state, TcpState::Closed) {
            TcpState::Bound { binding, addr } => {
                let mut listener = binding.listen(self.backlog, self.v6);
                // Pods of other nodes reach what listens beyond loopback.
                if !self.v6 && !addr.ip().is_loopback() {
                    listener.expose();
                }
                self.state = TcpState::Listening { listener, addr };
                self.in_progress = Some(Operation::Listen);
                Ok(())
            }
            other => {
                self.state = other;
                Err(SocketError::InvalidState)
            }
        }
    }

    /// `finish-listen`.
    pub(crate) fn finish_listen(&mut self) -> SocketResult<()> {
        match self.in_progress {
            Some(Operation::Listen) => {
                self.in_progress = None;
                Ok(())
            }
            _ => Err(SocketError::NotInProgress),
        }
    }

    /// `accept`: the next queued connection as a connected socket, with
    /// its streams.
    pub(crate) fn accept(&mut self) -> SocketResult<(TcpSocket, Streams)> {
        let TcpState::Listening { listener, .. } = &mut self.state else {
            return Err(SocketError::InvalidState);
        };
        let incoming = listener.try_accept().ok_or(SocketError::WouldBlock)?;
        let conn = connected(incoming.stream, incoming.local, incoming.peer, None);
        let streams = (conn.reader.clone(), conn.writer.clone());
        let mut accepted = TcpSocket::new(self.net.clone(), self.v6);
        accepted.state = TcpState::Connected(conn);
        Ok((accepted, streams))
    }

    /// `local-address`.
    pub(crate) fn local_address(&self) -> SocketResult<SocketAddr> {
        match &self.state {
            TcpState::Bound { addr, .. } | TcpState::Listening { addr, .. } => Ok(*addr),
            TcpState::Connected(c) => Ok(c.local),
            TcpState::Unbound | TcpState::Closed => Err(SocketError::InvalidState),
        }
    }

    /// `remote-address`.
    pub(crate) fn remote_address(&self) -> SocketResult<SocketAddr> {
        match &self.state {
            TcpState::Connected(c) => Ok(c.remote),
            _ => Err(SocketError::InvalidState),
        }
    }

    /// `is-listening`.
    pub(crate) fn is_listening(&self) -> bool {
        matches!(self.state, TcpState::Listening { .. })
    }

    /// `set-listen-backlog-size`: the accept queue of the next listen.
    pub(crate) fn set_listen_backlog_size(&mut self, value: u64) -> SocketResult<()> {
        let value = nonzero(value)?;
        if matches!(self.state, TcpState::Connected(_)) {
            return Err(SocketError::InvalidState);
        }
        self.backlog = usize::try_from(value).unwrap_or(MAX_BACKLOG).min(MAX_BACKLOG);
        Ok(())
    }

    /// `shutdown`: stop sending (the peer reads the end), receiving, or both.
    pub(crate) fn shutdown(&mut self, send: bool, receive: bool) -> SocketResult<()> {
        let TcpState::Connected(c) = &self.state else {
            return Err(SocketError::InvalidState);
        };
        if send {
            c.writer.shutdown();
        }
        if receive {
            c.reader.close();
        }
        Ok(())
    }

    /// Resolves when `accept` may have a connection, or a connection out
    /// of the runtime has opened or failed (connects in the runtime finish
    /// at once).
    pub(crate) async fn ready(&mut self) {
        if let Some(Operation::Connecting(rx)) = &mut self.in_progress {
            let result = rx.await.unwrap_or(Err(NetError::Unreachable));
            self.in_progress = Some(Operation::Connect(result));
            return;
        }
        if self.in_progress.is_none()
            && let TcpState::Listening { listener, .. } = &mut self.state
        {
            listener.ready().await;
        }
    }
}

fn connected(conn: Connection, local: SocketAddr, remote: SocketAddr, binding: Option<Binding>) -> Connected {
    Connected { local, remote, reader: Arc::new(conn.reader), writer: Arc::new(conn.writer), _binding: binding }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ReadOutcome;
    use std::net::{IpAddr, Ipv4Addr};

    fn addr(ip: IpAddr, port: u16) -> SocketAddr {
        SocketAddr::new(ip, port)
    }

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn listening(net: &Arc<PodNetwork>, port: u16) -> TcpSocket {
        let mut s = TcpSocket::new(net.clone(), false);
        s.start_bind(addr(LOOPBACK, port)).unwrap();
        s.finish_bind().unwrap();
        s.start_listen().unwrap();
        s.finish_listen().unwrap();
        s
    }

    #[tokio::test]
    async fn bind_listen_connect_accept_and_talk() {
        let cluster = crate::net::ClusterNetwork::new();
        let net = cluster.attach("p", "default");
        let mut server = listening(&net, 8080);
        assert!(server.is_listening());
        assert_eq!(server.local_address(), Ok(addr(LOOPBACK, 8080)));
        assert_eq!(server.accept().err(), Some(SocketError::WouldBlock));

        let mut client = TcpSocket::new(net.clone(), false);
        client.start_connect(addr(LOOPBACK, 8080)).unwrap();
        let (_, to_server) = client.finish_connect().unwrap();
        assert_eq!(client.remote_address(), Ok(addr(LOOPBACK, 8080)));
        server.ready().await;
        let (accepted, (from_client, _)) = server.accept().unwrap();
        assert_eq!(accepted.remote_address(), client.local_address());
        to_server.write(bytes::Bytes::from_static(b"hi")).unwrap();
        assert!(matches!(from_client.try_read(10), ReadOutcome::Data(b) if &b[..] == b"hi"));
        // Shutting the send side down ends the peer's stream.
        client.shutdown(true, false).unwrap();
        assert!(matches!(from_client.try_read(10), ReadOutcome::Closed));
    }

    #[test]
    fn operations_out_of_order_are_refused_with_wasi_codes() {
        let cluster = crate::net::ClusterNetwork::new();
        let net = cluster.attach("p", "default");
        let mut s = TcpSocket::new(net.clone(), false);
        assert_eq!(s.finish_bind(), Err(SocketError::NotInProgress));
        assert_eq!(s.start_listen(), Err(SocketError::InvalidState), "listen before bind");
        assert_eq!(s.local_address(), Err(SocketError::InvalidState));
        assert_eq!(s.shutdown(true, true), Err(SocketError::InvalidState));
        // An IPv6 address on an IPv4 socket, a foreign address, port 0 remote.
        assert_eq!(s.start_bind("[::1]:80".parse().unwrap()), Err(SocketError::InvalidArgument));
        assert_eq!(s.start_bind(addr(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80)), Err(SocketError::AddressNotBindable));
        assert_eq!(s.start_connect(addr(LOOPBACK, 0)), Err(SocketError::InvalidArgument));
        // A start before the previous finish conflicts.
        s.start_bind(addr(LOOPBACK, 0)).unwrap();
        assert_eq!(s.start_listen(), Err(SocketError::ConcurrencyConflict));
        s.finish_bind().unwrap();
        assert_eq!(s.finish_bind(), Err(SocketError::NotInProgress));
        assert!(s.local_address().unwrap().port() >= 32768, "port 0 binds an ephemeral port");
        assert_eq!(s.start_bind(addr(LOOPBACK, 0)), Err(SocketError::InvalidState), "bound twice");
        // A second bind of a taken port, and a refused connect.
        let _listener = listening(&net, 9000);
        let mut other = TcpSocket::new(net.clone(), false);
        assert_eq!(other.start_bind(addr(LOOPBACK, 9000)), Err(SocketError::Net(NetError::AddressInUse)));
        other.start_connect(addr(LOOPBACK, 9001)).unwrap();
        assert_eq!(other.finish_connect().err(), Some(SocketError::Net(NetError::ConnectionRefused)));
        assert_eq!(other.start_listen(), Err(SocketError::InvalidState), "a refused socket is closed");
    }

    #[test]
    fn options_keep_what_is_set_and_refuse_zero() {
        let cluster = crate::net::ClusterNetwork::new();
        let mut s = TcpSocket::new(cluster.attach("p", "default"), false);
        assert_eq!(s.options.hop_limit, 64);
        assert_eq!(nonzero(0u8), Err(SocketError::InvalidArgument));
        s.options.hop_limit = nonzero(10).unwrap();
        assert_eq!(s.options.hop_limit, 10);
        assert_eq!(s.set_listen_backlog_size(0), Err(SocketError::InvalidArgument));
        s.set_listen_backlog_size(1 << 40).unwrap();
        assert_eq!(s.backlog, MAX_BACKLOG);
    }
}
