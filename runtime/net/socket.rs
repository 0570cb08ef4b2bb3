//! What the pod network's sockets (`tcp.rs`, `udp.rs`) share: their
//! errors, in wasi:sockets' terms, and its rule for numeric options.

use super::NetError;

/// Why a socket operation failed, in wasi:sockets' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SocketError {
    /// An argument is out of range or of the wrong address family.
    InvalidArgument,
    /// The socket is not in a state that allows the operation.
    InvalidState,
    /// Another operation is in progress.
    ConcurrencyConflict,
    /// `finish-*` without its `start-*`.
    NotInProgress,
    /// Nothing to accept yet.
    WouldBlock,
    /// Only this pod's own addresses can be bound.
    AddressNotBindable,
    /// A datagram over the largest UDP payload.
    DatagramTooLarge,
    /// The pod network refused (port in use, refused, unreachable, ...).
    Net(NetError),
}

impl From<NetError> for SocketError {
    fn from(e: NetError) -> Self {
        Self::Net(e)
    }
}

/// A result of a socket operation.
pub(crate) type SocketResult<T> = Result<T, SocketError>;

/// `value`, unless it is zero (wasi:sockets refuses zero for every
/// numeric option).
pub(crate) fn nonzero<T: Default + PartialEq>(value: T) -> SocketResult<T> {
    if value == T::default() { Err(SocketError::InvalidArgument) } else { Ok(value) }
}
