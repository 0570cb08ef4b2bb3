//! Byte relays for `socat` and `nc`: two endpoints, bytes copied both
//! ways, end of stream on one side turned into a half-close on the other.
//!
//! WASI gives the toolbox neither `fork` nor threads, so everything runs in
//! one event loop over non-blocking sockets and [`poll`](crate::http::poll),
//! the same approach as the HTTP server. Start with [`session`]: a
//! [`Session`](session::Session) is one relay between two [`Side`]s and
//! knows which descriptors it waits on, how to make progress without
//! blocking, and when it is over. [`session::run`] drives one session to
//! its end (`socat` without `fork`, `nc`); [`proxy`] is the `fork` server:
//! a listener plus any number of sessions in the same loop.
//!
//! One endpoint cannot be polled: stdin. wasi-libc's `poll` refuses to mix
//! sockets with other descriptors, and the command's stdin may be a shell
//! pipeline's buffer rather than a descriptor at all. So stdin is read only
//! after the sockets have been served, one chunk per turn; a buffered stdin
//! never blocks, while a read from a live terminal does hold the loop until
//! a line arrives.

pub mod proxy;
pub mod session;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;

pub use session::Side;

/// strerror-like text for socket errors, fixed for the usual cases so that
/// messages read the same natively and on WASI (whose libc words some of
/// them differently) and never carry Rust's lowercase `connection timed
/// out` from `connect_timeout`.
pub fn strerror(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "Connection refused".into(),
        K::ConnectionReset => "Connection reset by peer".into(),
        K::ConnectionAborted => "Software caused connection abort".into(),
        K::TimedOut | K::WouldBlock => "Connection timed out".into(),
        K::HostUnreachable => "No route to host".into(),
        K::NetworkUnreachable => "Network is unreachable".into(),
        K::AddrInUse => "Address already in use".into(),
        K::AddrNotAvailable => "Cannot assign requested address".into(),
        K::BrokenPipe => "Broken pipe".into(),
        _ => crate::io::errmsg(e),
    }
}

/// socat's way of naming a socket address: the Linux address family
/// number, then the address (`AF=2 127.0.0.1:80`, `AF=10 [::1]:80`).
pub fn af_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(_) => format!("AF=2 {a}"),
        SocketAddr::V6(v6) => format!("AF=10 [{}]:{}", v6.ip(), v6.port()),
    }
}
