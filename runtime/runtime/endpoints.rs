//! EndpointSlices and Endpoints of a Service, as Kubernetes' controllers
//! write them, from the pods the network finds behind it right now
//! (`net::EndpointRecord`). Pure: the records in, the objects out.
//!
//! As the controllers do, pods whose named target ports resolve alike
//! share a slice (a subset), so a Service whose `targetPort` name maps to
//! 8080 on some pods and 9090 on others has two; a Service with no pods
//! has one empty slice without ports, and Endpoints without subsets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints, ObjectReference, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::net::EndpointRecord;

/// The label that ties a slice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Pods grouped by the ports they resolve each Service port to: the port
/// list (name, number, protocol) and the pods.
fn by_ports<'a>(svc: &Service, records: &'a [EndpointRecord]) -> BTreeMap<Vec<(String, u16, String)>, Vec<&'a EndpointRecord>> {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    let mut groups: BTreeMap<Vec<(String, u16, String)>, Vec<&EndpointRecord>> = BTreeMap::new();
    for r in records {
        let resolved = ports
            .iter()
            .zip(&r.ports)
            .filter_map(|(p, target)| Some((p.name.clone().unwrap_or_default(), (*target)?, p.protocol.clone().unwrap_or_else(|| "TCP".into()))))
            .collect();
        groups.entry(resolved).or_default().push(r);
    }
    groups
}

fn pod_ref(svc: &Service, r: &EndpointRecord) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        name: Some(r.pod.clone()),
        namespace: svc.metadata.namespace.clone(),
        uid: Some(r.uid.clone()).filter(|u| !u.is_empty()),
        ..Default::default()
    }
}

/// A stable five-character suffix for a slice's name (Kubernetes draws a
/// random one from the same alphabet; a stable one names the same slice
/// in every answer).
fn suffix(key: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // FNV-1a: small, and stable across processes and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..5).map(|i| char::from(ALPHABET[((h >> (i * 8)) % ALPHABET.len() as u64) as usize])).collect()
}

fn meta(svc: &Service, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(labels),
        creation_timestamp: svc.metadata.creation_timestamp.clone(),
        owner_references: Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: svc.metadata.name.clone().unwrap_or_default(),
            uid: svc.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..Default::default()
    }
}

/// The EndpointSlices of `svc` given the pods behind it, on node `node`.
pub(crate) fn slices(svc: &Service, records: &[EndpointRecord], node: &str) -> Vec<EndpointSlice> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = svc.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
    labels.insert("endpointslice.kubernetes.io/managed-by".into(), "endpointslice-controller.k8s.io".into());
    let groups = by_ports(svc, records);
    if groups.is_empty() {
        return vec![EndpointSlice {
            metadata: meta(svc, format!("{name}-{}", suffix(&name)), labels),
            address_type: "IPv4".into(),
            endpoints: Vec::new(),
            ports: None,
        }];
    }
    groups
        .into_iter()
        .map(|(ports, pods)| {
            let key = format!("{name}/{ports:?}");
            EndpointSlice {
                metadata: meta(svc, format!("{name}-{}", suffix(&key)), labels.clone()),
                address_type: "IPv4".into(),
                endpoints: pods
                    .iter()
                    .map(|r| Endpoint {
                        addresses: vec![r.ip.to_string()],
                        conditions: Some(EndpointConditions { ready: Some(r.ready), serving: Some(r.serving), terminating: Some(r.terminating) }),
                        node_name: Some(node.to_owned()),
                        target_ref: Some(pod_ref(svc, r)),
                        ..Default::default()
                    })
                    .collect(),
                ports: Some(
                    ports
                        .into_iter()
                        .map(|(name, port, protocol)| EndpointPort {
                            name: Some(name),
                            port: Some(i32::from(port)),
                            protocol: Some(protocol),
                            app_protocol: None,
                        })
                        .collect(),
                ),
            }
        })
        .collect()
}

