//! The wasi:sockets interfaces a component sees, implemented over the pod
//! network instead of host sockets.
//!
//! wasmtime-wasi has no pluggable socket backend, so the engine's linker
//! shadows its `wasi:sockets/tcp`, `tcp-create-socket` and
//! `ip-name-lookup` with the implementations here (see
//! `engine::WasmEngine::new`). The generated bindings name wasmtime's own
//! resource types; this adapter stores its own types in the store's
//! resource table and converts handles by their table index (`rep`), which
//! is the only thing a handle carries.
//!
//! State machine of a socket, as wasi:sockets 0.2 defines it:
//! unbound -> (start/finish-bind) bound -> (start/finish-listen) listening;
//! unbound|bound -> (start/finish-connect) connected | closed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::bindings::sockets::tcp::{self, ShutdownType, TcpSocket};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, InputStream, OutputStream, Pollable, SocketResult, StreamError, StreamResult};
use wasmtime_wasi::sockets::{WasiSocketsCtx, WasiSocketsCtxView};

use super::{Binding, Connection, Listener, NetError, PipeReader, PipeWriter, PodNetwork, ReadOutcome};

/// What a container's sockets reach.
#[derive(Clone, Default)]
pub enum SocketPolicy {
    /// The pod network: the pod's own localhost and other pods' IPs.
    Pod(Arc<PodNetwork>),
    /// The host's own network, through wasmtime-wasi's host sockets: the
    /// explicit opt-in of `hostNetwork: true`.
    Host,
    /// No network at all: creating a socket is access-denied.
    #[default]
    None,
}

/// Marker for the linker: selects [`PodSocketsView`] as the host data.
pub struct PodSockets;

impl HasData for PodSockets {
    type Data<'a> = PodSocketsView<'a>;
}

/// What the socket host functions borrow from a store.
pub struct PodSocketsView<'a> {
    /// The container's network.
    pub policy: &'a SocketPolicy,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
    /// wasmtime-wasi's socket context, used under [`SocketPolicy::Host`].
    pub host: &'a mut WasiSocketsCtx,
    /// The instance's open handles: every socket, pod or host, takes a
    /// slot of the pod's open-file cap.
    pub(crate) handles: &'a mut crate::limits::Handles,
}

impl From<NetError> for ErrorCode {
    fn from(e: NetError) -> Self {
        match e {
            NetError::AddressInUse => ErrorCode::AddressInUse,
            NetError::ConnectionRefused => ErrorCode::ConnectionRefused,
            NetError::Unreachable => ErrorCode::RemoteUnreachable,
            NetError::PortsExhausted => ErrorCode::AddressNotBindable,
            NetError::HostNetwork => ErrorCode::AccessDenied,
        }
    }
}

fn err<T>(code: ErrorCode) -> SocketResult<T> {
    Err(code.into())
}

/// A TCP socket of the pod network.
pub struct PodTcpSocket {
    net: Arc<PodNetwork>,
    v6: bool,
    state: TcpState,
    in_progress: Option<Operation>,
    backlog: usize,
    options: TcpOptions,
}

enum TcpState {
    Unbound,
    Bound { binding: Binding, addr: SocketAddr },
    Listening { listener: Listener, addr: SocketAddr },
    Connected(ConnectedSocket),
    Closed,
}

struct ConnectedSocket {
    local: SocketAddr,
    remote: SocketAddr,
    reader: Arc<PipeReader>,
    writer: Arc<PipeWriter>,
    /// The client's ephemeral port, held while connected.
    _binding: Option<Binding>,
    /// Streams not yet handed to the guest by finish-connect.
    streams_taken: bool,
}

enum Operation {
    Bind,
    Listen,
    Connect(Result<ConnectedSocket, NetError>),
}

/// Values a guest may set and read back. They tune kernel behaviour that an
/// in-memory connection does not have, so they are kept, validated as
/// wasi:sockets says, and otherwise have no effect.
struct TcpOptions {
    keep_alive: bool,
    keep_alive_idle: u64,
    keep_alive_interval: u64,
    keep_alive_count: u32,
    hop_limit: u8,
    receive_buffer: u64,
    send_buffer: u64,
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

/// Wasmtime's default listen backlog.
const DEFAULT_BACKLOG: usize = 128;
/// Bounds a guest-requested backlog (Linux's somaxconn default).
const MAX_BACKLOG: usize = 4096;

impl PodTcpSocket {
    fn new(net: Arc<PodNetwork>, v6: bool) -> Self {
        Self { net, v6, state: TcpState::Unbound, in_progress: None, backlog: DEFAULT_BACKLOG, options: TcpOptions::default() }
    }

