//! A handler's port (probes' and lifecycle hooks' `httpGet.port`,
//! `tcpSocket.port`, `grpc` excepted): a number, or the name of one of the
//! container's `ports`. One resolver for probes and hooks, as the kubelet's
//! `probe.ResolveContainerPort`: a name is looked up first, then a number
//! written as a string is accepted, and the result must be 1..=65535.

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The port `port` names in `container`; the error is the message's tail.
pub(crate) fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            let named = container.ports.iter().flatten().find(|p| p.name.as_deref() == Some(name.as_str()));
            match (named, name.parse::<i64>()) {
                (Some(p), _) => i64::from(p.container_port),
                // The last resort, as the kubelet's: a number stored as a string.
                (None, Ok(n)) => n,
                (None, Err(_)) => return Err(format!("couldn't find port {name:?} in the container's ports")),
            }
        }
    };
    u16::try_from(number).ok().filter(|n| *n > 0).ok_or_else(|| format!("invalid port number: {number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_numbers_as_strings() {
        let c: Container =
            serde_json::from_value(serde_json::json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"name": "81", "containerPort": 9090}]}))
                .unwrap();
        let rows: &[(IntOrString, Result<u16, &str>)] = &[
            (IntOrString::Int(80), Ok(80)),
            (IntOrString::String("http".into()), Ok(8080)),
            (IntOrString::String("8081".into()), Ok(8081)),
            // A name wins over the number it spells.
            (IntOrString::String("81".into()), Ok(9090)),
            (IntOrString::String("metrics".into()), Err("couldn't find port \"metrics\" in the container's ports")),
            (IntOrString::Int(0), Err("invalid port number: 0")),
            (IntOrString::Int(70000), Err("invalid port number: 70000")),
            (IntOrString::String("-1".into()), Err("invalid port number: -1")),
        ];
        for (port, want) in rows {
            assert_eq!(resolve_port(port, &c), want.map_err(str::to_owned), "{port:?}");
        }
    }
}
