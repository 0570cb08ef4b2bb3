//! The columns `kubectl get pods` shows, computed as kubectl's printPod
//! does (pkg/printers/internalversion/printers.go): READY, STATUS,
//! RESTARTS and AGE are not fields of the Pod but derived from it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

/// One row of `get pods`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    /// The pod's name.
    pub name: String,
    /// `ready/total`, e.g. `1/1`.
    pub ready: String,
    /// `Running`, `Completed`, `Error`, `CrashLoopBackOff`, `Init:0/1`, `Terminating`, ...
    pub status: String,
    /// `N`, or `N (5s ago)` since the last container exit.
    pub restarts: String,
    /// Since creation, like `5m3s`.
    pub age: String,
    /// The pod IP, or `<none>`.
    pub ip: String,
    /// The node, or `<none>`.
    pub node: String,
}

/// The row of `pod` at time `now`.
pub fn pod_row(pod: &Pod, now: Timestamp) -> PodRow {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let is_sidecar = |name: &str| init_specs.iter().any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"));
    let mut total = spec.containers.len() + init_specs.iter().filter(|c| is_sidecar(&c.name)).count();
    if total == 0 {
        total = status.container_statuses.as_ref().map_or(0, Vec::len);
    }
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;
    let mut reason = status.reason.clone().unwrap_or_else(|| status.phase.clone().unwrap_or_default());

    let finished = |c: &k8s_openapi::api::core::v1::ContainerStatus| {
        c.last_state.as_ref().and_then(|l| l.terminated.as_ref()).and_then(|t| t.finished_at.as_ref()).map(|t| t.0)
    };
    let later = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };

    let mut initializing = false;
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += c.restart_count;
        last_restart = later(last_restart, finished(c));
        if is_sidecar(&c.name) {
            sidecar_restarts += c.restart_count;
            last_sidecar_restart = later(last_sidecar_restart, finished(c));
        }
        let state = c.state.clone().unwrap_or_default();
        match (&state.terminated, &state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if is_sidecar(&c.name) && c.started == Some(true) => {
                if c.ready {
                    ready += 1;
                }
                continue;
            }
            (Some(t), _) => {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => format!("Init:{r}"),
                    None if t.signal.unwrap_or(0) != 0 => format!("Init:Signal:{}", t.signal.unwrap_or(0)),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                };
            }
            (None, Some(w)) if w.reason.as_deref().is_some_and(|r| !r.is_empty() && r != "PodInitializing") => {
                reason = format!("Init:{}", w.reason.as_deref().unwrap_or_default());
            }
            _ => reason = format!("Init:{i}/{}", init_specs.len()),
        }
        initializing = true;
        break;
    }

    let initialized = status.conditions.iter().flatten().any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += c.restart_count;
            last_restart = later(last_restart, finished(c));
            let state = c.state.clone().unwrap_or_default();
            if let Some(r) = state.waiting.as_ref().and_then(|w| w.reason.clone()).filter(|r| !r.is_empty()) {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match t.reason.clone().filter(|r| !r.is_empty()) {
                    Some(r) => r,
                    None if t.signal.unwrap_or(0) != 0 => format!("Signal:{}", t.signal.unwrap_or(0)),
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let ready_condition = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if ready_condition { "Running".into() } else { "NotReady".into() };
        }
    }

    let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".into();
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now.duration_since(t))),
        _ => restarts.to_string(),
    };
    let age = pod.metadata.creation_timestamp.as_ref().map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now.duration_since(t.0)));
    let none = |s: Option<String>| s.filter(|s| !s.is_empty()).unwrap_or_else(|| "<none>".into());
    PodRow {
        name: pod.metadata.name.clone().unwrap_or_default(),
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
        age,
        ip: none(status.pod_ip.clone()),
        node: none(spec.node_name.clone()),
    }
}

/// The age of an object created at `created`, as kubectl shows it.
fn age(created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>, now: Timestamp) -> String {
    created.map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now.duration_since(t.0)))
}

