//! `wasi:sockets/tcp-create-socket`: a pod-network socket (or a host one
//! under `hostNetwork`), each taking a slot of the pod's open-file cap.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::SocketResult;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::tcp::TcpSocket as WasiTcpSocket;
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;

use super::{PodSocketsView, err};
use crate::net::tcp::TcpSocket;

impl tcp_create_socket::Host for PodSocketsView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<WasiTcpSocket>> {
        let Some(slot) = self.handles.reserve() else {
            return err(ErrorCode::NewSocketLimit);
        };
        let socket = match self.host() {
            Some(mut host) => tcp_create_socket::Host::create_tcp_socket(&mut host, family)?,
            None => {
                let net = self.net()?;
                Resource::new_own(self.table.push(TcpSocket::new(net, matches!(family, IpAddressFamily::Ipv6)))?.rep())
            }
        };
        self.handles.hold(socket.rep(), slot);
        Ok(socket)
    }
}
