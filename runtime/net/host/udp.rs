//! `wasi:sockets/udp` over the pod network's [`UdpSocket`] (`net/udp.rs`):
//! converts handles, addresses and error codes. A `hostNetwork`
//! container's calls go to wasmtime-wasi.

use std::net::SocketAddr;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::bindings::sockets::udp::{
    self, IncomingDatagram, IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket as WasiUdpSocket,
};
use wasmtime_wasi::p2::{DynPollable, Pollable, SocketError, SocketResult};

use super::{PodSocketsView, err};
use crate::net::tcp::nonzero;
use crate::net::udp::{SendError, UdpIncoming, UdpOutgoing, UdpSocket};

#[async_trait::async_trait]
impl Pollable for UdpSocket {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl Pollable for UdpIncoming {
    async fn ready(&mut self) {
        UdpIncoming::ready(self).await
    }
}

#[async_trait::async_trait]
impl Pollable for UdpOutgoing {
    // Sending never waits: a full receiver drops, as UDP does.
    async fn ready(&mut self) {}
}

/// The pod-network object behind a guest's handle.
fn own<T: 'static, U: 'static>(r: &Resource<T>) -> Resource<U> {
    Resource::new_borrow(r.rep())
}

impl PodSocketsView<'_> {
    fn udp_socket(&mut self, r: &Resource<WasiUdpSocket>) -> SocketResult<&mut UdpSocket> {
        Ok(self.table.get_mut(&own::<_, UdpSocket>(r))?)
    }
}

impl udp::Host for PodSocketsView<'_> {}

impl udp::HostUdpSocket for PodSocketsView<'_> {
    async fn start_bind(&mut self, this: Resource<WasiUdpSocket>, network: Resource<Network>, local: IpSocketAddress) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::start_bind(&mut host, this, network, local).await;
        }
        self.table.get(&network)?;
        self.udp_socket(&this)?.start_bind(local.into()).or_else(err)
    }

    fn finish_bind(&mut self, this: Resource<WasiUdpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::finish_bind(&mut host, this);
        }
        self.udp_socket(&this)?.finish_bind().or_else(err)
    }

    async fn stream(
        &mut self,
        this: Resource<WasiUdpSocket>,
        remote: Option<IpSocketAddress>,
    ) -> SocketResult<(Resource<IncomingDatagramStream>, Resource<OutgoingDatagramStream>)> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::stream(&mut host, this, remote).await;
        }
        let parent = own::<_, UdpSocket>(&this);
        let active = self.table.iter_children(&parent)?.any(|c| c.is::<UdpIncoming>() || c.is::<UdpOutgoing>());
        if active {
            return Err(SocketError::trap(wasmtime::format_err!("UDP streams not dropped yet")));
        }
        let (incoming, outgoing) = self.udp_socket(&this)?.stream(remote.map(SocketAddr::from)).or_else(err)?;
        let incoming = self.table.push_child(incoming, &parent)?;
        let outgoing = self.table.push_child(outgoing, &parent)?;
        Ok((Resource::new_own(incoming.rep()), Resource::new_own(outgoing.rep())))
    }

    fn local_address(&mut self, this: Resource<WasiUdpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::local_address(&mut host, this);
        }
        self.udp_socket(&this)?.local_address().map(Into::into).or_else(err)
    }

    fn remote_address(&mut self, this: Resource<WasiUdpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::remote_address(&mut host, this);
        }
        self.udp_socket(&this)?.remote_address().map(Into::into).or_else(err)
    }

    fn address_family(&mut self, this: Resource<WasiUdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::address_family(&mut host, this);
        }
        Ok(if self.table.get(&own::<_, UdpSocket>(&this))?.is_v6() { IpAddressFamily::Ipv6 } else { IpAddressFamily::Ipv4 })
    }

    fn unicast_hop_limit(&mut self, this: Resource<WasiUdpSocket>) -> SocketResult<u8> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::unicast_hop_limit(&mut host, this);
        }
        Ok(self.udp_socket(&this)?.options.hop_limit)
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<WasiUdpSocket>, value: u8) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::set_unicast_hop_limit(&mut host, this, value);
        }
        self.udp_socket(&this)?.options.hop_limit = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<WasiUdpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::receive_buffer_size(&mut host, this);
        }
        Ok(self.udp_socket(&this)?.options.receive_buffer)
    }

    fn set_receive_buffer_size(&mut self, this: Resource<WasiUdpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::set_receive_buffer_size(&mut host, this, value);
        }
        self.udp_socket(&this)?.options.receive_buffer = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<WasiUdpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::send_buffer_size(&mut host, this);
        }
        Ok(self.udp_socket(&this)?.options.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<WasiUdpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::set_send_buffer_size(&mut host, this, value);
        }
        self.udp_socket(&this)?.options.send_buffer = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<WasiUdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, own::<_, UdpSocket>(&this))
    }

    fn drop(&mut self, this: Resource<WasiUdpSocket>) -> wasmtime::Result<()> {
        self.handles.release(this.rep());
        if let Some(mut host) = self.host() {
            return udp::HostUdpSocket::drop(&mut host, this);
        }
        self.table.delete(Resource::<UdpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}

impl udp::HostIncomingDatagramStream for PodSocketsView<'_> {
    fn receive(&mut self, this: Resource<IncomingDatagramStream>, max_results: u64) -> SocketResult<Vec<IncomingDatagram>> {
        if let Some(mut host) = self.host() {
            return udp::HostIncomingDatagramStream::receive(&mut host, this, max_results);
        }
        let stream = self.table.get_mut(&own::<_, UdpIncoming>(&this))?;
        Ok(stream.receive(max_results).into_iter().map(|d| IncomingDatagram { data: d.data, remote_address: d.from.into() }).collect())
    }

    fn subscribe(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return udp::HostIncomingDatagramStream::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, own::<_, UdpIncoming>(&this))
    }

    fn drop(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<()> {
        if let Some(mut host) = self.host() {
            return udp::HostIncomingDatagramStream::drop(&mut host, this);
        }
        self.table.delete(Resource::<UdpIncoming>::new_own(this.rep()))?;
        Ok(())
    }
}

impl udp::HostOutgoingDatagramStream for PodSocketsView<'_> {
    fn check_send(&mut self, this: Resource<OutgoingDatagramStream>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::check_send(&mut host, this);
        }
        Ok(self.table.get_mut(&own::<_, UdpOutgoing>(&this))?.check_send())
    }

    fn send(&mut self, this: Resource<OutgoingDatagramStream>, datagrams: Vec<OutgoingDatagram>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::send(&mut host, this, datagrams);
        }
        let stream = self.table.get_mut(&own::<_, UdpOutgoing>(&this))?;
        match stream.send(datagrams.into_iter().map(|d| (d.data, d.remote_address.map(SocketAddr::from))).collect()) {
            Ok(sent) => Ok(sent),
            Err(SendError::Unpermitted) => Err(SocketError::trap(wasmtime::format_err!("unpermitted: argument exceeds permitted size"))),
            Err(SendError::Socket(e)) => err(e),
        }
    }

    fn subscribe(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, own::<_, UdpOutgoing>(&this))
    }

    async fn drop(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<()> {
        if let Some(mut host) = self.host() {
            return udp::HostOutgoingDatagramStream::drop(&mut host, this).await;
        }
        self.table.delete(Resource::<UdpOutgoing>::new_own(this.rep()))?;
        Ok(())
    }
}
