//! The doors from the host into a pod: `port-forward` and `hostPort`. Both
//! accept on a host loopback listener and splice each connection into the
//! pod network, where the pod sees it arrive from its own loopback.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::{Connection, NetError, PodNetwork};

/// What happened to one forwarded connection, for the caller to report.
#[derive(Debug)]
pub enum ForwardEvent {
    /// A host connection arrived and was connected into the pod.
    Connected {
        /// The host port it arrived on.
        local_port: u16,
    },
    /// A host connection arrived but the pod refused it.
    Failed {
        /// The host port.
        local_port: u16,
        /// Why, in kubectl's words.
        message: String,
    },
}

/// Connects into `pod` at `port` on its loopback, IPv4 first, then IPv6.
pub(crate) fn connect_loopback(pod: &Arc<PodNetwork>, port: u16) -> Result<Connection, NetError> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    pod.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .or_else(|_| pod.connect(SocketAddr::from((Ipv6Addr::LOCALHOST, port))))
        .map(|(conn, binding)| conn.holding(binding))
}

/// Accepts on `listener` until it fails or the returned future is dropped;
/// each connection is spliced to `port` in the pod. `report` hears of
/// every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    pod: Arc<PodNetwork>,
    pod_name: String,
    port: u16,
    report: Arc<dyn Fn(ForwardEvent) + Send + Sync>,
) -> std::io::Result<()> {
    let local_port = listener.local_addr()?.port();
    loop {
        let (mut host, _) = listener.accept().await?;
        match connect_loopback(&pod, port) {
            Ok(mut conn) => {
                report(ForwardEvent::Connected { local_port });
                tokio::spawn(async move {
                    // Either side closing ends the splice; errors are the
                    // peer going away, which needs no report.
                    let _ = tokio::io::copy_bidirectional(&mut host, &mut conn).await;
                });
            }
            Err(e) => {
                let message = format!("error forwarding port {port} to pod {pod_name}: failed to connect to localhost:{port} inside the pod's network: {e}");
                report(ForwardEvent::Failed { local_port, message });
            }
        }
    }
}
