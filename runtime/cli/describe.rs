//! `wasmpod describe pod NAME`: kubectl's description of a pod.

use std::fmt::Write;
use std::path::Path;

use clap::Args;
use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStatus, Event, Pod, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wasmpod::api::{event_age, human_duration};

use super::get::Table;
use super::remote::{Source, namespace, state_dir, tokio};
use super::{Exit, Failure};

#[derive(Args)]
pub(crate) struct DescribeArgs {
    /// The resource type: pod (or pods, po).
    #[arg(value_parser = ["pod", "pods", "po"])]
    kind: String,
    /// Pod names.
    #[arg(required = true)]
    names: Vec<String>,
    /// Namespace.
    #[arg(short, long)]
    namespace: Option<String>,
}

pub(crate) fn run(state: Option<&Path>, args: DescribeArgs) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    let ns = namespace(&args.namespace);
    tokio()?.block_on(async move {
        let source = Source::open(&state).await?;
        if !source.is_live() {
            eprintln!("wasmpod: no wasmpod process is running for state directory {}: describing recorded pods", state.display());
        }
        for (i, name) in args.names.iter().enumerate() {
            let pod = source.get(&ns, name).await?;
            let events = source.events(&ns, name).await.unwrap_or_default();
            // Only the process running the pod knows its IPC objects; an
            // ended pod has none (they go with it).
            let ipc = match super::remote::owner(&state, &ns, name).await {
                Ok((client, _)) => client.ipc_objects(&ns, name).await.ok(),
                Err(_) => Some(Vec::new()),
            };
            if i > 0 {
                println!();
            }
            print!("{}", describe(&pod, &events, ipc.as_deref(), jiff::Timestamp::now()));
        }
        Ok(Exit::Success)
    })
}

/// Go's RFC1123Z in local time, as kubectl prints times.
fn time(t: &Time) -> String {
    t.0.to_zoned(jiff::tz::TimeZone::system()).strftime("%a, %d %b %Y %H:%M:%S %z").to_string()
}

fn kv(out: &mut String, indent: usize, width: usize, key: &str, value: &str) {
    let label = format!("{key}:");
    let _ = writeln!(out, "{:indent$}{label:<width$}{value}", "");
}

/// `key:` with the first of `lines` beside it and the others below it in
/// the value column, or `<none>`, as kubectl's multiline printers do.
fn multiline(out: &mut String, width: usize, key: &str, lines: &[String]) {
    if lines.is_empty() {
        kv(out, 0, width, key, "<none>");
    }
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            kv(out, 0, width, key, line);
        } else {
            let _ = writeln!(out, "{:width$}{line}", "");
        }
    }
}

/// kubectl's `printLabelsMultiline`: `key=value`, in key order.
fn map_lines(out: &mut String, width: usize, key: &str, map: Option<&std::collections::BTreeMap<String, String>>) {
    let entries: Vec<String> = map.into_iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    multiline(out, width, key, &entries);
}

/// kubectl's `printTolerationsMultilineWithIndent`: by key, each as
/// `key[=value][:effect][ op=Exists][ for Ns]`.
fn toleration_lines(out: &mut String, width: usize, tolerations: &[Toleration]) {
    let mut sorted: Vec<&Toleration> = tolerations.iter().collect();
    sorted.sort_by(|a, b| a.key.as_deref().unwrap_or_default().cmp(b.key.as_deref().unwrap_or_default()));
    let lines: Vec<String> = sorted
        .into_iter()
        .map(|t| {
            let key = t.key.as_deref().unwrap_or_default();
            let value = t.value.as_deref().unwrap_or_default();
            let effect = t.effect.as_deref().unwrap_or_default();
            let mut line = key.to_owned();
            if !value.is_empty() {
                line.push_str(&format!("={value}"));
            }
            if !effect.is_empty() {
                line.push_str(&format!(":{effect}"));
            }
            // `operator: Exists` with no key and no effect tolerates everything.
            if t.operator.as_deref() == Some("Exists") && value.is_empty() {
                line.push_str(if key.is_empty() && effect.is_empty() { "op=Exists" } else { " op=Exists" });
            }
            if let Some(seconds) = t.toleration_seconds {
                line.push_str(&format!(" for {seconds}s"));
            }
            line
        })
        .collect();
    multiline(out, width, "Tolerations", &lines);
}

