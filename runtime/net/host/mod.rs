//! The wasi:sockets interfaces a component sees, implemented over the pod
//! network instead of host sockets: thin adapters, one file per WIT
//! interface (`tcp.rs`, `tcp_create_socket.rs`, `udp.rs`,
//! `udp_create_socket.rs`, `ip_name_lookup.rs`, `network.rs`), over the
//! plain-Rust sockets and resolver of `net/` (`tcp.rs`, `udp.rs`,
//! `names.rs`); `streams.rs` gives a connection's pipes as wasi:io
//! streams.
//!
//! wasmtime-wasi has no pluggable socket backend, so the sandbox's linker
//! shadows its `wasi:sockets/tcp`, `tcp-create-socket`, `udp`,
//! `udp-create-socket` and `ip-name-lookup` with these (see
//! `sandbox/program.rs`). The generated bindings name wasmtime's own
//! resource types; the adapters store this crate's types in the store's
//! resource table and convert handles by their table index (`rep`), which
//! is the only thing a handle carries. A `hostNetwork` container's calls go
//! to wasmtime-wasi's own implementation unchanged.

mod ip_name_lookup;
mod network;
mod streams;
mod tcp;
mod tcp_create_socket;
mod udp;
mod udp_create_socket;

use std::sync::Arc;

use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::p2::SocketResult;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;
use wasmtime_wasi::sockets::{WasiSocketsCtx, WasiSocketsCtxView};

use super::names::LookupError;
use super::socket::SocketError;
use super::{NetError, PodNetwork};

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
            NetError::TimedOut => ErrorCode::Timeout,
        }
    }
}

impl From<SocketError> for ErrorCode {
    fn from(e: SocketError) -> Self {
        match e {
            SocketError::InvalidArgument => ErrorCode::InvalidArgument,
            SocketError::InvalidState => ErrorCode::InvalidState,
            SocketError::ConcurrencyConflict => ErrorCode::ConcurrencyConflict,
            SocketError::NotInProgress => ErrorCode::NotInProgress,
            SocketError::WouldBlock => ErrorCode::WouldBlock,
            SocketError::AddressNotBindable => ErrorCode::AddressNotBindable,
            SocketError::DatagramTooLarge => ErrorCode::DatagramTooLarge,
            SocketError::Net(e) => e.into(),
        }
    }
}

impl From<LookupError> for ErrorCode {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::InvalidName => ErrorCode::InvalidArgument,
            LookupError::Unresolvable | LookupError::Outside(_) => ErrorCode::NameUnresolvable,
        }
    }
}

/// A failed socket call with `code`.
fn err<T>(code: impl Into<ErrorCode>) -> SocketResult<T> {
    Err(code.into().into())
}

impl PodSocketsView<'_> {
    /// The pod network; access-denied without one.
    fn net(&self) -> SocketResult<Arc<PodNetwork>> {
        match self.policy {
            SocketPolicy::Pod(n) => Ok(n.clone()),
            SocketPolicy::Host | SocketPolicy::None => err(ErrorCode::AccessDenied),
        }
    }

    /// wasmtime-wasi's own implementation, for a host-network container:
    /// every call is handed to it unchanged, and the table then holds
    /// wasmtime's resource types, never this module's.
    fn host(&mut self) -> Option<WasiSocketsCtxView<'_>> {
        matches!(self.policy, SocketPolicy::Host).then(|| WasiSocketsCtxView { ctx: &mut *self.host, table: &mut *self.table })
    }
}
