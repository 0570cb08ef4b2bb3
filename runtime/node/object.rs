//! The objects a node writes, pure: its Node (labels, taint, capacity,
//! addresses, daemon endpoint, node info, conditions), its Lease, and a
//! pod's status as the cluster is told it.

use serde_json::{Value, json};

/// The label and taint that keep other pods off a wasmpod node and steer
/// wasm pods to it (through the `wasmpod` RuntimeClass of `examples/`).
pub const RUNTIME_LABEL: &str = "wasmpod.dev/runtime";

/// How long a Lease lasts; it is renewed every quarter of it, as the
/// kubelet does.
pub const LEASE_SECONDS: u64 = 40;

/// What a node says about itself.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// Its name (the Node's and the Lease's).
    pub name: String,
    /// The address the API server reaches it at.
    pub address: String,
    /// The port of its kubelet API.
    pub kubelet_port: u16,
    /// CPUs.
    pub cpus: usize,
    /// Memory, bytes.
    pub memory: u64,
    /// Pods it takes.
    pub pods: u32,
    /// wasmpod's version.
    pub version: String,
}

/// Kubernetes' `kubernetes.io/arch` for this build's architecture.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

/// The node's conditions at `now` (RFC 3339): Ready, and no pressure.
pub fn conditions(now: &str) -> Value {
    let c = |kind: &str, status: &str, reason: &str, message: &str| json!({"type": kind, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now});
    json!([
        c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        c("Ready", "True", "KubeletReady", "wasmpod node is posting ready status"),
    ])
}

/// The Node to register.
pub fn node(f: &NodeFacts, now: &str) -> Value {
    let capacity = json!({"cpu": f.cpus.to_string(), "memory": format!("{}Ki", f.memory / 1024), "pods": f.pods.to_string()});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f.name,
            "labels": {
                "kubernetes.io/hostname": f.name,
                "kubernetes.io/os": std::env::consts::OS,
                "kubernetes.io/arch": arch(),
                "beta.kubernetes.io/os": std::env::consts::OS,
                "beta.kubernetes.io/arch": arch(),
                "node.kubernetes.io/instance-type": "wasmpod",
                RUNTIME_LABEL: "true",
            },
        },
        "spec": {"taints": [{"key": RUNTIME_LABEL, "value": "true", "effect": "NoSchedule"}]},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": f.address}, {"type": "Hostname", "address": f.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": f.kubelet_port}},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": "", "osImage": format!("wasmpod {}", f.version),
                "containerRuntimeVersion": format!("wasmpod://{}", f.version),
                "kubeletVersion": format!("v{}-wasmpod", f.version),
                "kubeProxyVersion": "",
                "operatingSystem": std::env::consts::OS,
                "architecture": arch(),
            },
            "conditions": conditions(now),
            // Its kubelet API takes exec, attach and port-forward
            // WebSockets as they come (the same code as the control API's),
            // so the API server need not translate them to SPDY.
            "declaredFeatures": ["ExtendWebSocketsToKubelet"],
        },
    })
}

/// The node's Lease in `kube-node-lease`, renewed at `now_micro`
/// (MicroTime, `2006-01-02T15:04:05.000000Z`).
pub fn lease(name: &str, node_uid: Option<&str>, now_micro: &str) -> Value {
    let mut meta = json!({"name": name, "namespace": "kube-node-lease"});
    if let Some(uid) = node_uid {
        meta["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}]);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now_micro},
    })
}

/// A pod's status as wasmpod runs it, for the cluster: the node's
/// address as the host IP (wasmpod's own is the loopback).
pub fn pod_status(status: &Value, host_ip: &str) -> Value {
    let mut s = status.clone();
    if let Some(o) = s.as_object_mut() {
        o.insert("hostIP".into(), json!(host_ip));
        o.insert("hostIPs".into(), json!([{"ip": host_ip}]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_is_tainted_labelled_and_ready() {
        let f =
            NodeFacts { name: "wp-1".into(), address: "10.0.0.5".into(), kubelet_port: 10250, cpus: 2, memory: 8 << 30, pods: 1000, version: "0.1.0".into() };
        let n = node(&f, "2026-12-03T10:00:00Z");
        assert_eq!(n["metadata"]["labels"][RUNTIME_LABEL], "true");
        assert_eq!(n["spec"]["taints"][0]["effect"], "NoSchedule");
        assert_eq!(n["status"]["capacity"]["memory"], "8388608Ki");
        assert_eq!(n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let ready = n["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
        assert_eq!(ready["status"], "True");
        let l = lease("wp-1", Some("u"), "2026-12-03T10:00:00.000000Z");
        assert_eq!((l["spec"]["holderIdentity"].as_str(), l["metadata"]["ownerReferences"][0]["uid"].as_str()), (Some("wp-1"), Some("u")));
        let s = pod_status(&json!({"phase": "Running", "hostIP": "127.0.0.1"}), "10.0.0.5");
        assert_eq!((s["phase"].as_str(), s["hostIP"].as_str()), (Some("Running"), Some("10.0.0.5")));
    }
}
