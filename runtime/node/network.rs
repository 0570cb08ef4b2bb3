//! The node's share of the cluster network: its kube-proxy and the pod
//! routes. Services and their EndpointSlices (all namespaces) are served
//! by the runtime's network at the cluster's ClusterIPs
//! ([`Runtime::serve_cluster_service`]); the other Nodes' podCIDRs are
//! pods reached through the host ([`Runtime::set_remote_pod_cidrs`]),
//! and with host-gw routing each gets a route through its node's
//! InternalIP (`routes.rs`).
//!
//! ```text
//! list + watch services, endpointslices --> per Service: spec + its slices --> Runtime
//! list + watch nodes --> other nodes' (podCIDR, InternalIP) --> Runtime, host routes
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;
use tokio::sync::mpsc;

use super::client::ApiClient;
use super::routes::{HostRoutes, Route};
use crate::Runtime;

/// What a list-and-watch of one resource saw.
#[derive(Debug)]
pub(super) enum Change {
    /// A (re)list: every object there is now.
    Listed(Vec<Value>),
    /// An object added or changed.
    Applied(Value),
    /// An object deleted.
    Deleted(Value),
}

/// Lists `path` and watches it from the list's version, again whenever
/// the watch ends or fails, sending each change to `out` tagged `kind`;
/// returns when `out` closes. A failing list is said once (until it
/// changes) and tried again in 2 s, or 30 s when it is forbidden.
pub(super) async fn reflect<K: Copy + Send + 'static>(api: ApiClient, path: String, kind: K, out: mpsc::Sender<(K, Change)>) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut said = String::new();
    loop {
        let list = match api.get(&path).await {
            Ok(l) => l,
            Err(e) => {
                let why = e.to_string();
                if why != said {
                    eprintln!("wasmpod node: listing {path}: {why}");
                    said = why;
                }
                let forbidden = super::client::is(&e, hyper::StatusCode::FORBIDDEN);
                tokio::time::sleep(Duration::from_secs(if forbidden { 30 } else { 2 })).await;
                continue;
            }
        };
        said.clear();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if out.send((kind, Change::Listed(items))).await.is_err() {
            return;
        }
        let version = list["metadata"]["resourceVersion"].as_str().unwrap_or_default();
        let watch = format!("{path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={version}");
        let mut events = match api.watch(&watch).await {
            Ok(w) => w,
            Err(e) => {
                eprintln!("wasmpod node: watching {path}: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(ev) = events.recv().await {
            let change = match ev["type"].as_str() {
                Some("ADDED" | "MODIFIED") => Change::Applied(ev["object"].clone()),
                Some("DELETED") => Change::Deleted(ev["object"].clone()),
                Some("ERROR") => break,
                _ => continue,
            };
            if out.send((kind, change)).await.is_err() {
                return;
            }
        }
    }
}

fn key(object: &Value) -> (String, String) {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// The Service an EndpointSlice belongs to (its `kubernetes.io/service-name` label).
fn owner(slice: &Value) -> Option<(String, String)> {
    let service = slice["metadata"]["labels"]["kubernetes.io/service-name"].as_str()?;
    Some((slice["metadata"]["namespace"].as_str().unwrap_or_default().to_owned(), service.to_owned()))
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Service,
    Slice,
}

/// The cluster's Services and EndpointSlices as last seen.
#[derive(Default)]
struct Proxy {
    services: HashMap<(String, String), Value>,
    slices: HashMap<(String, String), Value>,
}

/// Applies `change` to `table` (objects by namespace and name); every
/// object it touched, as it was before and as it is now.
fn apply_to(table: &mut HashMap<(String, String), Value>, change: Change) -> Vec<Value> {
    let mut touched = Vec::new();
    match change {
        Change::Listed(items) => {
            touched.extend(table.drain().map(|(_, o)| o));
            for o in items {
                touched.push(o.clone());
                table.insert(key(&o), o);
            }
        }
        Change::Applied(o) => {
            touched.extend(table.insert(key(&o), o.clone()));
            touched.push(o);
        }
        Change::Deleted(o) => {
            touched.extend(table.remove(&key(&o)));
            touched.push(o);
        }
    }
    touched
}

impl Proxy {
    /// Applies `change`; the Services whose endpoints or spec it touched.
    fn apply(&mut self, kind: Kind, change: Change) -> Vec<(String, String)> {
        let table = match kind {
            Kind::Service => &mut self.services,
            Kind::Slice => &mut self.slices,
        };
        let mut touched: Vec<(String, String)> = apply_to(table, change)
            .iter()
            .filter_map(|o| match kind {
                Kind::Service => Some(key(o)),
                Kind::Slice => owner(o),
            })
            .collect();
        touched.sort();
        touched.dedup();
        touched
    }

    /// Service `key` and its slices, if the Service is known.
    fn service(&self, key: &(String, String)) -> Option<(Service, Vec<EndpointSlice>)> {
        let svc: Service = serde_json::from_value(self.services.get(key)?.clone()).ok()?;
        let slices = self.slices.values().filter(|s| owner(s).as_ref() == Some(key)).filter_map(|s| serde_json::from_value(s.clone()).ok()).collect();
        Some((svc, slices))
    }
}

/// Serves the cluster's Services in `runtime` as they change, until the
/// task is dropped.
pub(super) async fn proxy(api: ApiClient, runtime: Arc<Runtime>) {
    let (tx, mut rx) = mpsc::channel(256);
    let services = tokio::spawn(reflect(api.clone(), "/api/v1/services".into(), Kind::Service, tx.clone()));
    let slices = tokio::spawn(reflect(api, "/apis/discovery.k8s.io/v1/endpointslices".into(), Kind::Slice, tx));
    let _abort = AbortOnDrop(vec![services, slices]);
    let mut proxy = Proxy::default();
    let mut refused: HashMap<(String, String), String> = HashMap::new();
    while let Some((kind, change)) = rx.recv().await {
        for key in proxy.apply(kind, change) {
            match proxy.service(&key) {
                Some((svc, slices)) => match runtime.serve_cluster_service(&svc, &slices) {
                    Ok(()) => drop(refused.remove(&key)),
                    Err(e) => {
                        // Said once per Service and reason.
                        let why = crate::error_text::full_message(&e);
                        if refused.get(&key) != Some(&why) {
                            eprintln!("wasmpod node: Service {}/{} is not served here: {why}", key.0, key.1);
                            refused.insert(key.clone(), why);
                        }
                        runtime.forget_cluster_service(&key.0, &key.1);
                    }
                },
                None => runtime.forget_cluster_service(&key.0, &key.1),
            }
        }
    }
}

/// Tasks aborted when this is dropped.
pub(super) struct AbortOnDrop(pub(super) Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Seen {
    Policy,
    Namespace,
    Pod,
}

/// Other nodes' pods by address, as NetworkPolicy peers: pods with an IP
/// of their own (not `hostNetwork`) bound to a node but `me`.
fn remote_pods(pods: &HashMap<(String, String), Value>, me: &str) -> HashMap<std::net::Ipv4Addr, crate::RemotePod> {
    let mut out = HashMap::new();
    for p in pods.values() {
        let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
        if node.is_empty() || node == me || p["spec"]["hostNetwork"] == true {
            continue;
        }
        let Some(ip) = p["status"]["podIP"].as_str().and_then(|ip| ip.parse().ok()) else { continue };
        let labels =
            p["metadata"]["labels"].as_object().map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()).unwrap_or_default();
        let ports = p["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|port| {
                let protocol = match port["protocol"].as_str().unwrap_or("TCP") {
                    "TCP" => crate::net::Protocol::Tcp,
                    "UDP" => crate::net::Protocol::Udp,
                    _ => return None,
                };
                Some((port["name"].as_str()?.to_owned(), u16::try_from(port["containerPort"].as_u64()?).ok()?, protocol))
            })
            .collect();
        out.insert(ip, crate::RemotePod { namespace: key(p).0, labels, ports });
    }
    out
}

/// Enforces the cluster's NetworkPolicies on the node's pods, with other
/// nodes' pods and the namespaces' labels for their peers; until the task
/// is dropped.
pub(super) async fn enforce_policies(api: ApiClient, runtime: Arc<Runtime>, me: String) {
    let (tx, mut rx) = mpsc::channel(256);
    let _abort = AbortOnDrop(vec![
        tokio::spawn(reflect(api.clone(), "/apis/networking.k8s.io/v1/networkpolicies".into(), Seen::Policy, tx.clone())),
        tokio::spawn(reflect(api.clone(), "/api/v1/namespaces".into(), Seen::Namespace, tx.clone())),
        tokio::spawn(reflect(api, "/api/v1/pods".into(), Seen::Pod, tx)),
    ]);
    let (mut policies, mut namespaces, mut pods) = (HashMap::new(), HashMap::new(), HashMap::new());
    while let Some(first) = rx.recv().await {
        // What arrived meanwhile is taken at once: the view is made once.
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut view_changed = false;
        for (seen, change) in batch {
            match seen {
                Seen::Policy => {
                    let touched: Vec<(String, String)> = apply_to(&mut policies, change).iter().map(key).collect();
                    for k in touched {
                        match policies.get(&k).and_then(|p| serde_json::from_value(p.clone()).ok()) {
                            Some(p) => runtime.serve_cluster_network_policy(&p),
                            None => runtime.forget_cluster_network_policy(&k.0, &k.1),
                        }
                    }
                }
                Seen::Namespace => view_changed |= !apply_to(&mut namespaces, change).is_empty(),
                Seen::Pod => view_changed |= !apply_to(&mut pods, change).is_empty(),
            }
        }
        if view_changed {
            let labels = namespaces
                .values()
                .map(|n| {
                    let l = n["metadata"]["labels"].as_object().map(|l| l.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect());
                    (key(n).1, l.unwrap_or_default())
                })
                .collect();
            runtime.set_cluster_view(remote_pods(&pods, &me), labels);
        }
    }
}

/// The other nodes' pod routes: (podCIDR, InternalIP) of each Node but
/// `me` that has both, by CIDR.
fn routes_of(nodes: &BTreeMap<String, Value>, me: &str) -> Vec<Route> {
    let mut out: Vec<Route> = nodes
        .iter()
        .filter(|(name, _)| name.as_str() != me)
        .filter_map(|(_, n)| {
            let cidr = n["spec"]["podCIDR"].as_str()?.to_owned();
            let via = n["status"]["addresses"].as_array()?.iter().find(|a| a["type"] == "InternalIP")?["address"].as_str()?.to_owned();
            Some(Route { cidr, via })
        })
        .collect();
    out.sort();
    out
}

/// Follows the cluster's Nodes: the other nodes' podCIDRs are remote pods
/// for `runtime`, and with `routes` each gets a host route through its
/// node; until the task is dropped.
pub(super) async fn follow_nodes(api: ApiClient, runtime: Arc<Runtime>, me: String, mut routes: Option<HostRoutes>) {
    let (tx, mut rx) = mpsc::channel(64);
    let _abort = AbortOnDrop(vec![tokio::spawn(reflect(api, "/api/v1/nodes".into(), (), tx))]);
    let mut nodes: BTreeMap<String, Value> = BTreeMap::new();
    let mut last: Option<Vec<Route>> = None;
    while let Some(((), change)) = rx.recv().await {
        match change {
            Change::Listed(items) => nodes = items.into_iter().map(|n| (key(&n).1, n)).collect(),
            Change::Applied(n) => drop(nodes.insert(key(&n).1, n)),
            Change::Deleted(n) => drop(nodes.remove(&key(&n).1)),
        }
        let now = routes_of(&nodes, &me);
        if last.as_ref() == Some(&now) {
            continue;
        }
        runtime.set_remote_pod_cidrs(&now.iter().map(|r| r.cidr.clone()).collect::<Vec<_>>());
        if let Some(r) = routes.as_mut() {
            r.sync(&now).await;
        }
        last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_slice_change_touches_its_service_and_a_relist_touches_what_went() {
        let mut p = Proxy::default();
        let svc = json!({"metadata": {"namespace": "default", "name": "web"}, "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}});
        let slice = json!({"metadata": {"namespace": "default", "name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.2.7"]}], "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]});
        let web = ("default".to_owned(), "web".to_owned());
        assert_eq!(p.apply(Kind::Service, Change::Listed(vec![svc])), vec![web.clone()]);
        assert_eq!(p.apply(Kind::Slice, Change::Applied(slice.clone())), vec![web.clone()]);
        let (s, slices) = p.service(&web).unwrap();
        assert_eq!(s.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.5"));
        assert_eq!(slices.len(), 1);
        assert_eq!(p.apply(Kind::Slice, Change::Listed(vec![])), vec![web.clone()], "a relist without the slice touches web");
        assert!(p.service(&web).unwrap().1.is_empty());
        assert_eq!(p.apply(Kind::Service, Change::Deleted(json!({"metadata": {"namespace": "default", "name": "web"}}))), vec![web.clone()]);
        assert!(p.service(&web).is_none());
    }

    #[test]
    fn routes_go_to_every_other_node_with_a_cidr_and_an_internal_ip() {
        let node = |name: &str, cidr: Option<&str>, ip: &str| {
            (
                name.to_owned(),
                json!({"metadata": {"name": name}, "spec": {"podCIDR": cidr}, "status": {"addresses": [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]}}),
            )
        };
        let nodes: BTreeMap<String, Value> =
            [node("a", Some("10.244.0.0/24"), "10.1.0.1"), node("b", Some("10.244.1.0/24"), "10.1.0.2"), node("c", None, "10.1.0.3")].into_iter().collect();
        assert_eq!(routes_of(&nodes, "a"), vec![Route { cidr: "10.244.1.0/24".into(), via: "10.1.0.2".into() }]);
    }
}
