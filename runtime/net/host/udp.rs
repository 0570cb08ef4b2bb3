//! `wasi:sockets/udp` over the pod network's UDP ports (`net/udp.rs`),
//! shadowing wasmtime-wasi's host-socket implementation as `tcp.rs` does
//! for TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::bindings::sockets::udp::{self, IncomingDatagram, IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket};
use wasmtime_wasi::p2::{DynPollable, Pollable, SocketError, SocketResult};

use super::{PodSocketsView, err};
use crate::net::udp::{MAX_DATAGRAM, SharedUdp, UdpShared};
use crate::net::{NetError, PodNetwork};

/// Datagrams per receive or send call, as wasmtime-wasi allows.
const MAX_DATAGRAMS: usize = 16;

/// A UDP socket of the pod network.
pub struct PodUdpSocket {
    net: Arc<PodNetwork>,
    v6: bool,
    bound: Option<(SharedUdp, SocketAddr)>,
    bind_in_progress: bool,
    remote: Option<SocketAddr>,
    hop_limit: u8,
    receive_buffer: u64,
    send_buffer: u64,
}

impl PodUdpSocket {
    /// An unbound socket of family IPv6 (`v6`) or IPv4 on `net`, with
    /// Linux's default options.
    pub(super) fn new(net: Arc<PodNetwork>, v6: bool) -> Self {
        Self { net, v6, bound: None, bind_in_progress: false, remote: None, hop_limit: 64, receive_buffer: 208 * 1024, send_buffer: 208 * 1024 }
    }
}

#[async_trait::async_trait]
impl Pollable for PodUdpSocket {
    async fn ready(&mut self) {}
}

/// The receiving side of a bound socket.
pub struct PodUdpIncoming {
    shared: SharedUdp,
    remote: Option<SocketAddr>,
}

#[async_trait::async_trait]
impl Pollable for PodUdpIncoming {
    async fn ready(&mut self) {
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

/// The sending side of a bound socket.
pub struct PodUdpOutgoing {
    net: Arc<PodNetwork>,
    port: u16,
    v6: bool,
    remote: Option<SocketAddr>,
    permits: usize,
}

#[async_trait::async_trait]
impl Pollable for PodUdpOutgoing {
    // Sending never waits: a full receiver drops, as UDP does.
    async fn ready(&mut self) {}
}

fn own<T: 'static, U: 'static>(r: &Resource<T>) -> Resource<U> {
    Resource::new_borrow(r.rep())
}

impl PodSocketsView<'_> {
    fn udp_socket(&mut self, r: &Resource<UdpSocket>) -> SocketResult<&mut PodUdpSocket> {
        Ok(self.table.get_mut(&own::<_, PodUdpSocket>(r))?)
    }
}

impl udp::Host for PodSocketsView<'_> {}

impl udp::HostUdpSocket for PodSocketsView<'_> {
    async fn start_bind(&mut self, this: Resource<UdpSocket>, network: Resource<Network>, local: IpSocketAddress) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::start_bind(&mut host, this, network, local).await;
        }
        self.table.get(&network)?;
        let local = SocketAddr::from(local);
        let s = self.udp_socket(&this)?;
        if s.bind_in_progress {
            return err(ErrorCode::ConcurrencyConflict);
        }
        if s.bound.is_some() {
            return err(ErrorCode::InvalidState);
        }
        if local.is_ipv6() != s.v6 {
            return err(ErrorCode::InvalidArgument);
        }
        if !s.net.is_self(local.ip()) {
            return err(ErrorCode::AddressNotBindable);
        }
        let binding = s.net.bind_udp(local.port(), s.v6).map_err(ErrorCode::from)?;
        let addr = SocketAddr::new(local.ip(), binding.port());
        s.bound = Some((Arc::new(tokio::sync::Mutex::new(UdpShared { binding, peeked: None })), addr));
        s.bind_in_progress = true;
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::finish_bind(&mut host, this);
        }
        let s = self.udp_socket(&this)?;
        if !std::mem::take(&mut s.bind_in_progress) {
            return err(ErrorCode::NotInProgress);
        }
        Ok(())
    }

    async fn stream(
        &mut self,
        this: Resource<UdpSocket>,
        remote: Option<IpSocketAddress>,
    ) -> SocketResult<(Resource<IncomingDatagramStream>, Resource<OutgoingDatagramStream>)> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::stream(&mut host, this, remote).await;
        }
        let parent = own::<_, PodUdpSocket>(&this);
        let active = self.table.iter_children(&parent)?.any(|c| c.is::<PodUdpIncoming>() || c.is::<PodUdpOutgoing>());
        if active {
            return Err(SocketError::trap(wasmtime::format_err!("UDP streams not dropped yet")));
        }
        let s = self.udp_socket(&this)?;
        let Some((shared, addr)) = s.bound.clone() else {
            // In WASI 0.2 a socket is bound before it streams.
            return err(ErrorCode::InvalidState);
        };
        let remote = remote.map(SocketAddr::from);
        if let Some(r) = remote
            && (r.is_ipv6() != s.v6 || r.ip().is_unspecified() || r.port() == 0)
        {
            return err(ErrorCode::InvalidArgument);
        }
        s.remote = remote;
        let (net, v6) = (s.net.clone(), s.v6);
        let incoming = self.table.push_child(PodUdpIncoming { shared, remote }, &parent)?;
        let outgoing = self.table.push_child(PodUdpOutgoing { net, port: addr.port(), v6, remote, permits: 0 }, &parent)?;
        Ok((Resource::new_own(incoming.rep()), Resource::new_own(outgoing.rep())))
    }

    fn local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::local_address(&mut host, this);
        }
        match &self.udp_socket(&this)?.bound {
            Some((_, addr)) => Ok((*addr).into()),
            None => err(ErrorCode::InvalidState),
        }
    }

    fn remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::remote_address(&mut host, this);
        }
        match self.udp_socket(&this)?.remote {
            Some(addr) => Ok(addr.into()),
            None => err(ErrorCode::InvalidState),
        }
    }

    fn address_family(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::address_family(&mut host, this);
        }
        Ok(if self.table.get(&own::<_, PodUdpSocket>(&this))?.v6 { IpAddressFamily::Ipv6 } else { IpAddressFamily::Ipv4 })
    }

    fn unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::unicast_hop_limit(&mut host, this);
        }
        Ok(self.udp_socket(&this)?.hop_limit)
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::set_unicast_hop_limit(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.udp_socket(&this)?.hop_limit = value;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::receive_buffer_size(&mut host, this);
        }
        Ok(self.udp_socket(&this)?.receive_buffer)
    }

    fn set_receive_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::set_receive_buffer_size(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.udp_socket(&this)?.receive_buffer = value;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::send_buffer_size(&mut host, this);
        }
        Ok(self.udp_socket(&this)?.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::set_send_buffer_size(&mut host, this, value);
        }
        if value == 0 {
            return err(ErrorCode::InvalidArgument);
        }
        self.udp_socket(&this)?.send_buffer = value;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, own::<_, PodUdpSocket>(&this))
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        self.handles.release(this.rep());
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::drop(&mut host, this);
        }
        self.table.delete(Resource::<PodUdpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}