/// `k=v,k2=v2`, or `<none>` (apimachinery's `labels.FormatLabels`).
fn format_labels(labels: Option<&std::collections::BTreeMap<String, String>>) -> String {
    let text = labels.iter().flat_map(|l| l.iter()).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    if text.is_empty() { "<none>".into() } else { text }
}

/// Up to three items, then ` + N more...` (kubectl's `listWithMoreString`).
fn at_most_three(items: Vec<String>) -> String {
    let more = items.len().saturating_sub(3);
    let shown = items.into_iter().take(3).collect::<Vec<_>>().join(",");
    if more > 0 { format!("{shown} + {more} more...") } else { shown }
}

/// The row of `get services`: NAME, TYPE, CLUSTER-IP, EXTERNAL-IP,
/// PORT(S), AGE, and with `-o wide` SELECTOR (kubectl's printService).
pub fn service_row(svc: &k8s_openapi::api::core::v1::Service, now: Timestamp, wide: bool) -> Vec<String> {
    let spec = svc.spec.clone().unwrap_or_default();
    let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    let cluster_ip = spec.cluster_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "<none>".into());
    let external_ips = spec.external_ips.clone().unwrap_or_default();
    let external = match kind.as_str() {
        "LoadBalancer" => {
            let mut ips: Vec<String> = svc
                .status
                .iter()
                .flat_map(|s| s.load_balancer.iter())
                .flat_map(|lb| lb.ingress.iter().flatten())
                .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
                .collect();
            ips.extend(external_ips);
            if ips.is_empty() { "<pending>".into() } else { ips.join(",") }
        }
        "ExternalName" => spec.external_name.clone().unwrap_or_default(),
        _ if !external_ips.is_empty() => external_ips.join(","),
        _ => "<none>".into(),
    };
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port.filter(|n| *n > 0) {
                Some(n) => format!("{}:{n}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    let ports = if ports.is_empty() { "<none>".to_owned() } else { ports.join(",") };
    let mut row = vec![svc.metadata.name.clone().unwrap_or_default(), kind, cluster_ip, external, ports, age(svc.metadata.creation_timestamp.as_ref(), now)];
    if wide {
        row.push(format_labels(spec.selector.as_ref()));
    }
    row
}

/// The row of `get endpointslices`: NAME, ADDRESSTYPE, PORTS, ENDPOINTS,
/// AGE (kubectl's printEndpointSlice).
pub fn endpoint_slice_row(slice: &k8s_openapi::api::discovery::v1::EndpointSlice, now: Timestamp) -> Vec<String> {
    let ports: Vec<String> =
        slice.ports.iter().flatten().map(|p| p.port.map(|n| n.to_string()).or_else(|| p.name.clone()).unwrap_or_else(|| "*".into())).collect();
    let ports = if ports.is_empty() { "<unset>".to_owned() } else { at_most_three(ports) };
    let addresses: Vec<String> = slice.endpoints.iter().flat_map(|e| e.addresses.iter().cloned()).collect();
    let endpoints = if addresses.is_empty() { "<none>".to_owned() } else { at_most_three(addresses) };
    vec![slice.metadata.name.clone().unwrap_or_default(), slice.address_type.clone(), ports, endpoints, age(slice.metadata.creation_timestamp.as_ref(), now)]
}

/// The row of `get endpoints`: NAME, ENDPOINTS (`ip:port` of the ready
/// addresses), AGE (kubectl's printEndpoints).
pub fn endpoints_row(ep: &k8s_openapi::api::core::v1::Endpoints, now: Timestamp) -> Vec<String> {
    let mut list = Vec::new();
    for subset in ep.subsets.iter().flatten() {
        let ports = subset.ports.clone().unwrap_or_default();
        for a in subset.addresses.iter().flatten() {
            if ports.is_empty() {
                list.push(a.ip.clone());
            }
            for p in &ports {
                list.push(format!("{}:{}", a.ip, p.port));
            }
        }
    }
    let text = if list.is_empty() { "<none>".to_owned() } else { at_most_three(list) };
    vec![ep.metadata.name.clone().unwrap_or_default(), text, age(ep.metadata.creation_timestamp.as_ref(), now)]
}

/// The row of `get networkpolicies`: NAME, POD-SELECTOR, AGE (kubectl's
/// printNetworkPolicy; the selector as `metav1.FormatLabelSelector` writes it).
pub fn network_policy_row(policy: &k8s_openapi::api::networking::v1::NetworkPolicy, now: Timestamp) -> Vec<String> {
    let selector = policy.spec.as_ref().and_then(|s| s.pod_selector.clone()).unwrap_or_default();
    let mut terms: Vec<String> = selector.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    let text = if terms.is_empty() { "<none>".to_owned() } else { terms.join(",") };
    vec![policy.metadata.name.clone().unwrap_or_default(), text, age(policy.metadata.creation_timestamp.as_ref(), now)]
}

/// A ConfigMap's row: NAME, DATA (keys of data and binaryData), AGE.
pub fn config_map_row(cm: &k8s_openapi::api::core::v1::ConfigMap, now: Timestamp) -> Vec<String> {
    let data = cm.data.as_ref().map_or(0, |d| d.len()) + cm.binary_data.as_ref().map_or(0, |d| d.len());
    vec![cm.metadata.name.clone().unwrap_or_default(), data.to_string(), age(cm.metadata.creation_timestamp.as_ref(), now)]
}

/// A Secret's row: NAME, TYPE, DATA, AGE.
pub fn secret_row(secret: &k8s_openapi::api::core::v1::Secret, now: Timestamp) -> Vec<String> {
    let data = secret.data.as_ref().map_or(0, |d| d.len());
    let kind = secret.type_.clone().unwrap_or_else(|| "Opaque".into());
    vec![secret.metadata.name.clone().unwrap_or_default(), kind, data.to_string(), age(secret.metadata.creation_timestamp.as_ref(), now)]
}

/// A ServiceAccount's row: NAME, SECRETS, AGE.
pub fn service_account_row(sa: &k8s_openapi::api::core::v1::ServiceAccount, now: Timestamp) -> Vec<String> {
    let secrets = sa.secrets.as_ref().map_or(0, |s| s.len());
    vec![sa.metadata.name.clone().unwrap_or_default(), secrets.to_string(), age(sa.metadata.creation_timestamp.as_ref(), now)]
}

/// A duration as kubectl shows ages (apimachinery's `duration.HumanDuration`):
/// `45s`, `3m12s`, `25m`, `5h3m`, `2d4h`, `400d`, `3y20d`.
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// The Age column of `describe`'s Events table: `21s`, or
/// `21s (x3 over 31s)` for an event seen several times.
pub fn event_age(event: &k8s_openapi::api::core::v1::Event, now: Timestamp) -> String {
    let since = |t: Option<Timestamp>| t.map_or_else(|| "<unknown>".to_owned(), |t| human_duration(now.duration_since(t)));
    let first = event.first_timestamp.as_ref().map(|t| t.0).or_else(|| event.event_time.as_ref().map(|t| t.0));
    let last = event.last_timestamp.as_ref().map(|t| t.0).or(first);
    match event.count {
        Some(n) if n > 1 => format!("{} (x{n} over {})", since(last), since(first)),
        _ => since(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_slice_endpoints_and_policy_rows_are_kubectl_s() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.2", "selector": {"app": "web", "tier": "f"},
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
        }))
        .unwrap();
        assert_eq!(service_row(&svc, now, true), ["web", "NodePort", "10.96.0.2", "<none>", "80:30080/TCP,53/UDP", "10m", "app=web,tier=f"]);
        let lb: k8s_openapi::api::core::v1::Service =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.3"}})).unwrap();
        assert_eq!(service_row(&lb, now, false)[3], "<pending>");
        let ext: k8s_openapi::api::core::v1::Service =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "example.com"}})).unwrap();
        assert_eq!(service_row(&ext, now, false)[2..5], ["<none>", "example.com", "<none>"]);
        let slice: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-abcde"}, "addressType": "IPv4", "ports": [{"port": 8080}],
            "endpoints": [{"addresses": ["10.88.0.2"]}, {"addresses": ["10.88.0.3"]}, {"addresses": ["10.88.0.4"]}, {"addresses": ["10.88.0.5"]}]
        }))
        .unwrap();
        assert_eq!(endpoint_slice_row(&slice, now)[1..4], ["IPv4", "8080", "10.88.0.2,10.88.0.3,10.88.0.4 + 1 more..."]);
        let empty: k8s_openapi::api::discovery::v1::EndpointSlice =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "e"}, "addressType": "IPv4", "endpoints": []})).unwrap();
        assert_eq!(endpoint_slice_row(&empty, now)[2..4], ["<unset>", "<none>"]);
        let ep: k8s_openapi::api::core::v1::Endpoints = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.88.0.2"}], "notReadyAddresses": [{"ip": "10.88.0.9"}], "ports": [{"port": 8080}]}]
        }))
        .unwrap();
        assert_eq!(endpoints_row(&ep, now)[1], "10.88.0.2:8080");
        let np: k8s_openapi::api::networking::v1::NetworkPolicy = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"}, "spec": {"podSelector": {"matchLabels": {"app": "db"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}}
        }))
        .unwrap();
        assert_eq!(network_policy_row(&np, now)[1], "app=db,env in (a,b)");
    }
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodCondition, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const NOW: &str = "2025-01-01T00:10:00Z";

    fn running() -> ContainerState {
        ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }
    }
    fn waiting(r: &str) -> ContainerState {
        ContainerState { waiting: Some(ContainerStateWaiting { reason: Some(r.into()), message: None }), ..Default::default() }
    }
    fn terminated(code: i32, r: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(r.into()).filter(|r: &String| !r.is_empty()),
                finished_at: Some(Time(ts("2025-01-01T00:09:55Z"))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
    fn cs(name: &str, state: ContainerState, ready: bool, restarts: i32) -> ContainerStatus {
        let last = (restarts > 0).then(|| terminated(1, "Error"));
        ContainerStatus { name: name.into(), state: Some(state), ready, restart_count: restarts, last_state: last, ..Default::default() }
    }

    /// A pod with containers `app` (and init containers `init`), given phase and statuses.
    fn pod(init: &[&str], app: &[&str], phase: &str, init_st: Vec<ContainerStatus>, app_st: Vec<ContainerStatus>, initialized: bool) -> Pod {
        let mut yaml = String::from("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n");
        for c in app {
            yaml.push_str(&format!("  - {{name: {c}, image: alpine}}\n"));
        }
        if !init.is_empty() {
            yaml.push_str("  initContainers:\n");
            for c in init {
                yaml.push_str(&format!("  - {{name: {c}, image: alpine}}\n"));
            }
        }
        let mut p = crate::manifest::load_str(&yaml, "t", crate::Validation::Strict).unwrap().pods.remove(0);
        p.metadata.creation_timestamp = Some(Time(ts("2025-01-01T00:05:00Z")));
        p.spec.as_mut().unwrap().node_name = Some("node1".into());
        let cond = PodCondition { type_: "Initialized".into(), status: if initialized { "True" } else { "False" }.into(), ..Default::default() };
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            init_container_statuses: (!init_st.is_empty()).then_some(init_st),
            container_statuses: Some(app_st),
            conditions: Some(vec![cond]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn status_column_like_kubectl() {
        let n = ts(NOW);
        let cases: Vec<(&str, Pod, &str, &str, &str)> = vec![
            ("running and ready", pod(&[], &["a"], "Running", vec![], vec![cs("a", running(), true, 0)], true), "1/1", "Running", "0"),
            ("creating", pod(&[], &["a"], "Pending", vec![], vec![cs("a", waiting("ContainerCreating"), false, 0)], true), "0/1", "ContainerCreating", "0"),
            ("completed", pod(&[], &["a"], "Succeeded", vec![], vec![cs("a", terminated(0, "Completed"), false, 0)], true), "0/1", "Completed", "0"),
            ("error", pod(&[], &["a"], "Failed", vec![], vec![cs("a", terminated(2, "Error"), false, 0)], true), "0/1", "Error", "0"),
            ("no reason: exit code", pod(&[], &["a"], "Failed", vec![], vec![cs("a", terminated(7, ""), false, 0)], true), "0/1", "ExitCode:7", "0"),
            (
                "crash loop with restarts",
                pod(&[], &["a"], "Running", vec![], vec![cs("a", waiting("CrashLoopBackOff"), false, 5)], true),
                "0/1",
                "CrashLoopBackOff",
                "5 (5s ago)",
            ),
            (
                "one completed, one running: not ready",
                pod(&[], &["a", "b"], "Running", vec![], vec![cs("a", terminated(0, "Completed"), false, 0), cs("b", running(), true, 0)], true),
                "1/2",
                "NotReady",
                "0",
            ),
            (
                "first init running",
                pod(
                    &["i1", "i2"],
                    &["a"],
                    "Pending",
                    vec![cs("i1", running(), false, 0), cs("i2", waiting("PodInitializing"), false, 0)],
                    vec![cs("a", waiting("PodInitializing"), false, 0)],
                    false,
                ),
                "0/1",
                "Init:0/2",
                "0",
            ),
            (
                "second init running",
                pod(
                    &["i1", "i2"],
                    &["a"],
                    "Pending",
                    vec![cs("i1", terminated(0, "Completed"), false, 0), cs("i2", running(), false, 0)],
                    vec![cs("a", waiting("PodInitializing"), false, 0)],
                    false,
                ),
                "0/1",
                "Init:1/2",
                "0",
            ),
            (
                "init failed",
                pod(&["i1"], &["a"], "Failed", vec![cs("i1", terminated(1, "Error"), false, 0)], vec![cs("a", waiting("PodInitializing"), false, 0)], false),
                "0/1",
                "Init:Error",
                "0",
            ),
            (
                "init crash loop",
                pod(
                    &["i1"],
                    &["a"],
                    "Pending",
                    vec![cs("i1", waiting("CrashLoopBackOff"), false, 2)],
                    vec![cs("a", waiting("PodInitializing"), false, 0)],
                    false,
                ),
                "0/1",
                "Init:CrashLoopBackOff",
                "2 (5s ago)",
            ),
            ("unknown phase keeps its name", pod(&[], &["a"], "Unknown", vec![], vec![cs("a", running(), true, 0)], true), "1/1", "Unknown", "0"),
        ];
        for (what, p, ready, status, restarts) in cases {
            let row = pod_row(&p, n);
            assert_eq!((row.ready.as_str(), row.status.as_str(), row.restarts.as_str()), (ready, status, restarts), "{what}");
            assert_eq!(row.age, "5m", "{what}");
            assert_eq!((row.ip.as_str(), row.node.as_str()), ("<none>", "node1"));
        }
        let mut deleting = pod(&[], &["a"], "Running", vec![], vec![cs("a", running(), true, 0)], true);
        deleting.metadata.deletion_timestamp = Some(Time(n));
        assert_eq!(pod_row(&deleting, n).status, "Terminating");
        let mut ended = pod(&[], &["a"], "Failed", vec![], vec![cs("a", terminated(137, "Error"), false, 0)], true);
        ended.metadata.deletion_timestamp = Some(Time(n));
        assert_eq!(pod_row(&ended, n).status, "Error", "a terminal pod is not Terminating");
    }

    #[test]
    fn ages_like_kubectl() {
        let s = jiff::SignedDuration::from_secs;
        for (secs, want) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (185, "3m5s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (50 * 3600, "2d2h"),
            (72 * 3600, "3d"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (3000 * 86400, "8y"),
        ] {
            assert_eq!(human_duration(s(secs)), want, "{secs}s");
        }
    }
}
