//! `ValidateNetworkPolicy` (K:pkg/apis/networking/validation) for what is
//! enforced: selectors, peers, ports and ipBlocks, with the API server's
//! messages.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::format::{port_name, port_num};
use super::{Errors, FieldError, labels, object_meta};

const TYPES: [&str; 2] = ["Egress", "Ingress"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const OPERATORS: [&str; 4] = ["DoesNotExist", "Exists", "In", "NotIn"];

/// Validates a defaulted NetworkPolicy.
pub(crate) fn network_policy(np: &NetworkPolicy) -> Errors {
    let mut errs = Vec::new();
    object_meta(&np.metadata, &mut errs);
    let Some(spec) = &np.spec else { return errs };
    if let Some(sel) = &spec.pod_selector {
        selector(sel, "spec.podSelector", &mut errs);
    }
    for (i, r) in spec.ingress.iter().flatten().enumerate() {
        rule(&format!("spec.ingress[{i}]"), r.ports.as_deref(), "from", r.from.as_deref(), &mut errs);
    }
    for (i, r) in spec.egress.iter().flatten().enumerate() {
        rule(&format!("spec.egress[{i}]"), r.ports.as_deref(), "to", r.to.as_deref(), &mut errs);
    }
    for (i, t) in spec.policy_types.iter().flatten().enumerate() {
        if !TYPES.contains(&t.as_str()) {
            errs.push(FieldError::not_supported(format!("spec.policyTypes[{i}]"), t.as_str(), &TYPES));
        }
    }
    errs
}

/// One ingress or egress rule at `path`: its ports, and its peers under
/// `peers_field` (`from` or `to`).
fn rule(path: &str, ports: Option<&[NetworkPolicyPort]>, peers_field: &str, peers: Option<&[NetworkPolicyPeer]>, errs: &mut Errors) {
    for (j, p) in ports.unwrap_or_default().iter().enumerate() {
        port(p, &format!("{path}.ports[{j}]"), errs);
    }
    for (j, p) in peers.unwrap_or_default().iter().enumerate() {
        peer(p, &format!("{path}.{peers_field}[{j}]"), errs);
    }
}

fn selector(sel: &LabelSelector, path: &str, errs: &mut Errors) {
    labels(sel.match_labels.iter().flatten(), &format!("{path}.matchLabels"), errs);
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let epath = format!("{path}.matchExpressions[{i}]");
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                errs.push(FieldError::required(format!("{epath}.values"), "must be specified when `operator` is 'In' or 'NotIn'"))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errs.push(FieldError::forbidden(format!("{epath}.values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
            }
            op if !OPERATORS.contains(&op) => errs.push(FieldError::not_supported(format!("{epath}.operator"), op, &OPERATORS)),
            _ => {}
        }
    }
}

fn port(p: &NetworkPolicyPort, path: &str, errs: &mut Errors) {
    if let Some(proto) = p.protocol.as_deref()
        && !PROTOCOLS.contains(&proto)
    {
        errs.push(FieldError::not_supported(format!("{path}.protocol"), proto, &PROTOCOLS));
    }
    match &p.port {
        Some(IntOrString::Int(n)) => {
            for msg in port_num(i64::from(*n)) {
                errs.push(FieldError::invalid(format!("{path}.port"), *n, msg));
            }
            if let Some(end) = p.end_port
                && end < *n
            {
                errs.push(FieldError::invalid(format!("{path}.endPort"), end, "must be greater than or equal to `port`"));
            }
        }
        Some(IntOrString::String(name)) => {
            if p.end_port.is_some() {
                errs.push(FieldError::invalid(format!("{path}.endPort"), p.end_port.unwrap_or_default(), "may not be specified when `port` is non-numeric"));
            }
            for msg in port_name(name) {
                errs.push(FieldError::invalid(format!("{path}.port"), name, msg));
            }
        }
        None if p.end_port.is_some() => {
            errs.push(FieldError::invalid(format!("{path}.endPort"), p.end_port.unwrap_or_default(), "may not be specified when `port` is not specified"))
        }
        None => {}
    }
}

fn peer(peer: &NetworkPolicyPeer, path: &str, errs: &mut Errors) {
    let set = [peer.pod_selector.is_some(), peer.namespace_selector.is_some(), peer.ip_block.is_some()].iter().filter(|b| **b).count();
    if set == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    }
    if peer.ip_block.is_some() && set > 1 {
        errs.push(FieldError::forbidden(path, "may not specify both ipBlock and another peer"));
    }
    if let Some(sel) = &peer.pod_selector {
        selector(sel, &format!("{path}.podSelector"), errs);
    }
    if let Some(sel) = &peer.namespace_selector {
        selector(sel, &format!("{path}.namespaceSelector"), errs);
    }
    if let Some(block) = &peer.ip_block {
        let cidr_ok = |c: &str| {
            c.split_once('/').is_some_and(|(ip, bits)| match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
                (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
                (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
                _ => false,
            })
        };
        if block.cidr.is_empty() {
            errs.push(FieldError::required(format!("{path}.ipBlock.cidr"), ""));
        } else if !cidr_ok(&block.cidr) {
            errs.push(FieldError::invalid(
                format!("{path}.ipBlock.cidr"),
                block.cidr.as_str(),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
        for (i, e) in block.except.iter().flatten().enumerate() {
            if !cidr_ok(e) {
                errs.push(FieldError::invalid(
                    format!("{path}.ipBlock.except[{i}]"),
                    e.as_str(),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
}
