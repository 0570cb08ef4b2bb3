//! `tcpSocket` probes: success when a connection opens. Also the
//! connection step of `httpGet` and `grpc` probes. Through the pod
//! network (a host socket only for `hostNetwork` pods), with the kubelet's
//! (Go's) messages.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Outcome, ProbeContext};
use crate::net::{NetError, SocketPolicy};

/// A connection a probe speaks over.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub(super) async fn check(ctx: &ProbeContext, host: Option<&str>, port: u16, timeout: Duration) -> Outcome {
    // The connection is closed at once: opening it is the whole check.
    match connect(ctx, host, port, timeout).await {
        Ok(_) => Outcome::Success,
        Err(message) => Outcome::Failure(message),
    }
}

/// The address a probe targets: `host` resolved by the pod's resolver, or
/// the pod's IP.
pub(super) fn target(ctx: &ProbeContext, host: Option<&str>, port: u16) -> Result<SocketAddr, String> {
    let Some(host) = host else { return Ok(SocketAddr::new(ctx.pod_ip(), port)) };
    let ip = match &ctx.spec.network {
        SocketPolicy::Pod(net) => crate::net::resolve(net, host).ok().and_then(|ips| ips.into_iter().next()),
        _ => host.parse::<IpAddr>().ok().or_else(|| host.eq_ignore_ascii_case("localhost").then_some(std::net::Ipv4Addr::LOCALHOST.into())),
    };
    ip.map(|ip| SocketAddr::new(ip, port)).ok_or_else(|| format!("dial tcp: lookup {host}: no such host"))
}

/// Opens a connection to `host:port` as the container would.
pub(super) async fn connect(ctx: &ProbeContext, host: Option<&str>, port: u16, timeout: Duration) -> Result<Box<dyn Io>, String> {
    let addr = target(ctx, host, port)?;
    match &ctx.spec.network {
        SocketPolicy::Pod(net) => match net.connect_any(addr).await {
            Ok((conn, binding)) => Ok(Box::new(conn.holding(binding))),
            Err(NetError::ConnectionRefused) => Err(format!("dial tcp {addr}: connect: connection refused")),
            Err(NetError::Unreachable) => Err(format!("dial tcp {addr}: connect: no route to host")),
            Err(e) => Err(format!("dial tcp {addr}: connect: {e}")),
        },
        SocketPolicy::Host => match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => Ok(Box::new(s)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(format!("dial tcp {addr}: connect: connection refused")),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        },
        SocketPolicy::None => Err(format!("dial tcp {addr}: connect: network is unreachable")),
    }
}