    fn check_family(&self, addr: &SocketAddr) -> SocketResult<()> {
        match addr {
            SocketAddr::V4(_) if self.v6 => err(ErrorCode::InvalidArgument),
            SocketAddr::V6(_) if !self.v6 => err(ErrorCode::InvalidArgument),
            _ => Ok(()),
        }
    }
}

fn connected(conn: Connection, local: SocketAddr, remote: SocketAddr, binding: Option<Binding>) -> ConnectedSocket {
    ConnectedSocket { local, remote, reader: Arc::new(conn.reader), writer: Arc::new(conn.writer), _binding: binding, streams_taken: false }
}

#[async_trait::async_trait]
impl Pollable for PodTcpSocket {
    async fn ready(&mut self) {
        // Connects finish at once; only accept ever waits.
        if self.in_progress.is_none()
            && let TcpState::Listening { listener, .. } = &mut self.state
        {
            listener.ready().await;
        }
    }
}

/// The guest's reading half of a connection.
struct SocketInput(Arc<PipeReader>);

#[async_trait::async_trait]
impl Pollable for SocketInput {
    async fn ready(&mut self) {
        self.0.ready().await
    }
}

impl InputStream for SocketInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        match self.0.try_read(size) {
            ReadOutcome::Data(b) => Ok(b),
            ReadOutcome::Empty => Ok(Bytes::new()),
            ReadOutcome::Closed => Err(StreamError::Closed),
        }
    }
}

/// The guest's writing half of a connection.
struct SocketOutput(Arc<PipeWriter>);

#[async_trait::async_trait]
impl Pollable for SocketOutput {
    async fn ready(&mut self) {
        self.0.ready().await
    }
}

fn stream_error(e: std::io::Error) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::from(e))
}

impl OutputStream for SocketOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let room = self.0.capacity().map_err(stream_error)?;
        if bytes.len() > room {
            return Err(StreamError::trap("write beyond the permit given by check-write"));
        }
        self.0.write(bytes).map_err(stream_error)
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Written bytes are already visible to the peer.
        self.0.capacity().map(|_| ()).map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.0.capacity().map_err(stream_error)
    }
}

/// Addresses from a name lookup, all known at once.
pub struct PodResolveStream(std::vec::IntoIter<IpAddr>);

#[async_trait::async_trait]
impl Pollable for PodResolveStream {
    async fn ready(&mut self) {}
}

fn sock(r: &Resource<TcpSocket>) -> Resource<PodTcpSocket> {
    Resource::new_borrow(r.rep())
}

fn to_socket_addr(a: IpSocketAddress) -> SocketAddr {
    a.into()
}

impl PodSocketsView<'_> {
    pub(super) fn net(&self) -> SocketResult<Arc<PodNetwork>> {
        match self.policy {
            SocketPolicy::Pod(n) => Ok(n.clone()),
            SocketPolicy::Host | SocketPolicy::None => err(ErrorCode::AccessDenied),
        }
    }

    /// wasmtime-wasi's own implementation, for a host-network container:
    /// every call is handed to it unchanged, and the table then holds
    /// wasmtime's resource types, never this module's.
    pub(super) fn host(&mut self) -> Option<WasiSocketsCtxView<'_>> {
        matches!(self.policy, SocketPolicy::Host).then(|| WasiSocketsCtxView { ctx: &mut *self.host, table: &mut *self.table })
    }

    fn socket(&mut self, r: &Resource<TcpSocket>) -> SocketResult<&mut PodTcpSocket> {
        Ok(self.table.get_mut(&sock(r))?)
    }

    fn push_streams(
        &mut self,
        parent: &Resource<PodTcpSocket>,
        reader: Arc<PipeReader>,
        writer: Arc<PipeWriter>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let input: DynInputStream = Box::new(SocketInput(reader));
        let output: DynOutputStream = Box::new(SocketOutput(writer));
        let input = self.table.push_child(input, parent)?;
        let output = self.table.push_child(output, parent)?;
        Ok((input, output))
    }

    /// accept on the pod network: the next queued connection, if any.
    fn accept_pod(&mut self, this: Resource<TcpSocket>) -> SocketResult<(Resource<TcpSocket>, Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let s = self.socket(&this)?;
        let TcpState::Listening { listener, .. } = &mut s.state else {
            return err(ErrorCode::InvalidState);
        };
        let Some(incoming) = listener.try_accept() else {
            return err(ErrorCode::WouldBlock);
        };
        let (net, v6) = (s.net.clone(), s.v6);
        let mut accepted = PodTcpSocket::new(net, v6);
        let mut conn = connected(incoming.stream, incoming.local, incoming.peer, None);
        conn.streams_taken = true;
        let (reader, writer) = (conn.reader.clone(), conn.writer.clone());
        accepted.state = TcpState::Connected(conn);
        let accepted = self.table.push(accepted)?;
        let (input, output) = self.push_streams(&accepted, reader, writer)?;
        Ok((Resource::new_own(accepted.rep()), input, output))
    }
}

