//! Egress: TCP connections from pods to addresses outside the runtime go
//! through the host's sockets, as a Kubernetes pod's go out through NAT,
//! and names the cluster does not know resolve through the host's
//! resolver. Never to the host's loopback or link-local addresses (the
//! cloud metadata service, 169.254.169.254, among them), multicast or
//! broadcast, nor into the pod or service ranges (those are the cluster
//! network's). [`Egress::Deny`] keeps pods inside the runtime.
//!
//! The guest sees an ordinary connection from its pod address; bytes are
//! copied between its in-memory end and the host socket by a task.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::{Binding, CONNECTION_BUFFER, Connection, NetError, POD_SUBNET, PodNetwork, connection_pair};

/// How long a connection out may take to open (Linux gives up after about
/// two minutes of SYN retries; a pod waiting that long helps nobody).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether pods reach addresses outside the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Egress {
    /// Through the host's sockets (the default, as Kubernetes pods have it).
    #[default]
    Allow,
    /// Nothing outside the runtime is reachable (`--egress=deny`).
    Deny,
}

impl std::str::FromStr for Egress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Egress::Allow),
            "deny" => Ok(Egress::Deny),
            other => Err(format!("invalid egress {other:?}: expected allow or deny")),
        }
    }
}

/// Whether `ip` is one pods may never reach out to: the host's own
/// loopback, link-local addresses (cloud metadata), multicast, broadcast,
/// unspecified, or the cluster network's ranges.
pub(crate) fn forbidden(ip: IpAddr, service_range: (Ipv4Addr, u8)) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            // Cloud metadata and host-agent services outside link-local:
            // Alibaba's, and Azure's WireServer.
            const METADATA: [Ipv4Addr; 2] = [Ipv4Addr::new(100, 100, 100, 200), Ipv4Addr::new(168, 63, 129, 16)];
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.octets()[0] == 0
                || METADATA.contains(&v4)
                || super::in_subnet(v4, (Ipv4Addr::from(POD_SUBNET), 16))
                || super::in_subnet(v4, service_range)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            // IPv4 embedded by NAT64 (64:ff9b::/96) or the old compatible
            // form (::/96): judged as that IPv4 address.
            let embedded = |v6: Ipv6Addr| {
                let o = v6.octets();
                Ipv4Addr::new(o[12], o[13], o[14], o[15])
            };
            if (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0])
                || (seg[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified())
            {
                return forbidden(IpAddr::V4(embedded(v6)), service_range);
            }
            // AWS's and GCP's IPv6 metadata services.
            const METADATA: [Ipv6Addr; 2] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254)];
            v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (seg[0] & 0xffc0) == 0xfe80 || METADATA.contains(&v6)
        }
    }
}

/// Whether `name` is a cluster name (`*.cluster.local`): never asked of
/// the host's resolver, which could answer for another cluster.
pub(crate) fn is_cluster_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "cluster.local" || name.ends_with(".cluster.local")
}

impl PodNetwork {
    /// For a lookup of `name` the cluster could not answer (`error`): the
    /// name to ask the host's resolver (`name` itself, or an ExternalName's
    /// target), and the service range its answers must stay out of; none
    /// when egress is denied, the name is a cluster name, or the error is
    /// not one the outside can answer.
    pub(crate) fn outside_lookup(&self, name: &str, error: &super::names::LookupError) -> Option<(String, (Ipv4Addr, u8))> {
        let (egress, range) = self.cluster.upgrade()?.egress();
        let name = match error {
            super::names::LookupError::Unresolvable => name.to_owned(),
            super::names::LookupError::Outside(target) => target.clone(),
            super::names::LookupError::InvalidName => return None,
        };
        (egress == Egress::Allow && !is_cluster_name(&name)).then_some((name, range))
    }

