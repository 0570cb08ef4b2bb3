//! `wasi:sockets/ip-name-lookup` over the pod's resolver (`names.rs`).

use std::net::IpAddr;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, Pollable, SocketResult};

use super::PodSocketsView;
use crate::net::names::resolve;

/// Addresses from a name lookup, all known at once.
pub struct PodResolveStream(std::vec::IntoIter<IpAddr>);

#[async_trait::async_trait]
impl Pollable for PodResolveStream {
    async fn ready(&mut self) {}
}

fn stream(r: &Resource<ResolveAddressStream>) -> Resource<PodResolveStream> {
    Resource::new_borrow(r.rep())
}

impl ip_name_lookup::Host for PodSocketsView<'_> {
    fn resolve_addresses(&mut self, network: Resource<Network>, name: String) -> SocketResult<Resource<ResolveAddressStream>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::Host::resolve_addresses(&mut host, network, name);
        }
        self.table.get(&network)?;
        let net = self.net()?;
        let addrs = resolve(&net, &name).or_else(super::err)?;
        let stream = self.table.push(PodResolveStream(addrs.into_iter()))?;
        Ok(Resource::new_own(stream.rep()))
    }
}

impl ip_name_lookup::HostResolveAddressStream for PodSocketsView<'_> {
    fn resolve_next_address(&mut self, this: Resource<ResolveAddressStream>) -> SocketResult<Option<IpAddress>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::resolve_next_address(&mut host, this);
        }
        Ok(self.table.get_mut(&stream(&this))?.0.next().map(IpAddress::from))
    }

    fn subscribe(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<Resource<DynPollable>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::subscribe(&mut host, this);
        }
        wasmtime_wasi::p2::subscribe(self.table, stream(&this))
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::drop(&mut host, this);
        }
        self.table.delete(Resource::<PodResolveStream>::new_own(this.rep()))?;
        Ok(())
    }
}
