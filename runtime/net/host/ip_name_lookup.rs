//! `wasi:sockets/ip-name-lookup` over the pod's resolver (`names.rs`).

use std::net::IpAddr;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, Pollable, SocketResult};

use super::PodSocketsView;
use crate::net::names::resolve;

/// Addresses from a name lookup: the cluster's, known at once, or the
/// host resolver's for a name outside (egress), once it answers.
pub enum PodResolveStream {
    /// The addresses, in order.
    Known(std::vec::IntoIter<IpAddr>),
    /// The host resolver's answer, coming.
    Pending(tokio::task::JoinHandle<Vec<IpAddr>>),
    /// The host resolver knows no address pods may reach.
    Unresolvable,
}

#[async_trait::async_trait]
impl Pollable for PodResolveStream {
    async fn ready(&mut self) {
        if let PodResolveStream::Pending(task) = self {
            let found = task.await.unwrap_or_default();
            *self = if found.is_empty() { PodResolveStream::Unresolvable } else { PodResolveStream::Known(found.into_iter()) };
        }
    }
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
        let stream = match resolve(&net, &name) {
            Ok(addrs) => PodResolveStream::Known(addrs.into_iter()),
            // A name the cluster does not know: the host's resolver, when
            // pods reach outside.
            Err(e) => match net.outside_lookup(&name, &e) {
                Some((name, range)) => PodResolveStream::Pending(tokio::spawn(crate::net::egress::resolve_outside(name, range))),
                None => return super::err(e),
            },
        };
        let stream = self.table.push(stream)?;
        Ok(Resource::new_own(stream.rep()))
    }
}

impl ip_name_lookup::HostResolveAddressStream for PodSocketsView<'_> {
    fn resolve_next_address(&mut self, this: Resource<ResolveAddressStream>) -> SocketResult<Option<IpAddress>> {
        if let Some(mut host) = self.host() {
            return ip_name_lookup::HostResolveAddressStream::resolve_next_address(&mut host, this);
        }
        match self.table.get_mut(&stream(&this))? {
            PodResolveStream::Known(addrs) => Ok(addrs.next().map(IpAddress::from)),
            PodResolveStream::Unresolvable => super::err(wasmtime_wasi::p2::bindings::sockets::network::ErrorCode::NameUnresolvable),
            PodResolveStream::Pending(task) if !task.is_finished() => super::err(wasmtime_wasi::p2::bindings::sockets::network::ErrorCode::WouldBlock),
            PodResolveStream::Pending(task) => {
                let found = futures_util::FutureExt::now_or_never(task).and_then(Result::ok).unwrap_or_default();
                if found.is_empty() {
                    // The task is done: never polled again.
                    *self.table.get_mut(&stream(&this))? = PodResolveStream::Unresolvable;
                    return super::err(wasmtime_wasi::p2::bindings::sockets::network::ErrorCode::NameUnresolvable);
                }
                let mut addrs = found.into_iter();
                let first = addrs.next().map(IpAddress::from);
                *self.table.get_mut(&stream(&this))? = PodResolveStream::Known(addrs);
                Ok(first)
            }
        }
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