    /// Whether a connection to `to` leaves the runtime: egress is allowed,
    /// and `to` is no forbidden address (pods, Services and this pod's own
    /// addresses are in forbidden ranges, so never egress).
    pub(crate) fn is_egress(&self, to: SocketAddr) -> bool {
        let Some(cluster) = self.cluster.upgrade() else { return false };
        let (egress, range) = cluster.egress();
        egress == Egress::Allow
            && !self.is_self(to.ip())
            && !forbidden(to.ip(), range)
            && !forbidden(to.ip(), cluster.pod_subnet())
            && !super::ip_v4(to.ip()).is_some_and(|ip| self.is_remote_pod(ip) || cluster.service_at(ip).is_some())
    }

    /// Connects to `to` as the pod would: in the runtime at once, out
    /// through the host when `to` is outside (for the runtime's own
    /// clients: probes, hooks, outgoing wasi:http).
    pub(crate) async fn connect_any(self: &Arc<Self>, to: SocketAddr) -> Result<(Connection, Binding), NetError> {
        if self.is_egress(to) {
            return self.clone().connect_out(None, to).await.map(|(conn, binding, _)| (conn, binding));
        }
        match self.destination(to, super::Protocol::Tcp)? {
            super::Endpoint::Pod(target, port) => self.connect_pod(None, to, target, port).map(|(conn, binding, _)| (conn, binding)),
            super::Endpoint::Remote(addr) => self.clone().connect_out(None, addr).await.map(|(conn, binding, _)| (conn, binding)),
        }
    }

    /// Connects out to `to` through a host socket (see [`Self::is_egress`];
    /// also a pod of another node, or a Service endpoint that is no pod
    /// here),
    /// from `local` (an ephemeral port of the pod when none): the guest's
    /// end of the connection, the port it holds, and its local address.
    pub(crate) async fn connect_out(self: Arc<Self>, local: Option<Binding>, to: SocketAddr) -> Result<(Connection, Binding, SocketAddr), NetError> {
        // NetworkPolicy egress rules (ipBlock) apply to the outside too.
        if let Some(cluster) = self.cluster.upgrade()
            && !cluster.policy_allows(&super::policy::Peer::Pod(&self), &super::policy::Peer::Outside(to.ip().to_canonical()), to.port(), super::Protocol::Tcp)
        {
            return Err(NetError::Unreachable);
        }
        // A pod of another node sees this pod's own address (routed mode).
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, super::routed::connect_host(to, self.routed_source(to))).await {
            Err(_) => return Err(NetError::TimedOut),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(NetError::ConnectionRefused),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => return Err(NetError::TimedOut),
            Ok(Err(_)) => return Err(NetError::Unreachable),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let local = match local {
            Some(b) => b,
            None => self.bind(0)?,
        };
        let from = SocketAddr::new(self.source_ip(to), local.port());
        let (guest, mut host_end) = connection_pair(CONNECTION_BUFFER);
        tokio::spawn(async move {
            let mut stream = stream;
            let _ = tokio::io::copy_bidirectional(&mut host_end, &mut stream).await;
        });
        Ok((guest, local, from))
    }
}

/// A name the cluster does not know, through the host's resolver (off the
/// async threads); addresses pods may not reach are left out.
pub(crate) async fn resolve_outside(name: String, service_range: (Ipv4Addr, u8)) -> Vec<IpAddr> {
    let found = tokio::net::lookup_host((name.as_str(), 0)).await;
    let mut out: Vec<IpAddr> = Vec::new();
    for addr in found.into_iter().flatten() {
        let ip = addr.ip();
        if !forbidden(ip, service_range) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_own_and_the_clusters_addresses_are_never_egress() {
        let range = super::super::DEFAULT_SERVICE_RANGE;
        for ip in [
            "127.0.0.1",
            "127.0.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "10.88.3.4",
            "10.96.0.10",
            "10.111.255.1",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(ip.parse().unwrap(), range), "{ip}");
        }
        for ip in ["93.184.216.34", "192.0.2.2", "10.1.2.3", "172.16.0.1", "2001:db8::1"] {
            assert!(!forbidden(ip.parse().unwrap(), range), "{ip}");
        }
        assert!(is_cluster_name("web.default.svc.cluster.local.") && !is_cluster_name("example.com"));
        assert_eq!("deny".parse::<Egress>(), Ok(Egress::Deny));
        assert!("open".parse::<Egress>().is_err());
    }
}