fn state_lines(out: &mut String, key: &str, state: Option<&ContainerState>) {
    let Some(s) = state else {
        kv(out, 4, 16, key, "");
        return;
    };
    if let Some(r) = &s.running {
        kv(out, 4, 16, key, "Running");
        kv(out, 6, 14, "Started", &r.started_at.as_ref().map(time).unwrap_or_default());
    } else if let Some(w) = &s.waiting {
        kv(out, 4, 16, key, "Waiting");
        kv(out, 6, 14, "Reason", w.reason.as_deref().unwrap_or_default());
        if let Some(m) = &w.message {
            kv(out, 6, 14, "Message", m);
        }
    } else if let Some(t) = &s.terminated {
        kv(out, 4, 16, key, "Terminated");
        kv(out, 6, 14, "Reason", t.reason.as_deref().unwrap_or_default());
        if let Some(m) = &t.message {
            kv(out, 6, 14, "Message", m);
        }
        kv(out, 6, 14, "Exit Code", &t.exit_code.to_string());
        kv(out, 6, 14, "Started", &t.started_at.as_ref().map(time).unwrap_or_default());
        kv(out, 6, 14, "Finished", &t.finished_at.as_ref().map(time).unwrap_or_default());
    } else {
        kv(out, 4, 16, key, "");
    }
}

fn container(out: &mut String, c: &Container, status: Option<&ContainerStatus>) {
    let _ = writeln!(out, "  {}:", c.name);
    kv(out, 4, 16, "Image", c.image.as_deref().unwrap_or_default());
    let ports: Vec<String> = c.ports.iter().flatten().map(|p| format!("{}/{}", p.container_port, p.protocol.as_deref().unwrap_or("TCP"))).collect();
    kv(out, 4, 16, "Port", &if ports.is_empty() { "<none>".into() } else { ports.join(", ") });
    kv(out, 4, 16, "Host Port", "<none>");
    for (key, list) in [("Command", &c.command), ("Args", &c.args)] {
        if let Some(items) = list.as_ref().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "    {key}:");
            for item in items {
                let _ = writeln!(out, "      {item}");
            }
        }
    }
    state_lines(out, "State", status.and_then(|s| s.state.as_ref()));
    if let Some(last) = status.and_then(|s| s.last_state.as_ref()).filter(|l| l.terminated.is_some() || l.waiting.is_some() || l.running.is_some()) {
        state_lines(out, "Last State", Some(last));
    }
    kv(out, 4, 16, "Ready", if status.is_some_and(|s| s.ready) { "True" } else { "False" });
    kv(out, 4, 16, "Restart Count", &status.map(|s| s.restart_count).unwrap_or(0).to_string());
    let resources = c.resources.as_ref();
    for (key, list) in [("Limits", resources.and_then(|r| r.limits.as_ref())), ("Requests", resources.and_then(|r| r.requests.as_ref()))] {
        let Some(list) = list.filter(|l| !l.is_empty()) else { continue };
        // kubectl aligns the values of each list with a tab writer.
        let width = list.keys().map(|k| k.len() + 3).max().unwrap_or(0);
        let _ = writeln!(out, "    {key}:");
        for (name, q) in list {
            let shown = wasmpod::manifest::parse_quantity(&q.0).map(|q| q.to_string()).unwrap_or_else(|_| q.0.clone());
            kv(out, 6, width, name, &shown);
        }
    }
    let env: Vec<String> = c
        .env
        .iter()
        .flatten()
        .map(|e| match (&e.value, &e.value_from) {
            (Some(v), _) => format!("{}:  {v}", e.name),
            (None, Some(from)) => {
                let src = if let Some(f) = &from.field_ref {
                    format!("({}:{})", f.api_version.as_deref().unwrap_or("v1"), f.field_path)
                } else if let Some(k) = &from.config_map_key_ref {
                    format!("<set to the key '{}' of config map '{}'>", k.key, k.name)
                } else if let Some(k) = &from.secret_key_ref {
                    format!("<set to the key '{}' in secret '{}'>", k.key, k.name)
                } else if let Some(r) = &from.resource_field_ref {
                    format!("{} ({})", r.resource, c.name)
                } else {
                    String::new()
                };
                format!("{}:  {src}", e.name)
            }
            (None, None) => format!("{}:  ", e.name),
        })
        .collect();
    if env.is_empty() {
        kv(out, 4, 16, "Environment", "<none>");
    } else {
        let _ = writeln!(out, "    Environment:");
        for e in env {
            let _ = writeln!(out, "      {e}");
        }
    }
    let mounts: Vec<String> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| format!("{} from {} ({})", m.mount_path, m.name, if m.read_only == Some(true) { "ro" } else { "rw" }))
        .collect();
    if mounts.is_empty() {
        kv(out, 4, 16, "Mounts", "<none>");
    } else {
        let _ = writeln!(out, "    Mounts:");
        for m in mounts {
            let _ = writeln!(out, "      {m}");
        }
    }
}

