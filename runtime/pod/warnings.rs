//! Fields wasmpod parses but does not implement yet. Each one present in a
//! manifest becomes a visible warning, so nothing is silently ignored.
//! When a feature lands, its entry leaves this file.

use k8s_openapi::api::core::v1::{Container, Pod};

const NOT_YET: &str = "is not implemented by this wasmpod version and is ignored";

/// Warnings for every unimplemented field set in `pod`, with field paths,
/// in the form `pod "x": spec.containers[0].lifecycle is not implemented ...`.
pub fn unimplemented_fields(pod: &Pod) -> Vec<String> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let mut paths: Vec<String> = Vec::new();
    let Some(spec) = &pod.spec else { return Vec::new() };
    let flag = |paths: &mut Vec<String>, cond: bool, path: String| {
        if cond {
            paths.push(path);
        }
    };
    let p = &mut paths;
    flag(p, spec.host_ipc == Some(true), "spec.hostIPC".into());
    flag(p, spec.host_pid == Some(true), "spec.hostPID".into());
    flag(p, spec.readiness_gates.as_ref().is_some_and(|g| !g.is_empty()), "spec.readinessGates".into());
    flag(p, spec.share_process_namespace == Some(true), "spec.shareProcessNamespace".into());
    // Volumes: every source is either mounted (volume/) or refused before
    // the pod starts, so none is listed here.
    let lists = [("initContainers", spec.init_containers.as_deref().unwrap_or_default()), ("containers", &spec.containers[..])];
    for (list, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            container_fields(c, &format!("spec.{list}[{i}]"), &mut paths);
        }
    }
    let mut out: Vec<String> = paths.into_iter().map(|p| format!("pod \"{name}\": {p} {NOT_YET}")).collect();
    // securityContext is implemented (security/); what a wasm sandbox
    // cannot grant is said plainly instead of pretending.
    out.extend(crate::security::privilege_warnings(name, spec));
    out
}

fn container_fields(c: &Container, at: &str, out: &mut Vec<String>) {
    let mut flag = |cond: bool, field: &str| {
        if cond {
            out.push(format!("{at}.{field}"));
        }
    };
    // Probes run (probe/) and hooks run; a custom stop signal has no
    // meaning without signals.
    flag(c.lifecycle.as_ref().is_some_and(|l| l.stop_signal.is_some()), "lifecycle.stopSignal");
    // stdin is a pipe attach sessions write to (attach.rs); a tty is
    // stood in for by the API's line discipline.
    // There is one mount namespace per container and no host mounts to
    // propagate.
    flag(c.volume_mounts.iter().flatten().any(|m| m.mount_propagation.as_deref().is_some_and(|p| p != "None")), "volumeMounts[].mountPropagation");
    // Memory limits (limits/memory.rs) and CPU limits (limits/cpu.rs)
    // are enforced.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_unimplemented_field_with_its_path() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "securityContext": {"runAsUser": 42},
                "volumes": [{"name": "a", "emptyDir": {}}, {"name": "cm", "configMap": {"name": "x"}}],
                "containers": [{"name": "c", "image": "alpine", "readinessProbe": {"tcpSocket": {"port": 80}}, "lifecycle": {"preStop": {"exec": {"command": ["true"]}}, "stopSignal": "SIGUSR1"}}]
            }
        }))
        .unwrap();
        let w = unimplemented_fields(&pod);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(w[0], format!("pod \"p\": spec.containers[0].lifecycle.stopSignal {NOT_YET}"));
    }
}