/// The Endpoints (core/v1) of `svc`: ready pods under `addresses`, the
/// others (but terminating ones) under `notReadyAddresses`.
pub(crate) fn endpoints(svc: &Service, records: &[EndpointRecord], node: &str) -> Endpoints {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let address = |r: &EndpointRecord| EndpointAddress {
        ip: r.ip.to_string(),
        node_name: Some(node.to_owned()),
        target_ref: Some(pod_ref(svc, r)),
        ..Default::default()
    };
    let subsets: Vec<EndpointSubset> = by_ports(svc, records)
        .into_iter()
        .filter_map(|(ports, pods)| {
            let ready: Vec<EndpointAddress> = pods.iter().filter(|r| r.ready).map(|r| address(r)).collect();
            let not_ready: Vec<EndpointAddress> = pods.iter().filter(|r| !r.ready && !r.terminating).map(|r| address(r)).collect();
            if ready.is_empty() && not_ready.is_empty() {
                return None;
            }
            Some(EndpointSubset {
                addresses: Some(ready).filter(|a| !a.is_empty()),
                not_ready_addresses: Some(not_ready).filter(|a| !a.is_empty()),
                ports: Some(
                    ports
                        .into_iter()
                        .map(|(name, port, protocol)| k8s_openapi::api::core::v1::EndpointPort {
                            name: Some(name).filter(|n| !n.is_empty()),
                            port: i32::from(port),
                            protocol: Some(protocol),
                            app_protocol: None,
                        })
                        .collect(),
                ),
            })
        })
        .collect();
    let labels = svc.metadata.labels.clone().unwrap_or_default();
    let mut meta = meta(svc, name, labels);
    meta.owner_references = None;
    Endpoints { metadata: meta, subsets: Some(subsets).filter(|s| !s.is_empty()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn svc() -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
        }))
        .unwrap()
    }

    fn pod(name: &str, last: u8, port: Option<u16>, ready: bool) -> EndpointRecord {
        EndpointRecord {
            pod: name.into(),
            uid: format!("uid-{name}"),
            hostname: name.into(),
            ip: Ipv4Addr::new(10, 88, 0, last),
            ready,
            serving: ready,
            terminating: false,
            ports: vec![port],
        }
    }

    #[test]
    fn pods_are_grouped_by_the_ports_they_resolve_to() {
        let records = [pod("a", 2, Some(8080), true), pod("b", 3, Some(9090), true), pod("c", 4, Some(8080), false), pod("d", 5, None, true)];
        let slices = slices(&svc(), &records, "node1");
        // a and c share 8080, b has 9090, d lacks the named port: a slice without ports.
        assert_eq!(slices.len(), 3);
        let names: std::collections::HashSet<&str> = slices.iter().map(|s| s.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(names.len(), 3, "each slice has its own name");
        assert!(slices.iter().all(|s| s.metadata.name.as_deref().unwrap().starts_with("web-")));
        let of = |port: i32| slices.iter().find(|s| s.ports.iter().flatten().any(|p| p.port == Some(port))).unwrap();
        let eighty = of(8080);
        assert_eq!(eighty.endpoints.iter().map(|e| e.addresses[0].as_str()).collect::<Vec<_>>(), ["10.88.0.2", "10.88.0.4"]);
        assert_eq!(eighty.endpoints[1].conditions.as_ref().unwrap().ready, Some(false));
        assert_eq!(eighty.endpoints[0].target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
        assert_eq!(eighty.metadata.labels.as_ref().unwrap()[SERVICE_NAME_LABEL], "web");
        assert_eq!(of(9090).endpoints.len(), 1);
        // The same pods give the same names again.
        assert_eq!(super::slices(&svc(), &records, "node1"), slices);

        let ep = endpoints(&svc(), &records, "node1");
        let subsets = ep.subsets.unwrap();
        let s8080 = subsets.iter().find(|s| s.ports.as_ref().unwrap().iter().any(|p| p.port == 8080)).unwrap();
        assert_eq!(s8080.addresses.as_ref().unwrap().len(), 1);
        assert_eq!(s8080.not_ready_addresses.as_ref().unwrap()[0].ip, "10.88.0.4");
    }

    #[test]
    fn a_service_without_pods_has_one_empty_slice_and_no_subsets() {
        let slices = slices(&svc(), &[], "n");
        assert_eq!(slices.len(), 1);
        assert!(slices[0].endpoints.is_empty() && slices[0].ports.is_none());
        assert!(endpoints(&svc(), &[], "n").subsets.is_none());
    }
}
