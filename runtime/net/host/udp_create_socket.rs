//! `wasi:sockets/udp-create-socket`: a pod-network UDP socket (or a host
//! one under `hostNetwork`), each taking a slot of the pod's open-file cap.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::SocketResult;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::udp::UdpSocket;
use wasmtime_wasi::p2::bindings::sockets::udp_create_socket;

use super::{PodSocketsView, err};
use crate::net::udp::UdpSocket as PodUdpSocket;

impl udp_create_socket::Host for PodSocketsView<'_> {
    async fn create_udp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        let Some(slot) = self.handles.reserve() else {
            return err(ErrorCode::NewSocketLimit);
        };
        let socket = match self.host() {
            Some(mut host) => udp_create_socket::Host::create_udp_socket(&mut host, family).await?,
            None => {
                let net = self.net()?;
                Resource::new_own(self.table.push(PodUdpSocket::new(net, matches!(family, IpAddressFamily::Ipv6)))?.rep())
            }
        };
        self.handles.hold(socket.rep(), slot);
        Ok(socket)
    }
}