impl tcp_create_socket::Host for PodSocketsView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        let Some(slot) = self.handles.reserve() else {
            return err(ErrorCode::NewSocketLimit);
        };
        let socket = match self.host() {
            Some(mut host) => tcp_create_socket::Host::create_tcp_socket(&mut host, family)?,
            None => {
                let net = self.net()?;
                Resource::new_own(self.table.push(PodTcpSocket::new(net, matches!(family, IpAddressFamily::Ipv6)))?.rep())
            }
        };
        self.handles.hold(socket.rep(), slot);
        Ok(socket)
    }
}

impl tcp::Host for PodSocketsView<'_> {}

// Required by the generated socket traits; the guest-visible `network`
// interface itself stays wasmtime's (it only converts errors).
impl network::Host for PodSocketsView<'_> {
    fn convert_error_code(&mut self, error: wasmtime_wasi::p2::SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<std::io::Error>().map(ErrorCode::from))
    }
}

impl network::HostNetwork for PodSocketsView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl tcp::HostTcpSocket for PodSocketsView<'_> {
    async fn start_bind(&mut self, this: Resource<TcpSocket>, network: Resource<Network>, local: IpSocketAddress) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::start_bind(&mut host, this, network, local).await;
        }
        self.table.get(&network)?;
        let local = to_socket_addr(local);
        let s = self.socket(&this)?;
        if s.in_progress.is_some() {
            return err(ErrorCode::ConcurrencyConflict);
        }
        if !matches!(s.state, TcpState::Unbound) {
            return err(ErrorCode::InvalidState);
        }
        s.check_family(&local)?;
        if !s.net.is_self(local.ip()) {
            // Only this pod's own addresses can be bound, as in a network
            // namespace with one interface plus loopback.
            return err(ErrorCode::AddressNotBindable);
        }
        let binding = s.net.bind(local.port()).map_err(ErrorCode::from)?;
        let addr = SocketAddr::new(local.ip(), binding.port());
        s.state = TcpState::Bound { binding, addr };
        s.in_progress = Some(Operation::Bind);
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::finish_bind(&mut host, this);
        }
        let s = self.socket(&this)?;
        match s.in_progress {
            Some(Operation::Bind) => {
                s.in_progress = None;
                Ok(())
            }
            _ => err(ErrorCode::NotInProgress),
        }
    }

    fn start_connect(&mut self, this: Resource<TcpSocket>, network: Resource<Network>, remote: IpSocketAddress) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::start_connect(&mut host, this, network, remote);
        }
        self.table.get(&network)?;
        let remote = to_socket_addr(remote);
        let s = self.socket(&this)?;
        if s.in_progress.is_some() {
            return err(ErrorCode::ConcurrencyConflict);
        }
        s.check_family(&remote)?;
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        let local = match std::mem::replace(&mut s.state, TcpState::Closed) {
            TcpState::Unbound => None,
            TcpState::Bound { binding, .. } => Some(binding),
            other => {
                s.state = other;
                return err(ErrorCode::InvalidState);
            }
        };
        // An in-memory connect completes at once; finish-connect reports it.
        let result = s.net.connect_from(local, remote).map(|(conn, binding, local)| connected(conn, local, remote, Some(binding)));
        s.in_progress = Some(Operation::Connect(result));
        Ok(())
    }

    fn finish_connect(&mut self, this: Resource<TcpSocket>) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::finish_connect(&mut host, this);
        }
        let s = self.socket(&this)?;
        let result = match s.in_progress.take() {
            Some(Operation::Connect(result)) => result,
            other => {
                s.in_progress = other;
                return err(ErrorCode::NotInProgress);
            }
        };
        let mut conn = match result {
            Ok(conn) => conn,
            Err(e) => return err(e.into()),
        };
        conn.streams_taken = true;
        let (reader, writer) = (conn.reader.clone(), conn.writer.clone());
        s.state = TcpState::Connected(conn);
        self.push_streams(&sock(&this), reader, writer)
    }

    async fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::start_listen(&mut host, this).await;
        }
        let s = self.socket(&this)?;
        if s.in_progress.is_some() {
            return err(ErrorCode::ConcurrencyConflict);
        }
        match std::mem::replace(&mut s.state, TcpState::Closed) {
            TcpState::Bound { binding, addr } => {
                s.state = TcpState::Listening { listener: binding.listen(s.backlog, s.v6), addr };
                s.in_progress = Some(Operation::Listen);
                Ok(())
            }
            other => {
                s.state = other;
                err(ErrorCode::InvalidState)
            }
        }
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::finish_listen(&mut host, this);
        }
        let s = self.socket(&this)?;
        match s.in_progress {
            Some(Operation::Listen) => {
                s.in_progress = None;
                Ok(())
            }
            _ => err(ErrorCode::NotInProgress),
        }
    }

    fn accept(&mut self, this: Resource<TcpSocket>) -> SocketResult<(Resource<TcpSocket>, Resource<DynInputStream>, Resource<DynOutputStream>)> {
        // As accept(2) with no descriptor left: EMFILE, the connection stays queued.
        let Some(slot) = self.handles.reserve() else {
            return err(ErrorCode::NewSocketLimit);
        };
        let accepted = match self.host() {
            Some(mut host) => tcp::HostTcpSocket::accept(&mut host, this)?,
            None => self.accept_pod(this)?,
        };
        self.handles.hold(accepted.0.rep(), slot);
        Ok(accepted)
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::local_address(&mut host, this);
        }
        let s = self.socket(&this)?;
        match &s.state {
            TcpState::Bound { addr, .. } | TcpState::Listening { addr, .. } => Ok((*addr).into()),
            TcpState::Connected(c) => Ok(c.local.into()),
            TcpState::Unbound | TcpState::Closed => err(ErrorCode::InvalidState),
        }
    }
    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::remote_address(&mut host, this);
        }
        match &self.socket(&this)?.state {
            TcpState::Connected(c) => Ok(c.remote.into()),
            _ => err(ErrorCode::InvalidState),
        }
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::is_listening(&mut host, this);
        }
        Ok(matches!(self.table.get(&sock(&this))?.state, TcpState::Listening { .. }))
    }

    fn address_family(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::address_family(&mut host, this);
        }
        Ok(if self.table.get(&sock(&this))?.v6 { IpAddressFamily::Ipv6 } else { IpAddressFamily::Ipv4 })
    }

    fn set_listen_backlog_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_listen_backlog_size(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        let s = self.socket(&this)?;
        if matches!(s.state, TcpState::Connected(_)) {
            return err(ErrorCode::InvalidState);
        }
        // Takes effect at the next listen, as the size of the accept queue.
        s.backlog = usize::try_from(value).unwrap_or(MAX_BACKLOG).min(MAX_BACKLOG);
        Ok(())
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_enabled(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive)
    }

    fn set_keep_alive_enabled(&mut self, this: Resource<TcpSocket>, value: bool) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_enabled(&mut host, this, value);
        }
        self.socket(&this)?.options.keep_alive = value;
        Ok(())
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_idle_time(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive_idle)
    }

    fn set_keep_alive_idle_time(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_idle_time(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.socket(&this)?.options.keep_alive_idle = value;
        Ok(())
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_interval(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive_interval)
    }

    fn set_keep_alive_interval(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_interval(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.socket(&this)?.options.keep_alive_interval = value;
        Ok(())
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_count(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive_count)
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_count(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.socket(&this)?.options.keep_alive_count = value;
        Ok(())
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::hop_limit(&mut host, this);
        }
        Ok(self.socket(&this)?.options.hop_limit)
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_hop_limit(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.socket(&this)?.options.hop_limit = value;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::receive_buffer_size(&mut host, this);
        }
        Ok(self.socket(&this)?.options.receive_buffer)
    }

    fn set_receive_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_receive_buffer_size(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.socket(&this)?.options.receive_buffer = value;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::send_buffer_size(&mut host, this);
        }
        Ok(self.socket(&this)?.options.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_send_buffer_size(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.socket(&this)?.options.send_buffer = value;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, sock(&this))
    }

    fn shutdown(&mut self, this: Resource<TcpSocket>, how: ShutdownType) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::shutdown(&mut host, this, how);
        }
        let TcpState::Connected(c) = &self.socket(&this)?.state else {
            return err(ErrorCode::InvalidState);
        };
        if matches!(how, ShutdownType::Send | ShutdownType::Both) {
            c.writer.shutdown();
        }
        if matches!(how, ShutdownType::Receive | ShutdownType::Both) {
            c.reader.close();
        }
        Ok(())
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        self.handles.release(this.rep());
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::drop(&mut host, this);
        }
        // Dropping the socket drops its connection or listener, which frees
        // the port and, once the streams are gone too, ends the connection.
        self.table.delete(Resource::<PodTcpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}

