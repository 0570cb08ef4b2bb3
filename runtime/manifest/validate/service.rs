//! `ValidateService` (K:pkg/apis/core/validation/validation.go) for the
//! fields a Service here uses: the name, type, ports, selector, clusterIP
//! and session affinity, with the API server's messages.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::format::{dns1035_label, dns1123_label, port_name, port_num};
use super::{Errors, FieldError, labels, object_meta_with};

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const AFFINITIES: [&str; 2] = ["ClientIP", "None"];

/// Validates a defaulted Service.
pub(crate) fn service(svc: &Service) -> Errors {
    let mut errs = Vec::new();
    object_meta_with(&svc.metadata, dns1035_label, &mut errs);
    let Some(spec) = &svc.spec else {
        errs.push(FieldError::required("spec", ""));
        return errs;
    };
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !TYPES.contains(&kind) {
        errs.push(FieldError::not_supported("spec.type", kind, &TYPES));
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !headless && kind != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match p.name.as_deref().unwrap_or_default() {
            "" if ports.len() > 1 => errs.push(FieldError::required(format!("{path}.name"), "")),
            "" => {}
            name => {
                for msg in dns1123_label(name) {
                    errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
                }
                if !names.insert(name.to_owned()) {
                    errs.push(FieldError::duplicate(format!("{path}.name"), name));
                }
            }
        }
        match p.protocol.as_deref() {
            None | Some("") => errs.push(FieldError::required(format!("{path}.protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(format!("{path}.protocol"), proto, &PROTOCOLS)),
            Some(_) => {}
        }
        for msg in port_num(i64::from(p.port)) {
            errs.push(FieldError::invalid(format!("{path}.port"), p.port, msg));
        }
        if let Some(n) = p.node_port.filter(|n| *n != 0) {
            if !matches!(kind, "NodePort" | "LoadBalancer") {
                errs.push(FieldError::forbidden(format!("{path}.nodePort"), "may not be used when `type` is 'ClusterIP'"));
            }
            for msg in port_num(i64::from(n)) {
                errs.push(FieldError::invalid(format!("{path}.nodePort"), n, msg));
            }
        }
        match &p.target_port {
            Some(IntOrString::Int(n)) => {
                for msg in port_num(i64::from(*n)) {
                    errs.push(FieldError::invalid(format!("{path}.targetPort"), *n, msg));
                }
            }
            Some(IntOrString::String(name)) => {
                for msg in port_name(name) {
                    errs.push(FieldError::invalid(format!("{path}.targetPort"), name, msg));
                }
            }
            None => {}
        }
    }
    labels(spec.selector.iter().flatten(), "spec.selector", &mut errs);
    match spec.session_affinity.as_deref() {
        None | Some("") => errs.push(FieldError::required("spec.sessionAffinity", "")),
        Some(a) if !AFFINITIES.contains(&a) => errs.push(FieldError::not_supported("spec.sessionAffinity", a, &AFFINITIES)),
        Some(_) => {}
    }
    if let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None")
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        errs.push(FieldError::invalid("spec.clusterIPs[0]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
    }
    if kind == "ExternalName" && spec.external_name.as_deref().unwrap_or_default().is_empty() {
        errs.push(FieldError::required("spec.externalName", ""));
    }
    errs
}
