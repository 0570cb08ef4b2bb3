//! The pod's resolver, in plain Rust: what a pod's /etc/hosts and cluster
//! DNS answer (wasi:sockets `ip-name-lookup` is its adapter,
//! `host/ip_name_lookup.rs`; hooks and probes resolve through it too).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::PodNetwork;

/// Why a name has no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// Not a valid host name (empty, too long, bad characters).
    InvalidName,
    /// Nothing answers for it.
    Unresolvable,
    /// It is an alias (an ExternalName Service) of this name, which the
    /// cluster does not know: a name to look up outside.
    Outside(String),
}

/// The addresses of `name` in the cluster: IP literals, `localhost`, the
/// pod's own hostname, the pod's `hostAliases`, Kubernetes' pod A records
/// (`10-88-0-2.<ns>.pod[.cluster.local]`) for pods that exist, Services
/// (`svc[.ns[.svc[.cluster.local]]]`: the ClusterIP, a headless Service's
/// pods, an ExternalName's target), and the names of pods with `hostname`
/// and `subdomain` (`<hostname>.<subdomain>.<ns>.svc.cluster.local`, and
/// the shorter forms the search domains allow), which Kubernetes publishes
/// only with a headless Service named like the subdomain and wasmpod
/// publishes directly. Anything else is `Unresolvable` here; the callers
/// ask the host's resolver when egress is allowed (`egress.rs`).
pub(crate) fn resolve(net: &PodNetwork, name: &str) -> Result<Vec<IpAddr>, LookupError> {
    resolve_depth(net, name, 0)
}

fn resolve_depth(net: &PodNetwork, name: &str, depth: usize) -> Result<Vec<IpAddr>, LookupError> {
    if depth > 8 {
        return Err(LookupError::Unresolvable);
    }
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(LookupError::InvalidName);
    }
    if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lower = name.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
    if net.hostname().eq_ignore_ascii_case(&lower) {
        return Ok(vec![IpAddr::V4(net.ip())]);
    }
    // `hostAliases`, as /etc/hosts lists them: before any DNS.
    let aliased = net.host_aliases(&lower);
    if !aliased.is_empty() {
        return Ok(aliased);
    }
    let mut labels = lower.split('.');
    let first = labels.next().unwrap_or_default();
    let rest: Vec<&str> = labels.collect();
    let pod_record = matches!(rest.as_slice(), [_, "pod"] | [_, "pod", "cluster", "local"]);
    if pod_record
        && let Ok(ip) = first.replace('-', ".").parse::<Ipv4Addr>()
        && net.pod_exists(ip)
    {
        return Ok(vec![IpAddr::V4(ip)]);
    }
    if !lower.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(LookupError::InvalidName);
    }
    let found = net.lookup_name(&lower);
    if !found.is_empty() {
        return Ok(found.into_iter().map(IpAddr::V4).collect());
    }
    // An ExternalName Service: a CNAME to its target, in the cluster or
    // outside (a chain of them stops after a few, as resolvers do).
    if let Some(target) = net.external_name(&lower) {
        return match resolve_depth(net, &target, depth + 1) {
            Err(LookupError::Unresolvable) => Err(LookupError::Outside(target)),
            other => other,
        };
    }
    Err(LookupError::Unresolvable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_pod_resolves() {
        let cluster = crate::net::ClusterNetwork::new();
        let me = cluster.attach("web", "default");
        let other = cluster.attach("db", "default");
        me.set_host_aliases(vec![
            ("foo.local".into(), "1.2.3.4".parse().unwrap()),
            ("bar.local".into(), "1.2.3.4".parse().unwrap()),
            ("foo.local".into(), "fe80::1".parse().unwrap()),
        ]);
        let dashed = other.ip().to_string().replace('.', "-");
        let rows: Vec<(String, Result<Vec<IpAddr>, LookupError>)> = vec![
            ("10.1.2.3".into(), Ok(vec!["10.1.2.3".parse().unwrap()])),
            ("[::1]".into(), Ok(vec!["::1".parse().unwrap()])),
            ("LOCALHOST.".into(), Ok(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()])),
            ("web".into(), Ok(vec![IpAddr::V4(me.ip())])),
            (format!("{dashed}.default.pod.cluster.local"), Ok(vec![IpAddr::V4(other.ip())])),
            ("10-99-99-99.default.pod".into(), Err(LookupError::Unresolvable)),
            ("db".into(), Err(LookupError::Unresolvable)),
            ("Foo.Local".into(), Ok(vec!["1.2.3.4".parse().unwrap(), "fe80::1".parse().unwrap()])),
            ("bar.local".into(), Ok(vec!["1.2.3.4".parse().unwrap()])),
            ("example.com".into(), Err(LookupError::Unresolvable)),
            ("".into(), Err(LookupError::InvalidName)),
            ("bad name".into(), Err(LookupError::InvalidName)),
        ];
        for (name, want) in rows {
            assert_eq!(resolve(&me, &name), want, "{name:?}");
        }
    }
}