impl ip_name_lookup::Host for PodSocketsView<'_> {
    fn resolve_addresses(&mut self, network: Resource<Network>, name: String) -> SocketResult<Resource<ResolveAddressStream>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::Host::resolve_addresses(&mut host, network, name);
        }
        self.table.get(&network)?;
        let net = self.net()?;
        let addrs = resolve(&net, &name)?;
        let stream = self.table.push(PodResolveStream(addrs.into_iter()))?;
        Ok(Resource::new_own(stream.rep()))
    }
}

impl ip_name_lookup::HostResolveAddressStream for PodSocketsView<'_> {
    fn resolve_next_address(&mut self, this: Resource<ResolveAddressStream>) -> SocketResult<Option<IpAddress>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::resolve_next_address(&mut host, this);
        }
        let stream = self.table.get_mut(&Resource::<PodResolveStream>::new_borrow(this.rep()))?;
        Ok(stream.0.next().map(IpAddress::from))
    }

    fn subscribe(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, Resource::<PodResolveStream>::new_borrow(this.rep()))
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::drop(&mut host, this);
        }
        self.table.delete(Resource::<PodResolveStream>::new_own(this.rep()))?;
        Ok(())
    }
}

/// The pod's resolver: what a pod's /etc/hosts and cluster DNS answer:
/// IP literals, `localhost`, the pod's own hostname, Kubernetes' pod A
/// records (`10-88-0-2.<ns>.pod[.cluster.local]`) for pods that exist, and
/// the names of pods with `hostname` and `subdomain`
/// (`<hostname>.<subdomain>.<ns>.svc.cluster.local`, and the shorter forms
/// the search domains allow). Kubernetes publishes those only with a
/// headless Service named like the subdomain; wasmpod has no Services and
/// publishes them directly. Everything else is unresolvable: the pod
/// network has no internet.
pub(crate) fn resolve(net: &PodNetwork, name: &str) -> SocketResult<Vec<IpAddr>> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return err(ErrorCode::InvalidArgument);
    }
    if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lower = name.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
    if net.hostname().eq_ignore_ascii_case(&lower) {
        return Ok(vec![IpAddr::V4(net.ip())]);
    }
    let mut labels = lower.split('.');
    let first = labels.next().unwrap_or_default();
    let rest: Vec<&str> = labels.collect();
    let pod_record = matches!(rest.as_slice(), [_, "pod"] | [_, "pod", "cluster", "local"]);
    if pod_record
        && let Ok(ip) = first.replace('-', ".").parse::<Ipv4Addr>()
        && net.pod_exists(ip)
    {
        return Ok(vec![IpAddr::V4(ip)]);
    }
    if !lower.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return err(ErrorCode::InvalidArgument);
    }
    if let Some(ip) = net.lookup_name(&lower) {
        return Ok(vec![IpAddr::V4(ip)]);
    }
    err(ErrorCode::NameUnresolvable)
}
