//! Services and NetworkPolicies: created from input files (`run`) before
//! their pods start. Services are
//! served by the cluster network (`net/service.rs`: ClusterIPs, endpoints,
//! DNS), and listed with the addresses they were given. What the kubelet
//! gives containers of them is `pod/service_env.rs`.

use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Error, Runtime};
use crate::net::{Protocol, ServicePort, ServiceSpec, TargetPort};

impl Runtime {
    /// Creates (or replaces) `svc`, defaulted and validated as
    /// `manifest::load_*` leave it; returns it as the API server would,
    /// with `spec.clusterIP`/`clusterIPs` set (a replaced Service keeps
    /// its address). ClusterIP and headless Services are served; other
    /// types, SCTP and IPv6 addresses are refused with what is missing.
    pub fn apply_service(&self, svc: &Service) -> Result<Service, Error> {
        let spec = service_spec(svc)?;
        let name = spec.name.clone();
        let key = (spec.namespace.clone(), name.clone());
        let ip = self.cluster.add_service(spec).map_err(|e| Error::Invalid { name: name.clone(), message: format!("Service \"{name}\" is invalid: {e}") })?;
        let mut out = svc.clone();
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let old = services.get(&key);
        out.metadata.uid = old.and_then(|o| o.metadata.uid.clone()).or_else(|| Some(uuid::Uuid::new_v4().to_string()));
        out.metadata.creation_timestamp = old.and_then(|o| o.metadata.creation_timestamp.clone()).or_else(|| Some(Time(jiff::Timestamp::now())));
        let s = out.spec.get_or_insert_with(Default::default);
        let address = ip.map_or_else(|| "None".to_owned(), |ip| ip.to_string());
        s.cluster_ip = Some(address.clone());
        s.cluster_ips = Some(vec![address]);
        s.ip_families = ip.map(|_| vec!["IPv4".to_owned()]);
        s.ip_family_policy.get_or_insert_with(|| "SingleStack".to_owned());
        services.insert(key, out.clone());
        Ok(out)
    }

    /// Deletes Service `namespace/name`; what it was, if it existed.
    pub fn delete_service(&self, namespace: &str, name: &str) -> Option<Service> {
        self.cluster.remove_service(namespace, name);
        self.services.lock().unwrap_or_else(|p| p.into_inner()).remove(&(namespace.to_owned(), name.to_owned()))
    }

    /// The endpoints of Service `namespace/name` now: the IP of each pod
    /// that serves it, with whether it is ready (an unready one serves
    /// only under `publishNotReadyAddresses`).
    pub fn service_endpoints(&self, namespace: &str, name: &str) -> Vec<(Ipv4Addr, bool)> {
        self.cluster.endpoints(namespace, name)
    }

    /// Creates (or replaces) a NetworkPolicy, defaulted and validated as
    /// `manifest::load_*` leave it: from now on every connection and
    /// datagram between pods, and out of the runtime, is checked against
    /// it (`net/policy.rs`).
    pub fn apply_network_policy(&self, policy: &k8s_openapi::api::networking::v1::NetworkPolicy) {
        self.cluster.add_network_policy(policy.clone());
    }

    /// Deletes NetworkPolicy `namespace/name`; whether it existed.
    pub fn delete_network_policy(&self, namespace: &str, name: &str) -> bool {
        self.cluster.remove_network_policy(namespace, name)
    }

    /// The Services of `namespace` (all namespaces: none), by namespace
    /// and name.
    pub fn services(&self, namespace: Option<&str>) -> Vec<Service> {
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services.iter().filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns)).map(|(_, s)| s.clone()).collect()
    }
}

/// What the network serves of `svc`.
fn service_spec(svc: &Service) -> Result<ServiceSpec, Error> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let unsupported = |field: &str, reason: String| Error::ServiceUnsupported { service: name.clone(), field: field.to_owned(), reason };
    let spec = svc.spec.clone().unwrap_or_default();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ClusterIP" => {}
        other => return Err(unsupported("spec.type", format!("{other} Services are not served yet (ClusterIP and headless ones are)"))),
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let cluster_ip = match spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None") {
        None => None,
        Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| unsupported("spec.clusterIP", format!("{ip}: only IPv4 ClusterIPs are served")))?),
    };
    let mut ports = Vec::new();
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            other => return Err(unsupported(&format!("spec.ports[{i}].protocol"), format!("{other} is not served (TCP and UDP are)"))),
        };
        let target = match &p.target_port {
            Some(IntOrString::String(s)) => TargetPort::Name(s.clone()),
            Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).unwrap_or(0)),
            None => TargetPort::Number(u16::try_from(p.port).unwrap_or(0)),
        };
        ports.push(ServicePort { name: p.name.clone().unwrap_or_default(), port: u16::try_from(p.port).unwrap_or(0), protocol, target });
    }
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        let secs = spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()).and_then(|c| c.timeout_seconds).unwrap_or(10800);
        Duration::from_secs(u64::try_from(secs).unwrap_or(10800))
    });
    Ok(ServiceSpec {
        namespace: svc.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        name: name.clone(),
        cluster_ip,
        headless,
        ports,
        selector: spec.selector.unwrap_or_default(),
        affinity,
        publish_not_ready: spec.publish_not_ready_addresses == Some(true),
    })
}