impl udp::HostIncomingDatagramStream for PodSocketsView<'_> {
    fn receive(&mut self, this: Resource<IncomingDatagramStream>, max_results: u64) -> SocketResult<Vec<IncomingDatagram>> {
        if let Some(mut host) = self.host() {
            return udp::HostIncomingDatagramStream::receive(&mut host, this, max_results);
        }
        let stream = self.table.get_mut(&own::<_, PodUdpIncoming>(&this))?;
        let max = usize::try_from(max_results).unwrap_or(usize::MAX).min(MAX_DATAGRAMS);
        let mut out = Vec::new();
        // Held only by a pending readiness wait, which the guest is not in.
        let Ok(mut g) = stream.shared.try_lock() else { return Ok(out) };
        while out.len() < max {
            let Some(d) = g.peeked.take().or_else(|| g.binding.try_recv()) else { break };
            if stream.remote.is_none_or(|r| r == d.from) {
                out.push(IncomingDatagram { data: d.data, remote_address: d.from.into() });
            }
        }
        Ok(out)
    }

    fn subscribe(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return udp::HostIncomingDatagramStream::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, own::<_, PodUdpIncoming>(&this))
    }

    fn drop(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<()> {
        if let Some(mut host) = self.host() {
            return udp::HostIncomingDatagramStream::drop(&mut host, this);
        }
        self.table.delete(Resource::<PodUdpIncoming>::new_own(this.rep()))?;
        Ok(())
    }
}

impl udp::HostOutgoingDatagramStream for PodSocketsView<'_> {
    fn check_send(&mut self, this: Resource<OutgoingDatagramStream>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::check_send(&mut host, this);
        }
        let stream = self.table.get_mut(&own::<_, PodUdpOutgoing>(&this))?;
        stream.permits = MAX_DATAGRAMS;
        Ok(MAX_DATAGRAMS as u64)
    }

    fn send(&mut self, this: Resource<OutgoingDatagramStream>, datagrams: Vec<OutgoingDatagram>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::send(&mut host, this, datagrams);
        }
        let stream = self.table.get_mut(&own::<_, PodUdpOutgoing>(&this))?;
        if datagrams.len() > stream.permits {
            return Err(SocketError::trap(wasmtime::format_err!("unpermitted: argument exceeds permitted size")));
        }
        stream.permits = 0;
        let mut sent = 0;
        for d in datagrams {
            let result = (|| {
                let to = match (d.remote_address.map(SocketAddr::from), stream.remote) {
                    (Some(to), Some(r)) if to != r => return Err(ErrorCode::InvalidArgument),
                    (Some(to), _) | (None, Some(to)) => to,
                    (None, None) => return Err(ErrorCode::InvalidArgument),
                };
                if to.is_ipv6() != stream.v6 || to.port() == 0 {
                    return Err(ErrorCode::InvalidArgument);
                }
                if d.data.len() > MAX_DATAGRAM {
                    return Err(ErrorCode::DatagramTooLarge);
                }
                stream.net.send_udp(stream.port, d.data, to).map_err(|e: NetError| ErrorCode::from(e))
            })();
            match result {
                Ok(()) => sent += 1,
                // Once one datagram went out, the call reports the count.
                Err(_) if sent > 0 => break,
                Err(e) => return err(e),
            }
        }
        Ok(sent)
    }

    fn subscribe(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, own::<_, PodUdpOutgoing>(&this))
    }

    async fn drop(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<()> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::drop(&mut host, this).await;
        }
        self.table.delete(Resource::<PodUdpOutgoing>::new_own(this.rep()))?;
        Ok(())
    }
}
