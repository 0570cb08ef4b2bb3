//! The variables the kubelet gives containers for the Services of their
//! namespace (`pkg/kubelet/envvars`), when `enableServiceLinks` is on.

use std::net::Ipv4Addr;

use crate::net::{ServicePort, ServiceSpec};

/// The variables the kubelet gives a container for `services`, those of
/// its namespace (`envvars.FromServices`): for each with a ClusterIP,
/// `{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT` (the first port),
/// `{SVC}_SERVICE_PORT_{NAME}` per named port, and the docker-link
/// variables `{SVC}_PORT` and `{SVC}_PORT_{port}_{PROTO}[_PROTO|_PORT|_ADDR]`.
pub(crate) fn service_env(services: &[(ServiceSpec, Option<Ipv4Addr>)]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let upper = |s: &str| s.to_ascii_uppercase().replace('-', "_");
    for (spec, ip) in services {
        let Some(ip) = ip else { continue };
        let Some(first) = spec.ports.first() else { continue };
        let svc = upper(&spec.name);
        env.push((format!("{svc}_SERVICE_HOST"), ip.to_string()));
        env.push((format!("{svc}_SERVICE_PORT"), first.port.to_string()));
        for p in spec.ports.iter().filter(|p| !p.name.is_empty()) {
            env.push((format!("{svc}_SERVICE_PORT_{}", upper(&p.name)), p.port.to_string()));
        }
        let proto = |p: &ServicePort| p.protocol.as_str().to_ascii_lowercase();
        env.push((format!("{svc}_PORT"), format!("{}://{ip}:{}", proto(first), first.port)));
        for p in &spec.ports {
            let prefix = format!("{svc}_PORT_{}_{}", p.port, p.protocol.as_str());
            env.push((prefix.clone(), format!("{}://{ip}:{}", proto(p), p.port)));
            env.push((format!("{prefix}_PROTO"), proto(p)));
            env.push((format!("{prefix}_PORT"), p.port.to_string()));
            env.push((format!("{prefix}_ADDR"), ip.to_string()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::net::{Protocol, TargetPort};

    fn spec(name: &str, ports: &[(&str, u16, Protocol)]) -> ServiceSpec {
        ServiceSpec {
            namespace: "default".into(),
            name: name.into(),
            cluster_ip: None,
            headless: false,
            ports: ports.iter().map(|(n, p, proto)| ServicePort { name: (*n).into(), port: *p, protocol: *proto, target: TargetPort::Number(*p) }).collect(),
            selector: BTreeMap::new(),
            affinity: None,
            publish_not_ready: false,
            external_name: None,
        }
    }

    #[test]
    fn service_variables_are_the_kubelets() {
        let ip = Some(Ipv4Addr::new(10, 96, 0, 20));
        let env =
            service_env(&[(spec("my-db", &[("sql", 5432, Protocol::Tcp), ("", 53, Protocol::Udp)]), ip), (spec("headless", &[("", 80, Protocol::Tcp)]), None)]);
        let want = [
            ("MY_DB_SERVICE_HOST", "10.96.0.20"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_SQL", "5432"),
            ("MY_DB_PORT", "tcp://10.96.0.20:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.96.0.20:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.96.0.20"),
            ("MY_DB_PORT_53_UDP", "udp://10.96.0.20:53"),
            ("MY_DB_PORT_53_UDP_PROTO", "udp"),
            ("MY_DB_PORT_53_UDP_PORT", "53"),
            ("MY_DB_PORT_53_UDP_ADDR", "10.96.0.20"),
        ];
        assert_eq!(env, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
}