/// The whole description, as `kubectl describe pod` lays it out.
pub(crate) fn describe(pod: &Pod, events: &[Event], ipc: Option<&[wasmpod::IpcObject]>, now: jiff::Timestamp) -> String {
    let mut out = String::new();
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    kv(&mut out, 0, 18, "Name", pod.metadata.name.as_deref().unwrap_or_default());
    kv(&mut out, 0, 18, "Namespace", pod.metadata.namespace.as_deref().unwrap_or("default"));
    kv(&mut out, 0, 18, "Priority", &spec.priority.unwrap_or(0).to_string());
    kv(&mut out, 0, 18, "Service Account", spec.service_account_name.as_deref().unwrap_or("default"));
    let node = match (&spec.node_name, &status.host_ip) {
        (Some(n), Some(ip)) => format!("{n}/{ip}"),
        (Some(n), None) => n.clone(),
        _ => "<none>".into(),
    };
    kv(&mut out, 0, 18, "Node", &node);
    if let Some(t) = &status.start_time {
        kv(&mut out, 0, 18, "Start Time", &time(t));
    }
    map_lines(&mut out, 18, "Labels", pod.metadata.labels.as_ref());
    map_lines(&mut out, 18, "Annotations", pod.metadata.annotations.as_ref());
    let phase = status.phase.clone().unwrap_or_default();
    match &pod.metadata.deletion_timestamp {
        Some(t) if !matches!(phase.as_str(), "Succeeded" | "Failed") => {
            kv(&mut out, 0, 18, "Status", &format!("Terminating (lasts {})", human_duration(now.duration_since(t.0))));
            kv(&mut out, 0, 18, "Termination Grace Period", &format!("{}s", pod.metadata.deletion_grace_period_seconds.unwrap_or(0)));
        }
        _ => kv(&mut out, 0, 18, "Status", &phase),
    }
    if let Some(r) = &status.reason {
        kv(&mut out, 0, 18, "Reason", r);
    }
    if let Some(m) = &status.message {
        kv(&mut out, 0, 18, "Message", m);
    }
    kv(&mut out, 0, 18, "IP", status.pod_ip.as_deref().unwrap_or_default());
    let ips: Vec<String> = status.pod_ips.iter().flatten().map(|i| i.ip.clone()).collect();
    if ips.is_empty() {
        kv(&mut out, 0, 18, "IPs", "<none>");
    } else {
        let _ = writeln!(out, "IPs:");
        for ip in ips {
            let _ = writeln!(out, "  IP:  {ip}");
        }
    }
    let find = |list: &Option<Vec<ContainerStatus>>, name: &str| list.iter().flatten().find(|s| s.name == name).cloned();
    if let Some(init) = spec.init_containers.as_ref().filter(|l| !l.is_empty()) {
        let _ = writeln!(out, "Init Containers:");
        for c in init {
            container(&mut out, c, find(&status.init_container_statuses, &c.name).as_ref());
        }
    }
    let _ = writeln!(out, "Containers:");
    for c in &spec.containers {
        container(&mut out, c, find(&status.container_statuses, &c.name).as_ref());
    }
    let conditions: Vec<Vec<String>> = status.conditions.iter().flatten().map(|c| vec![c.type_.clone(), format!("{} ", c.status)]).collect();
    if !conditions.is_empty() {
        let _ = writeln!(out, "Conditions:");
        let mut rows = vec![vec!["Type".to_owned(), "Status".to_owned()]];
        rows.extend(conditions);
        let mut t = Table::new(&rows);
        for r in &rows {
            let _ = writeln!(out, "  {}", t.line(r));
        }
    }
    let volumes = spec.volumes.clone().unwrap_or_default();
    if volumes.is_empty() {
        kv(&mut out, 0, 18, "Volumes", "<none>");
    } else {
        let _ = writeln!(out, "Volumes:");
        for v in &volumes {
            let _ = writeln!(out, "  {}:", v.name);
            if let Some(e) = &v.empty_dir {
                kv(&mut out, 4, 12, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)");
                kv(&mut out, 4, 12, "Medium", e.medium.as_deref().unwrap_or_default());
                kv(&mut out, 4, 12, "SizeLimit", &e.size_limit.as_ref().map(|q| q.0.clone()).unwrap_or_else(|| "<unset>".into()));
            } else if let Some(c) = &v.config_map {
                kv(&mut out, 4, 12, "Type", "ConfigMap (a volume populated by a ConfigMap)");
                kv(&mut out, 4, 12, "Name", &c.name);
                kv(&mut out, 4, 12, "Optional", &c.optional.unwrap_or(false).to_string());
            } else if let Some(s) = &v.secret {
                kv(&mut out, 4, 12, "Type", "Secret (a volume populated by a Secret)");
                kv(&mut out, 4, 12, "SecretName", s.secret_name.as_deref().unwrap_or_default());
                kv(&mut out, 4, 12, "Optional", &s.optional.unwrap_or(false).to_string());
            } else if let Some(h) = &v.host_path {
                kv(&mut out, 4, 12, "Type", "HostPath (bare host directory volume)");
                kv(&mut out, 4, 12, "Path", &h.path);
                kv(&mut out, 4, 12, "HostPathType", h.type_.as_deref().unwrap_or_default());
            } else {
                kv(&mut out, 4, 12, "Type", "(a volume type wasmpod does not describe)");
            }
        }
    }
    // The pod's IPC namespace (wasmpod's; Kubernetes shows none).
    match ipc {
        None => kv(&mut out, 0, 18, "IPC Objects", "<unknown: the process running the pod did not answer>"),
        Some([]) => kv(&mut out, 0, 18, "IPC Objects", "<none>"),
        Some(objects) => {
            let _ = writeln!(out, "IPC Objects:");
            let mut rows = vec![["Kind", "Name", "Bytes", "Depth", "Capacity", "Max Message"].map(str::to_owned).to_vec()];
            for o in objects {
                let kind = match o.kind {
                    wasmpod::IpcObjectKind::Queue => "queue",
                    wasmpod::IpcObjectKind::Segment => "segment",
                };
                let queue_only = |v: u32| if o.kind == wasmpod::IpcObjectKind::Queue { v.to_string() } else { "-".into() };
                rows.push(vec![kind.into(), o.name.clone(), o.bytes.to_string(), queue_only(o.depth), queue_only(o.capacity), queue_only(o.max_message_size)]);
            }
            let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
            for r in rows {
                let line: Vec<String> = r.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect();
                let _ = writeln!(out, "  {}", line.join("  ").trim_end());
            }
        }
    }
    // Set when the pod is admitted; a record from an older wasmpod has
    // none, and a guess would be wrong as often as not.
    kv(&mut out, 0, 29, "QoS Class", status.qos_class.as_deref().unwrap_or_default());
    map_lines(&mut out, 29, "Node-Selectors", spec.node_selector.as_ref());
    toleration_lines(&mut out, 29, spec.tolerations.as_deref().unwrap_or_default());
    if events.is_empty() {
        kv(&mut out, 0, 29, "Events", "<none>");
    } else {
        let _ = writeln!(out, "Events:");
        let mut rows = vec![
            ["Type", "Reason", "Age", "From", "Message"].map(str::to_owned).to_vec(),
            ["----", "------", "----", "----", "-------"].map(str::to_owned).to_vec(),
        ];
        let mut sorted: Vec<&Event> = events.iter().collect();
        sorted.sort_by_key(|e| e.last_timestamp.as_ref().or(e.first_timestamp.as_ref()).map(|t| t.0));
        for e in sorted {
            rows.push(vec![
                e.type_.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                event_age(e, now),
                e.source.as_ref().and_then(|s| s.component.clone()).unwrap_or_default(),
                e.message.clone().unwrap_or_default(),
            ]);
        }
        // kubectl separates the event columns by two spaces.
        let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        for r in &rows {
            let mut line = String::from("  ");
            for (i, cell) in r.iter().enumerate() {
                if i == 4 {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_requests_are_listed_canonical_and_aligned_as_kubectl_does() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "app",
            "image": "alpine",
            "resources": {"limits": {"cpu": "0.5", "memory": "128Mi", "ephemeral-storage": "1G"}, "requests": {"cpu": "250m"}}
        }))
        .unwrap();
        let mut out = String::new();
        container(&mut out, &c, None);
        let expected = "    Restart Count:  0\n    Limits:\n      cpu:                500m\n      ephemeral-storage:  1G\n      memory:             128Mi\n    Requests:\n      cpu:  250m\n    Environment:";
        assert!(out.contains(expected), "{out}");
        let bare: Container = serde_json::from_value(serde_json::json!({"name": "app", "image": "alpine"})).unwrap();
        let mut out = String::new();
        container(&mut out, &bare, None);
        assert!(!out.contains("Limits") && !out.contains("Requests"), "{out}");
    }

    #[test]
    fn node_selectors_and_tolerations_are_listed_as_kubectl_does() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "containers": [{"name": "c", "image": "alpine"}],
                "nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"},
                "tolerations": [
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                    {"operator": "Exists"},
                    {"key": "example.com/flaky", "operator": "Exists"}
                ]
            }
        }))
        .unwrap();
        let out = describe(&pod, &[], Some(&[]), jiff::Timestamp::now());
        let expected = "\
Node-Selectors:              disk=ssd
                             kubernetes.io/os=linux
Tolerations:                 op=Exists
                             dedicated=gpu:NoSchedule
                             example.com/flaky op=Exists
                             node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                             node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
";
        assert!(out.contains(expected), "{out}");
        // Labels continue in their value column too.
        assert!(out.contains("Labels:           app=web\n                  tier=front\n"), "{out}");

        let bare: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "alpine"}]}})).unwrap();
        let out = describe(&bare, &[], Some(&[]), jiff::Timestamp::now());
        assert!(out.contains("Node-Selectors:              <none>\nTolerations:                 <none>\n"), "{out}");
    }

    #[test]
    fn the_qos_class_is_the_one_in_the_status() {
        let pod = |status: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "alpine"}]}, "status": status}))
                .unwrap()
        };
        let out = describe(&pod(serde_json::json!({"qosClass": "Guaranteed"})), &[], Some(&[]), jiff::Timestamp::now());
        assert!(out.contains("\nQoS Class:                   Guaranteed\n"), "{out}");
        let out = describe(&pod(serde_json::json!({})), &[], Some(&[]), jiff::Timestamp::now());
        assert!(out.contains("\nQoS Class:                   \n"), "{out}");
    }
}
