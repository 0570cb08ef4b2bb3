//! `wasi:sockets/tcp` over the pod network's [`TcpSocket`]: converts
//! handles, addresses and error codes; the socket's states and checks are
//! in `net/tcp.rs`. A `hostNetwork` container's calls go to wasmtime-wasi.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::bindings::sockets::tcp::{self, ShutdownType, TcpSocket as WasiTcpSocket};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, Pollable, SocketResult};

use super::streams::{SocketInput, SocketOutput};
use super::{PodSocketsView, err};
use crate::net::tcp::{Streams, TcpSocket, nonzero};

#[async_trait::async_trait]
impl Pollable for TcpSocket {
    async fn ready(&mut self) {
        TcpSocket::ready(self).await
    }
}

/// The pod socket behind a guest's handle.
fn sock(r: &Resource<WasiTcpSocket>) -> Resource<TcpSocket> {
    Resource::new_borrow(r.rep())
}

/// A connection as the guest gets it: a socket and its two streams.
type Accepted = (Resource<WasiTcpSocket>, Resource<DynInputStream>, Resource<DynOutputStream>);

impl PodSocketsView<'_> {
    fn socket(&mut self, r: &Resource<WasiTcpSocket>) -> SocketResult<&mut TcpSocket> {
        Ok(self.table.get_mut(&sock(r))?)
    }

    /// The streams of a connection, owned by its socket's handle.
    fn push_streams(&mut self, parent: &Resource<TcpSocket>, (reader, writer): Streams) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let input: DynInputStream = Box::new(SocketInput(reader));
        let output: DynOutputStream = Box::new(SocketOutput(writer));
        let input = self.table.push_child(input, parent)?;
        let output = self.table.push_child(output, parent)?;
        Ok((input, output))
    }

    /// accept on the pod network: the next queued connection, if any.
    fn accept_pod(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<Accepted> {
        let (accepted, streams) = self.socket(&this)?.accept().or_else(err)?;
        let accepted = self.table.push(accepted)?;
        let (input, output) = self.push_streams(&accepted, streams)?;
        Ok((Resource::new_own(accepted.rep()), input, output))
    }
}

impl tcp::Host for PodSocketsView<'_> {}

// Under `hostNetwork` every call goes to wasmtime-wasi's host sockets.
impl tcp::HostTcpSocket for PodSocketsView<'_> {
    async fn start_bind(&mut self, this: Resource<WasiTcpSocket>, network: Resource<Network>, local: IpSocketAddress) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::start_bind(&mut host, this, network, local).await;
        }
        self.table.get(&network)?;
        self.socket(&this)?.start_bind(local.into()).or_else(err)
    }

    fn finish_bind(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::finish_bind(&mut host, this);
        }
        self.socket(&this)?.finish_bind().or_else(err)
    }

    fn start_connect(&mut self, this: Resource<WasiTcpSocket>, network: Resource<Network>, remote: IpSocketAddress) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::start_connect(&mut host, this, network, remote);
        }
        self.table.get(&network)?;
        self.socket(&this)?.start_connect(remote.into()).or_else(err)
    }

    fn finish_connect(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::finish_connect(&mut host, this);
        }
        let streams = self.socket(&this)?.finish_connect().or_else(err)?;
        self.push_streams(&sock(&this), streams)
    }

    async fn start_listen(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::start_listen(&mut host, this).await;
        }
        self.socket(&this)?.start_listen().or_else(err)
    }

    fn finish_listen(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::finish_listen(&mut host, this);
        }
        self.socket(&this)?.finish_listen().or_else(err)
    }

    fn accept(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<Accepted> {
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

    fn local_address(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::local_address(&mut host, this);
        }
        self.socket(&this)?.local_address().map(Into::into).or_else(err)
    }

    fn remote_address(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<IpSocketAddress> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::remote_address(&mut host, this);
        }
        self.socket(&this)?.remote_address().map(Into::into).or_else(err)
    }

    fn is_listening(&mut self, this: Resource<WasiTcpSocket>) -> wasmtime::Result<bool> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::is_listening(&mut host, this);
        }
        Ok(self.table.get(&sock(&this))?.is_listening())
    }

    fn address_family(&mut self, this: Resource<WasiTcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::address_family(&mut host, this);
        }
        Ok(if self.table.get(&sock(&this))?.is_v6() { IpAddressFamily::Ipv6 } else { IpAddressFamily::Ipv4 })
    }

    fn set_listen_backlog_size(&mut self, this: Resource<WasiTcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_listen_backlog_size(&mut host, this, value);
        }
        self.socket(&this)?.set_listen_backlog_size(value).or_else(err)
    }

    fn keep_alive_enabled(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<bool> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_enabled(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive)
    }

    fn set_keep_alive_enabled(&mut self, this: Resource<WasiTcpSocket>, value: bool) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_enabled(&mut host, this, value);
        }
        self.socket(&this)?.options.keep_alive = value;
        Ok(())
    }

    fn keep_alive_idle_time(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_idle_time(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive_idle)
    }

    fn set_keep_alive_idle_time(&mut self, this: Resource<WasiTcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_idle_time(&mut host, this, value);
        }
        self.socket(&this)?.options.keep_alive_idle = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn keep_alive_interval(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_interval(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive_interval)
    }

    fn set_keep_alive_interval(&mut self, this: Resource<WasiTcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_interval(&mut host, this, value);
        }
        self.socket(&this)?.options.keep_alive_interval = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn keep_alive_count(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<u32> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::keep_alive_count(&mut host, this);
        }
        Ok(self.socket(&this)?.options.keep_alive_count)
    }

    fn set_keep_alive_count(&mut self, this: Resource<WasiTcpSocket>, value: u32) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_keep_alive_count(&mut host, this, value);
        }
        self.socket(&this)?.options.keep_alive_count = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn hop_limit(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<u8> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::hop_limit(&mut host, this);
        }
        Ok(self.socket(&this)?.options.hop_limit)
    }

    fn set_hop_limit(&mut self, this: Resource<WasiTcpSocket>, value: u8) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_hop_limit(&mut host, this, value);
        }
        self.socket(&this)?.options.hop_limit = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::receive_buffer_size(&mut host, this);
        }
        Ok(self.socket(&this)?.options.receive_buffer)
    }

    fn set_receive_buffer_size(&mut self, this: Resource<WasiTcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_receive_buffer_size(&mut host, this, value);
        }
        self.socket(&this)?.options.receive_buffer = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<WasiTcpSocket>) -> SocketResult<u64> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::send_buffer_size(&mut host, this);
        }
        Ok(self.socket(&this)?.options.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<WasiTcpSocket>, value: u64) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::set_send_buffer_size(&mut host, this, value);
        }
        self.socket(&this)?.options.send_buffer = nonzero(value).or_else(err)?;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<WasiTcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, sock(&this))
    }

    fn shutdown(&mut self, this: Resource<WasiTcpSocket>, how: ShutdownType) -> SocketResult<()> {
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::shutdown(&mut host, this, how);
        }
        let send = matches!(how, ShutdownType::Send | ShutdownType::Both);
        let receive = matches!(how, ShutdownType::Receive | ShutdownType::Both);
        self.socket(&this)?.shutdown(send, receive).or_else(err)
    }

    fn drop(&mut self, this: Resource<WasiTcpSocket>) -> wasmtime::Result<()> {
        self.handles.release(this.rep());
        if let Some(mut host) = self.host() {
            return tcp::HostTcpSocket::drop(&mut host, this);
        }
        // Dropping the socket drops its connection or listener, which frees
        // the port and, once the streams are gone too, ends the connection.
        self.table.delete(Resource::<TcpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}
