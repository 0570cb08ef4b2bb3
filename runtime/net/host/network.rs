//! `wasi:sockets/network`: required by the generated socket traits; the
//! guest-visible interface itself stays wasmtime's (it only hands out the
//! capability and converts errors).

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, Network};

use super::PodSocketsView;

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
